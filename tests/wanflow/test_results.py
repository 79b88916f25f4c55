"""Prefect's results and background-task parameters in the bucket (wanflow/results.py): a real
task worker process and a flow in this one exchange them through the session's S3 server, with
the credentials only in each process's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect import flow, task

from wanflow.results import (
    RESULTS_BLOCK,
    RESULTS_BLOCK_SLUG,
    RESULTS_PREFIX,
    block_settings,
    bucket_results,
    ensure_results_block,
    results_basepath,
    results_env,
    use_bucket_results,
)
from wanflow.settings import Settings

# Not tests.conftest: the worker process imports this module to find the task it serves, and
# conftest would clear its WANFLOW_* settings.
ROOT = Path(__file__).resolve().parents[2]
AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE")

# What the worker process runs: Prefect imported first, then the settings applied.
WORKER = """
import os, sys
sys.path.insert(0, "tests/wanflow")
import prefect
from prefect.settings import get_current_settings

os.environ["PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK"] = "remote-file-system/elsewhere"
ignored = get_current_settings().tasks.scheduling.default_storage_block
del os.environ["PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK"]

from wanflow.results import use_bucket_results
from wanflow.settings import Settings

use_bucket_results(Settings())
now = get_current_settings()
print("settings", ignored, now.tasks.scheduling.default_storage_block,
      now.results.default_storage_block, now.results.persist_by_default, flush=True)

from prefect.task_worker import serve
from test_results import shout

serve(shout, limit=1)
"""


@task(refresh_cache=True)
def shout(word: str) -> dict:
    return {"word": word.upper(), "pid": os.getpid()}


@flow
def dispatch(word: str) -> str:
    """Hands ``word`` to a task worker; the task run's id."""
    return str(shout.delay(word).task_run_id)


@pytest.fixture
def no_aws_credentials(monkeypatch):
    """Neither the machine's AWS variables nor the ones a test exports leak between tests."""
    saved = {name: os.environ.get(name) for name in AWS}
    for name in AWS:
        monkeypatch.delenv(name, raising=False)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_the_block_holds_the_endpoint_and_no_credential():
    settings = Settings(s3_endpoint="minio.internal:9000", s3_secure=True, s3_bucket="b")
    assert block_settings(settings) == {
        "client_kwargs": {"endpoint_url": "https://minio.internal:9000", "region_name": "us-east-1"}
    }
    assert RESULTS_PREFIX == "work/prefect-results/"
    assert results_env() == {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": "remote-file-system/wanflow-results",
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": "remote-file-system/wanflow-results",
    }
    with pytest.raises(ValueError, match="WANFLOW_S3_ENDPOINT is not set"):
        block_settings(Settings())


def _block_document() -> dict:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            RESULTS_BLOCK, block_type_slug="remote-file-system", include_secrets=True
        )
    return document.data


@pytest.mark.slow
def test_the_block_is_made_once_and_loses_credentials_someone_saved(prefect_api, wanflow_env):
    from prefect.filesystems import RemoteFileSystem

    settings = Settings()
    secret = settings.s3_secret_key.get_secret_value()
    leaky = {"key": settings.s3_access_key, "secret": secret, **block_settings(settings)}
    RemoteFileSystem(basepath="s3://old/place", settings=leaky).save(RESULTS_BLOCK, overwrite=True)

    assert ensure_results_block(settings) == "updated"
    assert ensure_results_block(settings) == "unchanged"
    data = _block_document()
    assert data == {
        "basepath": f"s3://{settings.s3_bucket}/work/prefect-results",
        "settings": {
            "client_kwargs": {
                "endpoint_url": f"http://{settings.s3_endpoint}",
                "region_name": "us-east-1",
            }
        },
    }
    assert secret not in json.dumps(data)


@pytest.mark.slow
def test_use_bucket_results_refuses_where_temporary_settings_would_hide_it(prefect_api):
    # The harness's own temporary_settings are in effect in this thread.
    with pytest.raises(RuntimeError, match="bucket_results"):
        use_bucket_results(Settings(s3_endpoint="127.0.0.1:1"))


def _stored(storage, key: str):
    from prefect.results import ResultRecord

    return ResultRecord.deserialize(storage.get_bytes(key)).result


@pytest.mark.slow
def test_a_task_worker_process_and_a_flow_exchange_everything_through_the_bucket(
    prefect_api, wanflow_env, storage, no_aws_credentials, tmp_path
):
    from prefect.futures import PrefectDistributedFuture
    from prefect.settings import PREFECT_API_URL

    settings = Settings()
    secret = settings.s3_secret_key.get_secret_value()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env |= {"PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_HOME": str(tmp_path / "home")}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        word = f"hello-{uuid.uuid4().hex[:8]}"
        with bucket_results(settings):
            task_run_id = dispatch(word)
            future = PrefectDistributedFuture(task_run_id=uuid.UUID(task_run_id))
            # The run waits in the server's queue until the worker takes it; a worker that
            # died instead ends the wait.
            for _ in range(120):
                future.wait(timeout=1)
                if future.state.is_final() or worker.poll() is not None:
                    break
            assert future.state.is_completed(), (future.state, log.read_text()[-4000:])
            result = future.result()
            where = future.state.data.storage_key  # the worker's record of where it wrote
    finally:
        worker.kill()
        worker.wait(timeout=30)
    from prefect.settings import get_current_settings

    assert get_current_settings().tasks.scheduling.default_storage_block is None  # restored

    assert result["word"] == word.upper()
    assert result["pid"] == worker.pid  # rendered in the worker process, not here
    facts = next(line for line in log.read_text().splitlines() if line.startswith("settings "))
    # Set after `import prefect`, a PREFECT_* variable was ignored; use_bucket_results was not.
    assert facts.split()[1:] == ["None", RESULTS_BLOCK_SLUG, RESULTS_BLOCK_SLUG, "True"]

    stored = sorted(o.key for o in storage.list(RESULTS_PREFIX))
    parameters = [k for k in stored if k.startswith(f"{RESULTS_PREFIX}parameters/")]
    results = [k for k in stored if k not in parameters]
    assert len(parameters) == 1, stored
    assert _stored(storage, parameters[0])["parameters"] == {"word": word}
    # The task's result, which the worker wrote; the other, the flow's, this process wrote.
    assert where.startswith(f"s3://{storage.bucket}/{RESULTS_PREFIX}")
    assert len(results) == 2 and where.split("/", 3)[3] in results, (where, stored)
    assert _stored(storage, where.split("/", 3)[3]) == result
    # The block names no credential, and none travelled with the task's parameters.
    assert secret not in json.dumps(_block_document())
    assert secret not in json.dumps(_stored(storage, parameters[0]), default=str)
    assert os.environ["AWS_ACCESS_KEY_ID"] == settings.s3_access_key  # exported for s3fs


def test_a_process_follows_the_block_when_it_is_re_pointed(prefect_api, wanflow_env):
    """Prefect keeps a loaded default storage for the life of the process: without forgetting
    it, results would go on to the bucket the block named when first used here."""
    from prefect.results import get_default_result_storage

    settings = Settings()
    elsewhere = settings.model_copy(update={"s3_bucket": "some-other-bucket"})
    with bucket_results(elsewhere):
        assert get_default_result_storage().basepath == results_basepath(elsewhere)
    with bucket_results(settings):
        assert get_default_result_storage().basepath == results_basepath(settings)
