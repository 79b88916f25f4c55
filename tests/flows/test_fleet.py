"""The GPU fleet with real processes: two ``wanflow gpu-worker`` processes serve one manifest's
shots through a real Prefect API and the real bucket; one is killed in the middle of a shot,
which then completes on the other; clean items publish while another item waits for a person."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from uuid import UUID

import pytest

from tests.conftest import ROOT, WANFLOW, lenient_review, published_ids

pytestmark = pytest.mark.slow

ITEMS = [  # draft: 20 steps a shot
    {"id": "lyra", "prompt": "天琴座", "seed": 5, "preset": "draft"},
    {"id": "cygnus", "prompt": "天鹅座", "seed": 6, "preset": "draft", "require_approval": True},
    {"id": "vega", "prompt": "织女星", "seed": 1, "preset": "draft"},
    {"id": "aquila", "prompt": "天鹰座", "seed": 7, "preset": "draft"},
]


def _wait_for(predicate, timeout_s: float, what: str, alive=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if alive is not None and not alive():
            raise AssertionError(f"gave up waiting for {what}: the run ended")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _prompt(item) -> str:
    return next(i["prompt"] for i in ITEMS if i["id"] == item.id)


def _report(storage) -> dict | None:
    found = [o.key for o in storage.list("reports/") if o.key.endswith(".json")]
    return json.loads(storage.get_bytes(found[0])) if found else None


@pytest.fixture
def fleet(prefect_api, wanflow_env, clip_checkpoint, monkeypatch, tmp_path):
    """Env for a remote fleet: fast heartbeats, a short staleness, held items wait."""
    from prefect.settings import PREFECT_API_URL

    lenient_review(monkeypatch, clip_checkpoint)  # clean items pass review on their own
    settings = {
        "WANFLOW_FLEET": "remote",
        "WANFLOW_WORKER_HEARTBEAT_S": "0.3",
        "WANFLOW_WORKER_STALE_S": "3",
        "WANFLOW_APPROVAL_TIMEOUT_S": "600",
        "WANFLOW_APPROVAL_POLL_S": "1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), COLUMNS="100")
    workers: list[subprocess.Popen] = []

    def start(name: str, *command: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*command, "--name", name], env=env, cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        workers.append(proc)
        return proc

    yield start, env
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_two_workers_share_a_manifest_survive_a_kill_and_publish_clean_items_first(
    fleet, storage, tmp_path
):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
    )

    from flows.produce_manifest import produce_manifest
    from wanflow.fleet import read_beats

    start, env = fleet
    marker = tmp_path / "gated"
    doomed = start("doomed", sys.executable, "-m", "tests.fleet_worker", "", str(marker))
    steady = start("steady", WANFLOW, "gpu-worker")
    _wait_for(lambda: {b.worker for b in read_beats(storage)} >= {"doomed", "steady"}, 180,
              "both workers' records")  # fmt: skip

    storage.put_bytes("incoming/fleet.json", json.dumps(ITEMS, ensure_ascii=False).encode())
    result: dict = {}

    def run() -> None:
        try:
            result["report"] = produce_manifest("incoming/fleet.json")
        except BaseException as exc:  # reported by the assertions below
            result["error"] = exc

    flow = threading.Thread(target=run, daemon=True)
    flow.start()
    # A shot has started on the doomed worker (which never finishes one): kill it mid-shot.
    _wait_for(marker.exists, 300, "a shot to start on the doomed worker", alive=flow.is_alive)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)

    # The run waits for a person about cygnus; by then the clean items are already published,
    # the killed worker's shots among them, rendered again by the steady worker.
    def waiting():
        report = _report(storage)
        return report if report and report["status"] == "running" else None

    interim = _wait_for(waiting, 300, "the run to wait for approval", alive=flow.is_alive)
    statuses = {i["id"]: i["status"] for i in interim["items"]}
    assert statuses == {
        "lyra": "published",
        "cygnus": "held",
        "vega": "published",
        "aquila": "published",
    }
    (held,) = [i for i in interim["items"] if i["id"] == "cygnus"]
    assert held["held_because"] == ["approval: the item requires it"]
    assert held["final"]["files"]["video.mp4"]  # composed first: the reviewer sees the video
    assert published_ids(storage) == {"lyra": 1, "vega": 1, "aquila": 1}

    decided = subprocess.run(
        [WANFLOW, "approvals", "decide", interim["flow_run_id"], "--approve", "cygnus",
         "--reviewer", "cy"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    flow.join(timeout=300)
    assert not flow.is_alive() and "error" not in result, result
    report = result["report"]
    assert report.status == "succeeded", report.error
    assert [i.status for i in report.items] == ["published"] * 4
    assert published_ids(storage) == {"lyra": 1, "cygnus": 1, "vega": 1, "aquila": 1}

    # Drained, the steady worker's last record is final: it loaded the model once.
    steady.send_signal(signal.SIGTERM)
    assert steady.wait(timeout=120) == 0
    beats = {b.worker: b for b in read_beats(storage)}
    assert beats["steady"].stopping and beats["steady"].loads == {"tiny-ti2v-5b": 1}
    assert beats["steady"].shots >= 2
    assert sum(beats["doomed"].loads.values()) <= 1

    # The killed worker's shot: forced Crashed (Prefect would leave it RUNNING), sent again.
    killed = marker.read_text(encoding="utf-8")  # the prompt of the shot it died in
    (victim,) = [i for i in report.items if i.clips and i.plan_key and _prompt(i) in killed]
    assert any("worker doomed stopped answering" in w for w in victim.warnings), victim.warnings
    with get_client(sync_client=True) as client:
        runs = [t for t in client.read_task_runs(limit=200) if t.name.startswith("render-")]
        shown = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                type=ArtifactFilterType(any_=["progress"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(report.flow_run_id)]),
            )
        )
    crashed = [t for t in runs if t.state.name == "Crashed" and "doomed" in t.state.message]
    assert crashed
    # The run's progress across the fleet reached every shot.
    assert any(a.data == 100.0 and "GPU fleet" in (a.description or "") for a in shown)
