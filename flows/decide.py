"""A reviewer's decision on a waiting run, checked and sent: one path for every place a person
decides from (``wanflow approvals decide``, the review page), so that each refuses the same
mistakes and resumes the run the same way.

The decision is checked against what the run asked for in its current round before the run is
resumed, so that a typo, a stale page or an item another reviewer already decided is refused
here, and the run keeps waiting; the flow then logs the decision in its audit log under the
reviewer's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from flows.approve import stored_request
from moderation.approval import ApprovalRequest, Choice, DecisionError, check_decision
from tasks.prefect_runs import resume


class DecisionRefused(RuntimeError):
    """The Prefect server refused the resume (it validates the input against the form too)."""


@dataclass(frozen=True)
class Decided:
    flow_run_id: UUID
    request: ApprovalRequest
    choices: dict[str, Choice]

    def named(self, choice: Choice) -> list[str]:
        return [i for i, c in self.choices.items() if c == choice]

    @property
    def waiting(self) -> list[str]:
        return [i for i in self.request.ids if i not in self.choices]


def waiting_request(flow_run_id: Any) -> tuple[UUID, ApprovalRequest]:
    """The run's id and what it asks for now; ``DecisionError`` when it is no run, not waiting,
    or waiting for something other than a Wanflow approval."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        run_id = flow_run_id if isinstance(flow_run_id, UUID) else UUID(str(flow_run_id))
    except ValueError as exc:
        raise DecisionError(f"{flow_run_id!r} is not a flow run id") from exc
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound as exc:
            raise DecisionError(f"no flow run {run_id}") from exc
    state = run.state
    if state is None or not state.is_paused() or not state.state_details.pause_key:
        name = state.name if state else "no state"
        raise DecisionError(f"flow run {run_id} is not waiting for a decision ({name})")
    request = stored_request(run_id, state.state_details.pause_key)
    if request is None:
        raise DecisionError(f"flow run {run_id} is paused, but not for a Wanflow approval")
    return run_id, request


def decide_run(
    flow_run_id: Any,
    approve: Iterable[str],
    reject: Iterable[str],
    reviewer: str,
    comment: str = "",
) -> Decided:
    """Check the decision against the run's current round and resume the run with it; items
    not named keep waiting. ``DecisionError``: it does not fit the run; ``DecisionRefused``:
    the server refused it."""
    run_id, request = waiting_request(flow_run_id)
    choices = check_decision(request.ids, approve, reject)
    run_input = {**choices, "reviewer": reviewer, "comment": comment}
    from prefect.exceptions import FlowPauseTimeout, NotPausedError

    try:
        resume(run_id, run_input)
    except (RuntimeError, NotPausedError, FlowPauseTimeout) as exc:  # resumed meanwhile, or late
        raise DecisionRefused(str(exc)) from exc
    return Decided(run_id, request, choices)


__all__ = ["Decided", "DecisionError", "DecisionRefused", "decide_run", "waiting_request"]
