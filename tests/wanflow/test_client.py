"""The SDK against a running ``wanflow serve`` (no runner: jobs stay queued until cancelled)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import EXAMPLES
from tests.service.server import running_service
from wanflow.client import (
    ApiError,
    Client,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unauthorized,
)
from wanflow.jobs import Cancellation, Job, JobPage

ITEM = {"id": "harbour", "prompt": "清晨的港口", "seed": 7}


@pytest.fixture(scope="module")
def service(s3_server, tmp_path_factory):
    running = running_service(
        s3_server, tmp_path_factory.mktemp("sdk"), ["--no-runner", "--max-body-mb", "0.05"]
    )
    yield running
    running.stop()


def _client(service, scope: str) -> Client:
    return Client(service.url, service.tokens[scope], timeout=60)


def test_submit_status_list_and_cancel_return_typed_results(service):
    with _client(service, "submit") as api:
        job = api.submit([ITEM], idempotency_key="sdk-1")
        assert isinstance(job, Job) and job.state == "queued" and job.items_total == 1
        assert api.submit([ITEM], idempotency_key="sdk-1").id == job.id
        assert api.status(job.id).manifest_key == f"incoming/api/{job.id}.json"
        page = api.page(limit=1)
        assert isinstance(page, JobPage) and len(page.jobs) == 1
        assert job.id in {j.id for j in api.jobs()}
        cancelled = api.cancel(job.id)
        assert isinstance(cancelled, Cancellation) and cancelled.action == "removed"
        ended = api.wait(job.id, timeout=30, progress=False)
        assert ended.state == "cancelled" and ended.done
        assert api.download(job.id, service.home / "nothing") == {}
        assert api.health()["status"] == "ok"
        assert api.ready()["checks"]["prefect"] == "ok"


def test_manifest_files_are_sent_as_they_are(service, tmp_path):
    with _client(service, "submit") as api:
        job = api.submit(EXAMPLES / "constellations.csv")
        assert job.manifest_key.endswith(".csv") and job.items_total == 4
        stored = service.storage.get_bytes(job.manifest_key)
        assert stored == (EXAMPLES / "constellations.csv").read_bytes()
        manifest = tmp_path / "one.json"
        manifest.write_text(json.dumps({"items": [ITEM]}), encoding="utf-8")
        assert api.submit(manifest).manifest_key.endswith(".json")
        with pytest.raises(ValueError, match=r"\.json, \.csv or \.jsonl"):
            api.submit(tmp_path / "notes.txt")


def test_waiting_gives_up_at_the_timeout(service):
    with _client(service, "submit") as api:
        job = api.submit([ITEM])
        with pytest.raises(TimeoutError, match="queued"):
            api.wait(job.id, timeout=0, progress=True)
        api.cancel(job.id)


def test_api_errors_raise_the_class_of_their_status(service):
    with _client(service, "submit") as api:
        with pytest.raises(Invalid) as invalid:
            api.submit([ITEM, {"id": "no-prompt", "seed": 1}])
        assert invalid.value.code == "invalid_rows"
        assert [r["id"] for r in invalid.value.rejected] == ["no-prompt"]
        with pytest.raises(TooLarge):
            api.submit([{"prompt": "长" * 2000, "seed": i} for i in range(20)])
        api.submit([ITEM], idempotency_key="sdk-2")
        with pytest.raises(Conflict) as conflict:
            api.submit([{**ITEM, "seed": 8}], idempotency_key="sdk-2")
        assert conflict.value.status == 409 and conflict.value.code == "idempotency_conflict"
        with pytest.raises(NotFound):
            api.status("20990101T000000Z-000000000000")
    with _client(service, "read") as reader, pytest.raises(Forbidden):
        reader.submit([ITEM])
    secret = service.tokens["read"]
    forged = Client(service.url, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with forged, pytest.raises(Unauthorized) as unauthorized:
        forged.jobs().__next__()
    assert isinstance(unauthorized.value, ApiError) and secret not in str(unauthorized.value)
    assert secret not in repr(forged)
