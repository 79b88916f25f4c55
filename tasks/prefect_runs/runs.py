"""Flow runs, run input, pauses, task runs and a job's run: see the package docstring."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import get_client

_PAGE = 200  # task runs read per API call (Prefect's default page size)


# --- the flow run the caller is in ---------------------------------------------------------


def current_flow_run() -> Any | None:
    """The flow run (``id``, ``start_time``, ``deployment_id``) this code runs in, or None."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run if context is not None else None


def results_persisted() -> bool:
    """Whether the current flow run persists its results (a re-run from the top finds them)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return bool(context is not None and context.persist_result)


def api_url() -> str | None:
    """The Prefect API this process talks to; None for the ephemeral one (no task workers)."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def prefect_settings_here() -> Callable[[], AbstractContextManager]:
    """This thread's Prefect settings (its API among them), to enter in another thread: a new
    thread starts with the process's defaults."""
    from prefect.context import SettingsContext, get_settings_context

    here = get_settings_context()
    return lambda: SettingsContext(profile=here.profile, settings=here.settings)


# --- run input ---------------------------------------------------------------------------


def read_run_input(flow_run_id: Any, key: str) -> Any | None:
    from prefect.input.actions import read_flow_run_input

    return read_flow_run_input(key, flow_run_id=flow_run_id)


def write_run_input(flow_run_id: Any, key: str, value: Any) -> None:
    from prefect.input.actions import create_flow_run_input

    create_flow_run_input(key, value, flow_run_id=flow_run_id)


def reply_key_prefixes(pause_key: str) -> tuple[str, str]:
    """Where Prefect stores the answer to pause ``pause_key``: named after the state the run
    waited in."""
    return f"paused-{pause_key}-response", f"suspended-{pause_key}-response"


def read_reply(flow_run_id: Any, pause_key: str) -> tuple[dict[str, Any], datetime] | None:
    """The answer given to pause ``pause_key`` and when the server stored it (the reviewer's
    decision time, not when the run read it), or None while nobody has answered."""
    found = []
    with get_client(sync_client=True) as client:
        for prefix in reply_key_prefixes(pause_key):
            found += client.filter_flow_run_input(
                flow_run_id, key_prefix=prefix, limit=1, exclude_keys=set()
            )
    if not found:
        return None
    stored = found[0]
    at = stored.created.astimezone(UTC) if stored.created else datetime.now(UTC)
    return stored.decoded_value, at


# --- waiting for input, resuming, forcing ---------------------------------------------------


def wait_for_input(
    form: type, key: str, timeout_s: int, *, suspend: bool, poll_s: int = 10
) -> bool:
    """Pause (this process polls every ``poll_s``) or suspend (the process ends here; a worker
    re-runs the flow once an answer is in) until ``form`` is answered: True, or False when
    ``timeout_s`` passed first. A timed-out pause is left in place by Prefect, which would fail
    the run at its end: a caller that goes on calls :func:`force_running`."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    try:
        if suspend:
            suspend_flow_run(wait_for_input=form, timeout=timeout_s, key=key)
        else:
            pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=poll_s, key=key)
    except FlowPauseTimeout:
        return False
    return True


def force_running(flow_run_id: Any, message: str) -> None:
    """Mark the run running again whatever its state (a pause that timed out)."""
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Running(message=message), force=True)


def resume(flow_run_id: Any, run_input: dict[str, Any]) -> None:
    """Resume a paused or suspended run with ``run_input`` as its answer. Prefect raises
    ``NotPausedError`` for a run no longer waiting, and RuntimeError when the server refuses."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(flow_run_id, run_input=run_input)


def waiting_flow_runs() -> list[tuple[Any, str, bool]]:
    """(flow run, pause key, suspended) for every run waiting for input."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=paused)
    found = []
    for run in runs:
        key = run.state.state_details.pause_key if run.state else None
        if key:
            found.append((run, key, run.state.name == "Suspended"))
    return found


# --- task runs -----------------------------------------------------------------------------


def read_task_runs(client: Any, ids: list[UUID]) -> list[Any]:
    """The task runs with these ids that still exist, a page at a time."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

    runs: list[Any] = []
    for start in range(0, len(ids), _PAGE):
        only = TaskRunFilter(id=TaskRunFilterId(any_=ids[start : start + _PAGE]))
        runs += client.read_task_runs(task_run_filter=only, limit=_PAGE)
    return runs


def crash_task_run(client: Any, task_run_id: UUID, why: str) -> None:
    """Force a task run Crashed, whatever its state: its worker is gone."""
    from prefect.states import Crashed

    client.set_task_run_state(task_run_id, Crashed(message=why), force=True)


def is_task_timeout(exc: BaseException) -> bool:
    """Whether a task failed by running past its own ``timeout_seconds``."""
    from prefect.task_engine import TaskRunTimeoutError

    return isinstance(exc, TaskRunTimeoutError)


# --- the web service: a job's flow run ------------------------------------------------------
_STATES = {
    "SCHEDULED": "queued",
    "PENDING": "running",
    "RUNNING": "running",
    "PAUSED": "running",  # waiting for a reviewer
    "CANCELLING": "cancelling",
    "CANCELLED": "cancelled",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "CRASHED": "failed",
}


@dataclass(frozen=True)
class FlowRunInfo:
    id: str
    state: str  # Prefect's state type, e.g. RUNNING
    start_time: datetime | None

    @property
    def job_state(self) -> str:
        return _STATES.get(self.state, "running")


def find_flow_runs(manifest_name: str) -> list[FlowRunInfo]:
    """The produce-manifest runs of ``manifest_name``, latest first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=manifest_name)),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=20,
        )
    suffix = "/" + manifest_name
    found = []
    for run in runs:
        if not run.name.startswith("produce ") or not run.name.endswith(suffix):
            continue  # like_ is a substring match
        state = run.state.type.value if run.state else "PENDING"
        found.append(FlowRunInfo(str(run.id), state, run.start_time))
    return found


def cancel_flow_run(flow_run_id: str) -> None:
    from prefect.states import Cancelling

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelling(), force=True)


def set_cancelled(flow_run_id: str) -> None:
    """Mark a run whose process was stopped on request as Cancelled."""
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Cancelled(message="cancelled through the API"), force=True
        )


def prefect_reachable() -> str | None:
    """None when the Prefect API answers its health check, else why not."""

    try:
        with get_client(sync_client=True) as client:
            response = client.api_healthcheck()
    except Exception as exc:
        return f"{type(exc).__name__}"
    return None if response is None else f"{type(response).__name__}"
