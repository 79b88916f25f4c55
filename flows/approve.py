"""The approval wait: a Prefect form per pause, answered in the UI or with ``wanflow approvals``.

A run in process pauses (``pause_flow_run``) and polls; a deployed run with persisted results
suspends (``suspend_flow_run``), holds no process, and re-runs from the top when resumed, so
that everything here is keyed to be replayed: the pause keys are ``approval-<round>``, the
deadline is the one stored with the first pause, and the audit keys repeat.

Items a reviewer leaves undecided wait again, in a new round, until the deadline; then they are
held. Prefect fails a run whose pause times out; the flow catches that and goes on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.input import RunInput
from prefect.logging import get_logger, get_run_logger
from pydantic import BaseModel, Field, create_model

from moderation.approval import (
    RECORD_SUFFIX,
    ApprovalRequest,
    AuditEntry,
    Choice,
    PendingItem,
    describe,
    details,
    label,
)
from tasks.prefect_runs import (
    current_flow_run,
    force_running,
    read_reply,
    read_run_input,
    resume,
    wait_for_input,
    waiting_flow_runs,
    write_run_input,
)
from wanflow import markdown as md
from wanflow.settings import Settings


class ApprovalForm(RunInput):
    """The fields every approval form has; one choice field per item is added to it."""

    reviewer: str = Field("", description="your name or e-mail, for the audit log")
    comment: str = Field("", description="why; recorded with every decision in this form")


class Answer(BaseModel):
    choices: dict[str, Choice]
    reviewer: str = ""
    comment: str = ""
    automatic: bool = False
    at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="when it was given: the reply's arrival at the server, not when the run "
        "read it (a suspended run reads it only once a worker runs it again)",
    )


def form_for(request: ApprovalRequest) -> type[ApprovalForm]:
    """A form with a choice per item, keyed by item id (ids are not Python names: aliases)."""
    fields: dict[str, Any] = {}
    if md.artifact_url(request.details_url):
        # Prefect's resume dialog (the UI a run's address opens) shrinks the description as
        # the fields fill it: its link is cut off from four items at 1366×768 and six at
        # 1920×1080. The link goes into the first field's description too, never shrunk.
        reviewer = ApprovalForm.model_fields["reviewer"]
        details_link = md.link(
            "contact sheets, clips, prompts and scores", request.details_url, md.artifact_url
        )
        note = f"read the {details_link}"
        fields["reviewer"] = (
            str,
            Field(reviewer.default, description=f"{reviewer.description}; before deciding, {note}"),
        )
    for n, item in enumerate(request.items):
        # One short line: Prefect's form shows the title as the field's label, and the
        # detail is in the round's artifact that the description links to.
        fields[f"item_{n}"] = (Choice, Field("undecided", alias=item.id, title=label(item)))
    form = create_model("ApprovalForm", __base__=ApprovalForm, **fields)
    return form.with_initial_data(description=describe(request))


def record_key(pause_key: str) -> str:
    return f"{RECORD_SUFFIX}-{pause_key}"


def stored_request(flow_run_id: Any, pause_key: str) -> ApprovalRequest | None:
    value = read_run_input(flow_run_id, record_key(pause_key))
    return ApprovalRequest.model_validate(value) if value else None


SWEEP_GRACE_S = 3600
TIMEOUT_REVIEWER = "wanflow/approval-timeout"


def waiting_runs() -> list[tuple[Any, ApprovalRequest]]:
    """(flow run, approval request) for every paused or suspended run that asks Wanflow's
    question."""
    found = []
    for run, key, _ in waiting_flow_runs():
        request = stored_request(run.id, key)
        if request is not None:
            found.append((run, request))
    return found


def resume_overdue(now: datetime | None = None) -> list[str]:
    """Resume every *suspended* run whose approval deadline has passed, answering "undecided"
    for each item: the run re-runs, finds the deadline gone and holds those items, logged.
    Without this, Prefect would fail the run at its suspension timeout and leave its manifest
    in processing/. (A paused run times out in its own process.)"""
    now = now or datetime.now(UTC)
    resumed = []
    for run, key, suspended in waiting_flow_runs():
        if not suspended:
            continue
        request = stored_request(run.id, key)
        if request is None or request.deadline > now:
            continue
        answer = {item_id: "undecided" for item_id in request.ids}
        answer |= {"reviewer": TIMEOUT_REVIEWER, "comment": "the approval deadline passed"}
        try:
            resume(run.id, answer)
        except RuntimeError as exc:  # resumed meanwhile by a person, or refused: next tick
            get_logger("wanflow.approve").warning(
                "could not resume overdue run %s: %s", run.id, exc
            )
            continue
        resumed.append(str(run.id))
    return resumed


def wait_for_decisions(
    run_id: str,
    manifest: str,
    items: list[PendingItem],
    timeout_s: float,
    poll_s: float,
    suspend: bool,
    settings: Settings,
) -> tuple[list[Answer], list[str]]:
    """Ask until every item is decided or the deadline passes: the answers, and the ids still
    undecided (held). ``settings`` are the run's: the details artifact links to their bucket."""
    flow_run = current_flow_run()
    if flow_run is None:
        raise RuntimeError("approval needs a flow run")
    flow_run_id = flow_run.id
    logger = get_run_logger()
    first = stored_request(flow_run_id, "approval-1")  # a re-run after a suspension
    deadline = first.deadline if first else datetime.now(UTC) + timedelta(seconds=timeout_s)
    answers: list[Answer] = []
    pending = list(items)
    round_ = 0
    while pending:
        round_ += 1
        remaining = (deadline - datetime.now(UTC)).total_seconds()
        if remaining <= 0:
            break
        key = f"approval-{round_}"
        request = stored_request(flow_run_id, key)  # set: this round is being replayed
        if request is None:
            request = ApprovalRequest(
                run_id=run_id,
                flow_run_id=str(flow_run_id),
                manifest=manifest,
                round=round_,
                deadline=deadline,
                items=pending,
            )
            request.details_url = _details_artifact(request, settings)
            write_run_input(flow_run_id, record_key(key), request.model_dump(mode="json"))
        form = form_for(request)
        replied = _stored_reply(form, flow_run_id, key)  # set: answered before this re-run
        if replied is None:
            logger.info(
                "waiting until %s UTC for a decision on %s: the Prefect UI, or `wanflow "
                "approvals decide %s --approve ID... --reject ID...`",
                f"{deadline:%Y-%m-%d %H:%M:%S}",
                ", ".join(request.ids),
                flow_run_id,
            )
            _wait(form, key, remaining, poll_s, suspend, flow_run_id)
            # Read back as stored, with the time it arrived; a reply that landed between the
            # last poll and a timeout still counts.
            replied = _stored_reply(form, flow_run_id, key)
            if replied is None:  # timed out
                break
        answer = _answer(*replied, request)
        answers.append(answer)
        pending = [i for i in request.items if answer.choices.get(i.id) == "undecided"]
    return answers, [i.id for i in pending]


def _details_artifact(request: ApprovalRequest, settings: Settings) -> str | None:
    """The round's detail as a markdown artifact (contact sheets inline, clip links, prompts,
    every reason), and its address in the Prefect UI for the form to link to. The form works
    without it: a failure is logged, never the run's."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.settings import PREFECT_UI_URL

    from tasks.artifacts import artifact_key

    try:
        artifact_id = create_markdown_artifact(
            details(request, settings),
            key=artifact_key(request.manifest, f"approval-{request.round}"),
            description=f"{md.text(request.manifest)}: what awaits a decision in round "
            f"{request.round}",
        )
    except Exception as exc:
        get_run_logger().warning("no approval artifact: %s", exc)
        return None
    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/artifacts/artifact/{artifact_id}" if base else None


def _wait(
    form: type[ApprovalForm],
    key: str,
    remaining: float,
    poll_s: float,
    suspend: bool,
    flow_run_id: Any,
) -> None:
    """Pause (this process polls) or suspend (the process ends here; a worker re-runs the flow
    once a reply is in) until a reply or the deadline."""
    seconds = max(1, int(remaining))
    if suspend:
        # Prefect fails a suspended run at its timeout; the watcher resumes overdue runs
        # first (resume_overdue), so the run itself holds what nobody decided.
        answered = wait_for_input(form, key, seconds + SWEEP_GRACE_S, suspend=True)
    else:
        poll = max(1, int(min(poll_s, seconds)))
        answered = wait_for_input(form, key, seconds, suspend=False, poll_s=poll)
    if not answered:
        # Prefect leaves a timed-out pause in place and would fail the run at its end: the run
        # goes on (the items are held), so it is marked running again.
        force_running(flow_run_id, "approval timed out; undecided items held")


def _answer(reply: ApprovalForm, at: datetime, request: ApprovalRequest) -> Answer:
    data = reply.model_dump(by_alias=True)
    return Answer(
        choices={i.id: data.get(i.id, "undecided") for i in request.items},
        reviewer=reply.reviewer.strip(),
        comment=reply.comment.strip(),
        at=at,
    )


def _stored_reply(
    form: type[ApprovalForm], flow_run_id: Any, key: str
) -> tuple[ApprovalForm, datetime] | None:
    """The reply to pause ``key`` that Prefect stored when the run was resumed, and when it was
    stored (the reviewer's decision time), or None while nobody has answered."""
    reply = read_reply(flow_run_id, key)
    if reply is None:
        return None
    value, at = reply
    return form(**value), at


def audit_entries(
    answers: list[Answer], held: list[str], base: dict[str, Any], timeout_s: float
) -> list[AuditEntry]:
    """The answers as audit entries, one per decided item, plus one per item left held."""
    entries = []
    for round_, answer in enumerate(answers, start=1):
        for item_id, choice in answer.choices.items():
            if choice == "undecided":
                continue
            entries.append(
                AuditEntry(
                    key=f"approval:{item_id}:{round_}",
                    at=answer.at,
                    item_id=item_id,
                    stage="approval",
                    decision=choice,
                    actor=answer.reviewer or "unnamed reviewer",
                    automatic=answer.automatic,
                    comment=answer.comment,
                    **base,
                )
            )
    why = (
        f"no decision within {timeout_s:g} s: held, not published"
        if timeout_s > 0
        else "no wait for a reviewer (approval timeout 0): held, not published"
    )
    for item_id in held:
        entries.append(
            AuditEntry(
                key=f"approval:{item_id}:timeout",
                item_id=item_id,
                stage="approval",
                decision="hold",
                actor="wanflow/approval-timeout",
                automatic=True,
                reasons=[why],
                **base,
            )
        )
    return entries
