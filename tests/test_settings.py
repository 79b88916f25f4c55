"""Settings: environment, wanflow.toml, precedence, validation, secrets masked."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from wanflow.settings import MASK, Settings


def test_defaults_need_no_configuration(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.s3_endpoint is None
    assert settings.s3_bucket == "wanflow"
    assert settings.hf_offline is True


def test_environment_and_toml_with_environment_winning(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wanflow.toml").write_text(
        's3_endpoint = "minio.internal:9000"\ns3_bucket = "from-toml"\ns3_secure = true\n'
        'device = "cuda"\n'
    )
    monkeypatch.setenv("WANFLOW_S3_BUCKET", "from-env")
    settings = Settings()
    assert settings.s3_endpoint == "minio.internal:9000"
    assert settings.s3_bucket == "from-env"
    assert settings.s3_secure is True
    assert settings.device == "cuda"


def test_config_file_named_by_variable(monkeypatch, tmp_path):
    path = tmp_path / "elsewhere.toml"
    path.write_text('s3_region = "cn-north-1"\n')
    monkeypatch.setenv("WANFLOW_CONFIG", str(path))
    assert Settings().s3_region == "cn-north-1"
    monkeypatch.setenv("WANFLOW_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.toml"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WANFLOW_S3_ENDPOINT", "http://minio:9000"),
        ("WANFLOW_DEVICE", "tpu"),
        ("WANFLOW_S3_RETRIES", "-1"),
        ("WANFLOW_PRESIGN_EXPIRY_S", "999999999"),
    ],
)
def test_invalid_values_are_refused_with_the_setting_named(monkeypatch, tmp_path, name, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.removeprefix("WANFLOW_").lower() in str(caught.value)


def test_unknown_toml_keys_are_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wanflow.toml").write_text('s3_bukket = "typo"\n')
    with pytest.raises(ValidationError, match="s3_bukket"):
        Settings()


def test_secrets_never_appear_in_repr_logs_or_public_dict(monkeypatch, tmp_path, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANFLOW_S3_SECRET_KEY", "hunter2-very-secret")
    settings = Settings()
    assert settings.s3_secret_key.get_secret_value() == "hunter2-very-secret"
    public = settings.public_dict()
    assert public["s3_secret_key"] == MASK
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    for text in (repr(settings), str(settings), json.dumps(public), caplog.text):
        assert "hunter2" not in text


def test_an_unset_secret_shows_as_unset_and_a_set_one_as_masked(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WANFLOW_CALLBACK_SECRET", raising=False)
    assert Settings().public_dict()["callback_secret"] is None  # missing, and visibly so
    monkeypatch.setenv("WANFLOW_CALLBACK_SECRET", "sign-with-this")
    public = Settings().public_dict()
    assert public["callback_secret"] == MASK and "sign-with-this" not in json.dumps(public)


def test_every_setting_is_documented_in_the_readme():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"WANFLOW_{name.upper()}" in readme, name
