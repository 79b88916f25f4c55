"""The Prefect side of a job: the ``produce-manifest`` flow run that took its manifest, found by
the run's name (``produce <state>/api/<job-id>.json``, whichever way it was started: the
service's runner, the watcher or the daily run), and asking it to cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
    from prefect import get_client
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
    from prefect import get_client
    from prefect.states import Cancelling

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelling(), force=True)


def set_cancelled(flow_run_id: str) -> None:
    """Mark a run whose process was stopped on request as Cancelled."""
    from prefect import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(
            flow_run_id, Cancelled(message="cancelled through the API"), force=True
        )


def prefect_reachable() -> str | None:
    """None when the Prefect API answers its health check, else why not."""
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            response = client.api_healthcheck()
    except Exception as exc:
        return f"{type(exc).__name__}"
    return None if response is None else f"{type(response).__name__}"
