"""The Prefect adapter against a real Prefect API: the run-input keys Prefect writes, pausing,
resuming and forcing states, as the installed Prefect version does them."""

from __future__ import annotations

import threading
import time

import pytest
from prefect import flow, task
from prefect.exceptions import NotPausedError
from prefect.input import RunInput
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks import prefect_runs as runs


class Reply(RunInput):
    note: str = ""


def test_outside_a_flow_run_there_is_none():
    assert runs.current_flow_run() is None
    assert runs.results_persisted() is False


def test_run_input_round_trip_and_a_timed_out_pause_forced_running(prefect_api):
    @flow(name="prefect-runs-pause-timeout")
    def probe() -> dict:
        run = runs.current_flow_run()
        runs.write_run_input(run.id, "record-1", {"round": 1})
        stored = runs.read_run_input(run.id, "record-1")
        answered = runs.wait_for_input(Reply, "p-1", 1, suspend=False, poll_s=1)
        if not answered:
            runs.force_running(run.id, "timed out; going on")
        return {"stored": stored, "answered": answered, "reply": runs.read_reply(run.id, "p-1")}

    state = probe(return_state=True)
    assert state.is_completed(), state  # a timed-out pause left in place would fail the run
    result = state.result()
    assert result == {"stored": {"round": 1}, "answered": False, "reply": None}
    assert runs.read_run_input(state.state_details.flow_run_id, "nothing-here") is None


def test_a_paused_run_is_listed_resumed_with_input_and_reads_the_reply(prefect_api):
    outcome: dict = {}
    api = PREFECT_API_URL.value()

    @flow(name="prefect-runs-resume")
    def waits() -> None:
        run = runs.current_flow_run()
        outcome["id"] = run.id
        outcome["answered"] = runs.wait_for_input(Reply, "p-1", 120, suspend=False, poll_s=1)
        outcome["reply"] = runs.read_reply(run.id, "p-1")

    def serve() -> None:
        try:
            with temporary_settings({PREFECT_API_URL: api}):  # a new thread's own context
                waits()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    waiting = []
    while time.monotonic() < deadline and not waiting:
        assert "error" not in outcome, outcome
        waiting = [w for w in runs.waiting_flow_runs() if w[0].id == outcome.get("id")]
        time.sleep(0.3)
    assert waiting, "the run never paused"
    (run, key, suspended) = waiting[0]
    assert key == "p-1" and suspended is False
    before = time.time()
    runs.resume(run.id, {"note": "go on"})
    thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in outcome, outcome
    assert outcome["answered"] is True
    value, at = outcome["reply"]
    assert value == {"note": "go on"}
    assert at.timestamp() >= before - 5
    assert runs.reply_key_prefixes("p-1") == ("paused-p-1-response", "suspended-p-1-response")
    with pytest.raises(NotPausedError):  # no longer waiting
        runs.resume(run.id, {"note": "again"})


@task(name="prefect-runs-background", persist_result=True)
def background(n: int) -> int:
    return n


@task(name="prefect-runs-slow", timeout_seconds=1)
def slow() -> None:
    time.sleep(5)


def test_task_runs_are_read_by_id_and_forced_crashed(prefect_api):
    from prefect import get_client

    future = background.delay(1)  # queued: no worker serves it
    with get_client(sync_client=True) as client:
        (found,) = runs.read_task_runs(client, [future.task_run_id])
        assert found.id == future.task_run_id and not found.state.is_final()
        runs.crash_task_run(client, future.task_run_id, "its worker is gone")
        (crashed,) = runs.read_task_runs(client, [future.task_run_id])
    assert crashed.state.is_crashed() and crashed.state.message == "its worker is gone"


def test_a_task_past_its_timeout_is_told_from_other_failures(prefect_api):
    @flow(name="prefect-runs-timeout")
    def times_out() -> bool:
        state = slow(return_state=True)
        return runs.is_task_timeout(state.result(raise_on_failure=False))

    assert times_out()
    assert not runs.is_task_timeout(RuntimeError("boom"))
    assert runs.api_url()
