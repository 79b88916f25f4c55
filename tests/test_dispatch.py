"""How the dispatcher tells a dead GPU worker from a slow one: by whether its record changes,
on the dispatcher's own clock (a worker's clock may be anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.dispatch import Liveness
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
