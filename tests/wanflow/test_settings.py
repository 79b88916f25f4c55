"""Settings: environment, wanflow.toml, precedence, validation, secrets masked."""

from __future__ import annotations

import json
import logging
import os

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


@pytest.mark.parametrize(
    "toml",
    [
        's3_secret_key = ["hunter2-in-a-list", "x"]\n',
        's3_secret_key = {value = "hunter2-in-a-table"}\n',
        'callback_secret = ["hunter2-in-a-list"]\n',
        's3_bukket = "hunter2-in-a-typo"\n',
        's3_retries = "hunter2-in-a-number"\n',
    ],
)
def test_no_settings_error_echoes_the_value_it_refused(monkeypatch, tmp_path, toml):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wanflow.toml").write_text(toml)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(caught.value)


@pytest.mark.parametrize("name", ["WANFLOW_S3_SECRET_KEY", "WANFLOW_CALLBACK_SECRET"])
@pytest.mark.parametrize("value", ["", " ", "\t \n"])
def test_a_blank_secret_is_refused_by_name(monkeypatch, tmp_path, name, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=f"blank or only whitespace; set {name}"):
        Settings()


def test_the_cli_refuses_a_blank_or_listed_secret_with_exit_2_and_no_traceback(
    monkeypatch, tmp_path
):
    import subprocess
    import sys

    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANFLOW_")}
    cases = [
        ({"WANFLOW_S3_SECRET_KEY": ""}, None),
        ({"WANFLOW_S3_SECRET_KEY": " "}, None),
        ({}, 's3_secret_key = ["hunter2-listed"]\n'),
    ]
    for variables, toml in cases:
        if toml:
            (tmp_path / "wanflow.toml").write_text(toml)
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "storage", "ls"],
            env=env | variables | {"PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "s3_secret_key" in done.stderr and "Traceback" not in done.stderr
        assert "hunter2" not in done.stderr + done.stdout


def test_callback_allow_hosts_are_read_comma_separated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANFLOW_CALLBACK_ALLOW_HOSTS", " 127.0.0.1, Hooks.Internal ,[::1],")
    assert Settings().callback_allow_hosts == ["127.0.0.1", "hooks.internal", "::1"]
    monkeypatch.delenv("WANFLOW_CALLBACK_ALLOW_HOSTS")
    (tmp_path / "wanflow.toml").write_text('callback_allow_hosts = ["hooks.internal"]\n')
    assert Settings().callback_allow_hosts == ["hooks.internal"]
