"""GPU workers with the real parts: a real Prefect API, the real bucket, tiny models on the CPU.
A ``wanflow gpu-worker`` process renders shots delayed from a flow in this one and drains on
SIGTERM; a worker lists the run it has received while busy; the embedded worker takes a shot
dispatched before it subscribed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from tests.conftest import WANFLOW
from tests.generation.test_generate import request
from wanflow.fleet import WorkerBeat, beat_key


def _wait_for(predicate, timeout_s: float, what: str):
    """Poll ``predicate`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _record(storage, worker: str) -> WorkerBeat | None:
    key = beat_key(worker)
    if not storage.exists(key):
        return None
    return WorkerBeat.model_validate_json(storage.get_bytes(key))


def _job(seed: int, item: str = "fleet"):
    from generation.clips import ClipJob

    return ClipJob(item_id=item, shot=seed, model="tiny", request=request(seed=seed, steps=2))


def _api_url() -> str:
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url)


def _tail(path) -> str:
    return path.read_text(errors="replace")[-4000:]


@pytest.mark.slow
def test_a_gpu_worker_process_renders_delayed_shots_loading_once_and_drains_on_sigterm(
    prefect_api, wanflow_env, storage, tmp_path
):
    from prefect import flow

    from wanflow.results import bucket_results
    from wanflow.settings import Settings

    env = {
        **os.environ,
        **wanflow_env,
        "PREFECT_API_URL": _api_url(),
        "WANFLOW_WORKER_HEARTBEAT_S": "1",
        "OMP_NUM_THREADS": "1",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:  # a file: a full pipe nobody reads would stall the worker
        worker = subprocess.Popen(
            [WANFLOW, "gpu-worker", "--serve", "t2v", "--name", "w1"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for(lambda: "ready: w1" in log.read_text() or worker.poll() is not None, 300, "ready")
        assert worker.poll() is None, _tail(log)
        assert "ready: w1 serves t2v on cpu" in log.read_text()
        ready = _record(storage, "w1")  # written before the line is printed
        assert ready.serves == ["t2v"] and not ready.stopping and ready.pid == worker.pid

        # The flow travels to the worker with each run (pickled): nothing of this test module
        # may be in it, since the worker cannot import tests.
        @flow
        def two_shots(jobs):
            from tasks.fleet import render_t2v

            futures = [render_t2v.delay(job, 1) for job in jobs]
            return [f.result(timeout=300) for f in futures]

        with bucket_results(Settings()):  # parameters and results where the worker is
            records = two_shots([_job(1), _job(2)])
        assert [r.shot for r in records] == [1, 2] and not any(r.cached for r in records)
        assert all(storage.exists(r.key) and r.model == "tiny" for r in records)
        assert sorted(r.load_s > 0 for r in records) == [False, True]  # loaded for one
        assert len(list(storage.list("work/prefect-results/parameters/"))) == 2

        done = _wait_for(
            lambda: (r := _record(storage, "w1")) and r.shots == 2 and not r.running and r,
            60,
            "w1's record of two shots",
        )
        assert done.loads == {"tiny": 1} and done.resident == ["tiny"]
        assert done.busy_s > 0 and done.waiting == [] and done.seq > ready.seq

        listed = subprocess.run(
            [WANFLOW, "fleet", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert listed.returncode == 0, listed.stderr
        (row,) = [r for r in json.loads(listed.stdout) if r["worker"] == "w1"]
        assert row["shots"] == 2 and row["loads"] == {"tiny": 1} and row["age_s"] >= 0
        table = subprocess.run(
            [WANFLOW, "fleet"], env=env, capture_output=True, text=True, timeout=120
        )
        assert table.returncode == 0 and "w1" in table.stdout and "tiny×1" in table.stdout

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0, _tail(log)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    final = _record(storage, "w1")
    assert final.stopping and final.running == [] and final.waiting == [] and final.shots == 2
    assert "w1 stopped after 2 shot(s)" in log.read_text()
    assert wanflow_env["WANFLOW_S3_SECRET_KEY"] not in log.read_text()
    stopped = subprocess.run(
        [WANFLOW, "fleet"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "stopped" in stopped.stdout


class _Gate:
    """A stand-in renderer whose first shot waits at a gate the test opens (the test, not
    timing, decides when it ends); later shots pass."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self.shots: list[int] = []

    def __call__(self, settings) -> _Gate:
        return self

    def render(self, spec, request, progress=None):
        from generation.render import Rendered

        self.shots.append(request.seed)
        if len(self.shots) == 1:
            self.entered.set()
            assert self.open.wait(300), "the gate was never opened"
        frames = np.zeros((9, 64, 64, 3), np.float32)
        return Rendered(
            frames=frames, fps=16, model=spec.name, device="cpu", dtype="float32",
            plan="cpu", speed="stand-in", experts=[], load_s=0.0, encode_s=0.0, step_s=0.0,
            decode_s=0.0, total_s=0.0, width=64, height=64,
        )  # fmt: skip


@pytest.mark.slow
def test_a_busy_worker_takes_no_second_shot_and_a_drain_strands_none(
    prefect_api, wanflow_env, storage, monkeypatch
):
    """Prefect's own task worker would acknowledge the next run while one executes, holding it
    where no other worker can take it (for ever, if killed). This one reads a run only with a
    free slot: the run the server pushed at it stays unacknowledged, and when it drains (or
    dies) the server hands it to the next worker."""
    from generation.render import Renderer
    from tasks.fleet import render_t2v
    from tasks.generate import use_renderer
    from tasks.gpu_worker import GpuWorker, local_worker
    from wanflow.settings import Settings

    monkeypatch.setenv("WANFLOW_WORKER_HEARTBEAT_S", "60")  # records on change, not by the clock
    settings = Settings()
    gate = _Gate()
    use_renderer(gate)
    try:
        worker = GpuWorker(["t2v"], name="busy", settings=settings)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        assert worker.wait_ready(120)
        first = render_t2v.delay(_job(1, "busy"), 1)
        assert gate.entered.wait(120), "the first shot never started"
        second = render_t2v.delay(_job(2, "busy"), 1)
        third = render_t2v.delay(_job(3, "busy"), 1)
        a = str(first.task_run_id)
        busy = _wait_for(
            lambda: (r := _record(storage, "busy")) and r.running == [a] and r, 60, "its record"
        )
        assert busy.waiting == [] and not busy.stopping

        worker.stop()  # drain: the first shot is still at the gate
        # The draining worker has closed its subscription: the server hands both waiting runs
        # to the next worker while the first shot is still in progress.
        with local_worker(settings, families=["t2v"]):
            assert second.result(timeout=120).shot == 2
            assert third.result(timeout=120).shot == 3
        assert thread.is_alive() and sorted(gate.shots) == [1, 2, 3]

        gate.open.set()
        thread.join(120)
        assert not thread.is_alive() and worker.error is None
        assert first.result(timeout=60).shot == 1
    finally:
        gate.open.set()
        use_renderer(Renderer)
    final = _record(storage, "busy")
    assert final.stopping and final.running == [] and final.waiting == [] and final.shots == 1


@pytest.mark.slow
def test_the_local_worker_renders_a_shot_dispatched_before_it_subscribed(
    prefect_api, wanflow_env, storage
):
    from generation.pipelines import unload
    from tasks.fleet import render_t2v
    from tasks.gpu_worker import local_worker
    from wanflow.settings import Settings

    unload()  # this process's pipelines: the worker loads the model for its shot
    early = render_t2v.delay(_job(3, "early"), 1)  # no worker serves render-t2v yet
    with local_worker(Settings()) as worker:
        record = early.result(timeout=300)
        assert record.item_id == "early" and not record.cached and storage.exists(record.key)
        done = _wait_for(
            lambda: (r := _record(storage, worker.name)) and r.shots == 1 and r,
            60,
            "the local worker's record of its shot",
        )
        assert done.loads == {"tiny": 1} and done.busy_s > 0 and "tiny" in done.resident
        assert done.serves == ["t2v", "i2v", "ti2v"]
    final = _record(storage, worker.name)
    assert final.stopping and final.shots == 1 and final.waiting == []


@pytest.mark.slow
def test_a_worker_takes_high_priority_shots_before_normal_ones_queued_earlier(
    prefect_api, wanflow_env, storage
):
    """Priority is a queue per level on the Prefect server; a worker scans them high first."""
    from prefect import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

    from tasks.fleet import task_for
    from tasks.gpu_worker import local_worker
    from wanflow.settings import Settings

    settings = Settings()
    queued = [  # all queued before any worker subscribes: normal first, in sending order
        task_for(job, settings, priority).delay(job, 1)
        for job, priority in (
            (_job(11, "normal-a"), "normal"),
            (_job(12, "low-a"), "low"),
            (_job(13, "normal-b"), "normal"),
            (_job(14, "high-a"), "high"),
            (_job(15, "high-b"), "high"),
        )
    ]
    with local_worker(settings, limit=1):
        done = [future.result(timeout=300) for future in queued]
    assert [r.item_id for r in done] == ["normal-a", "low-a", "normal-b", "high-a", "high-b"]
    with get_client(sync_client=True) as client:
        only = TaskRunFilter(id=TaskRunFilterId(any_=[f.task_run_id for f in queued]))
        runs = client.read_task_runs(task_run_filter=only)
    started = [run.name for run in sorted(runs, key=lambda r: r.start_time)]
    family = task_for(_job(1), settings).name
    assert started == [f"{family}-high"] * 2 + [family] * 2 + [f"{family}-low"]


def test_gpu_worker_refuses_to_start_without_a_prefect_server(wanflow_env, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # no profile that names a server
    result = subprocess.run(
        [WANFLOW, "gpu-worker"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert "no Prefect server" in said and "set PREFECT_API_URL" in said
    assert "Traceback" not in result.stderr
    assert wanflow_env["WANFLOW_S3_SECRET_KEY"] not in result.stderr + result.stdout

    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
    for args, message in (
        (["--serve", "t2v,s2v"], "unknown model family s2v; use t2v, i2v, ti2v"),
        (["--gpu", "0; rm -rf /"], "--gpu"),
        (["--name", "../w"], "--name"),
    ):
        result = subprocess.run(
            [WANFLOW, "gpu-worker", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in " ".join(result.stderr.split())
