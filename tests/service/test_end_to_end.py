"""The whole path through the web service: a job submitted with the SDK is taken from
``incoming/`` by the runner of ``wanflow serve`` (no Prefect deployment configured), produced
with the tiny models, published, and its files downloaded through the job's links; a job
cancelled while it runs is stopped and filed as failed, and the next one runs."""

from __future__ import annotations

import json
import time

import pytest

from tests.service.server import running_service
from wanflow.client import Client
from wanflow.video import probe


def _until_running(api, job_id: str, timeout_s: float = 300):
    """The job once the runner's flow run of it is under way (polled: the state is remote)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api.status(job_id)
        if job.state == "running" and job.flow_run_id:
            return job
        assert job.state == "queued", job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} never started")


@pytest.mark.slow
def test_a_job_submitted_with_the_sdk_is_produced_and_its_files_downloaded(
    s3_server, model_dir, tmp_path
):
    env = {
        "WANFLOW_MODEL_T2V": "tiny",
        "WANFLOW_MODEL_I2V": "tiny",
        "WANFLOW_MODEL_TI2V": "tiny",
        "WANFLOW_MODEL_DIR": str(model_dir),
        "WANFLOW_DEVICE": "cpu",
        # No OpenCLIP weights offline: the visual review holds every item for a person.
        "WANFLOW_AUTO_APPROVE": "true",
    }
    service = running_service(s3_server, tmp_path, ["--poll", "0.5"], env=env)
    try:
        assert "running submitted jobs in this process" in "".join(service.output)
        item = {"id": "lighthouse", "prompt": "海边的灯塔，夜晚", "seed": 3, "title": "灯塔"}
        long = [{"id": f"long-{i}", "prompt": f"漫长的旅程 {i}", "seed": i} for i in range(4)]
        with Client(service.url, service.tokens["submit"]) as api:
            doomed = api.submit(long)  # the runner takes the oldest first
            job = api.submit([item], idempotency_key="e2e")
            running = _until_running(api, doomed.id)
            cancelled = api.cancel(doomed.id)
            assert cancelled.action == "cancelling", cancelled
            assert cancelled.job.flow_run_id == running.flow_run_id
            ended = api.wait(doomed.id, timeout=300, progress=False)
            assert ended.state == "cancelled", ended.model_dump_json(indent=2)
            assert service.storage.exists(f"failed/api/{doomed.id}.json")
            assert not any(i.files for i in ended.items)
            done = api.wait(job.id, timeout=900, progress=True)
            assert done.state == "succeeded", done.model_dump_json(indent=2)
            assert done.flow_run_id and done.report_key
            assert done.manifest_key == f"processed/api/{job.id}.json"
            (outcome,) = done.items
            assert outcome.status == "published", outcome
            names = {f.name for f in outcome.files}
            assert {"video.mp4", "metadata.json", "subtitles.srt", "thumbnail.jpg"} <= names
            written = api.download(job.id, tmp_path / "out")
        folder = tmp_path / "out" / "lighthouse"
        assert sorted(p.name for p in written["lighthouse"]) == sorted(names)
        assert probe(folder / "video.mp4").frames > 0
        assert json.loads((folder / "metadata.json").read_text())["item_id"] == "lighthouse"
        report = json.loads(service.storage.get_bytes(done.report_key))
        assert report["flow_run_id"] == done.flow_run_id
    finally:
        output = service.stop()
    assert all(secret not in output for secret in service.tokens.values())
