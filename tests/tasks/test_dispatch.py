"""How the dispatcher tells a dead GPU worker from a slow one: by whether its record changes,
on the dispatcher's own clock (a worker's clock may be anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.dispatch import Liveness
from tests.generation.test_generate import request  # at import time: it resets the test environment
from wanflow.fleet import WorkerBeat


def _beat(worker: str, seq: int, *, stopping: bool = False, skew_h: float = 0) -> WorkerBeat:
    at = datetime.now(UTC) + timedelta(hours=skew_h)
    return WorkerBeat(
        worker=worker, host="h", pid=1, serves=["t2v"], seq=seq, started_at=at, updated_at=at,
        running=["run-1"], stopping=stopping,
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_record_that_keeps_changing_is_alive_however_wrong_its_clock():
    clock = Clock()
    live = Liveness(stale_s=10, clock=clock)
    for seq in range(5):
        clock.now += 8
        assert live.dead([_beat("a", seq, skew_h=-30)]) == []


def test_a_record_that_stops_changing_is_dead_after_the_stale_time():
    clock = Clock()
    live = Liveness(stale_s=10, clock=clock)
    assert live.dead([_beat("a", 7)]) == []  # first seen now: the clock starts here
    clock.now += 9.9
    assert live.dead([_beat("a", 7)]) == []
    clock.now += 0.1
    (dead,) = live.dead([_beat("a", 7)])
    assert dead.worker == "a" and dead.holds("run-1") and not dead.holds("run-2")
    clock.now += 1
    assert live.dead([_beat("a", 8)]) == []  # it came back: alive again


def test_a_stopping_worker_is_done_at_once():
    live = Liveness(stale_s=3600, clock=Clock())
    (dead,) = live.dead([_beat("a", 1, stopping=True), _beat("b", 1)])
    assert dead.worker == "a"


@pytest.mark.slow
def test_a_shot_whose_task_run_was_deleted_is_sent_again(prefect_api, wanflow_env, storage):
    """A worker that cannot read a run's parameters deletes the run: never final, it would be
    waited for for ever; the dispatcher sends the shot again instead."""
    import contextlib

    from prefect import get_client
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    from generation.clips import ClipJob
    from tasks.common import storage as bucket
    from tasks.dispatch import Dispatcher
    from tasks.gpu_worker import local_worker
    from wanflow.clip import Clip
    from wanflow.settings import Settings

    settings = Settings()
    job = ClipJob(item_id="gone", shot=1, model="tiny", request=request(seed=21, steps=2))
    with contextlib.ExitStack() as stack:

        class LosingParameters(Dispatcher):
            def _send(self, job, attempt, history=None):
                super()._send(job, attempt, history)
                if attempt == 1:  # its parameters lost before any worker reads them
                    with get_client(sync_client=True) as client:
                        run = client.read_task_run(next(reversed(self._sent)))
                    stored = run.state.state_details.task_parameters_id
                    (PREFECT_LOCAL_STORAGE_PATH.value() / "parameters" / str(stored)).unlink()
                    stack.enter_context(local_worker(settings, families=["t2v", "ti2v"]))

        dispatcher = LosingParameters([job], settings, bucket(settings), poll_s=0.1)
        ((item, (record,)),) = list(dispatcher.items())
    assert item == "gone" and isinstance(record, Clip) and storage.exists(record.key)
    assert dispatcher.redispatched == [("gone", 1, "its task run was deleted")]
    assert record.warnings == ["its task run was deleted: dispatched again"]
