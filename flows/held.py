"""Held items and the people who decide them: the automatic decisions logged, the held items
asked about (or approved by the operator's switch, or left held), and the answers applied.

A held item reaches here composed, so that its reviewer judges the finished video; the
approved ones are published by the caller.
"""

from __future__ import annotations

from prefect import get_run_logger

from flows.approve import Answer, audit_entries, wait_for_decisions
from flows.items import Items, decide
from moderation.approval import AuditEntry, PendingItem
from tasks.approve import append_audit
from tasks.common import storage
from tasks.manifest import write_report
from tasks.prefect_runs import current_flow_run, results_persisted
from wanflow.report import ItemOutcome, RunReport
from wanflow.settings import Settings


def approve_held(report: RunReport, items: Items) -> None:
    """Log the automatic decisions, then ask people about the held items (or approve them all
    where the operator said so) and log their answers; what nobody decides stays held."""
    settings = items.settings
    base = {"run_id": report.run_id, "flow_run_id": report.flow_run_id, "manifest": report.manifest}
    day = items.day
    append_audit(report.run_id, day, _automatic_entries(report, base), settings)
    held = [o for o in report.items if o.status == "held"]
    if not held:
        return
    decided = without_asking(held, settings)
    if decided is not None:
        answers, undecided = decided
    else:
        write_report(report, settings)  # the bucket shows the run waiting, and why, while it waits
        store = storage(settings)
        pending = [_pending(o, items.manifest_items[o.id].prompt, store) for o in held]
        suspend = settings.approval_suspend and _can_suspend()
        answers, undecided = wait_for_decisions(
            report.run_id,
            report.manifest,
            pending,
            settings.approval_timeout_s,
            settings.approval_poll_s,
            suspend=suspend,
            settings=settings,
        )
    entries = audit_entries(answers, undecided, base, settings.approval_timeout_s)
    append_audit(report.run_id, day, entries, settings)
    outcomes = {o.id: o for o in held}
    for entry in entries:
        decide(outcomes[entry.item_id], entry)


def without_asking(
    held: list[ItemOutcome], settings: Settings
) -> tuple[list[Answer], list[str]] | None:
    """The answers (and the ids left undecided) when nobody is asked: every held item approved
    by the operator's switch, or every one left held where no wait is allowed; None when people
    must be asked."""
    if settings.auto_approve:
        return [_auto_answer(held)], []
    if settings.approval_timeout_s <= 0:
        return [], [o.id for o in held]
    return None


def _automatic_entries(report: RunReport, base: dict) -> list[AuditEntry]:
    """Screening blocks and the review policy's verdicts, as audit entries."""
    entries = []

    def log(key: str, item: ItemOutcome, stage: str, decision, actor: str, reasons) -> None:
        entries.append(
            AuditEntry(key=key, item_id=item.id, stage=stage, decision=decision, actor=actor,
                       automatic=True, reasons=reasons, **base)
        )  # fmt: skip

    for o in report.items:
        if o.blocked:
            log(f"screen:{o.id}", o, "screen", "block", "wanflow/screen", o.reasons)
        if o.review:
            clean = [f"clean: {len(o.clips)} clip(s) reviewed"]
            why = o.review.reasons + o.review.failures or clean
            log(f"review:{o.id}", o, "review", o.review.decision, "wanflow/review-policy", why)
            if o.review.decision == "pass" and o.status == "held":
                why = ["the item requires approval"]
                log(f"review:{o.id}:require-approval", o, "review", "hold", "wanflow/manifest", why)
    return entries


def _pending(outcome: ItemOutcome, prompt: str, store) -> PendingItem:
    review = outcome.review
    video = outcome.final.files.get("video.mp4") if outcome.final else None
    return PendingItem(
        id=outcome.id,
        title=outcome.title,
        prompt=prompt,
        verdict="review" if review is None or review.decision != "pass" else "pass",
        reasons=[f"awaiting {why}" for why in outcome.held_because],
        scores=review.scores if review else {},
        sheet_url=review.sheet_url if review else None,
        clip_urls={clip.shot: store.presigned_get(clip.key) for clip in outcome.clips},
        video_url=store.presigned_get(video) if video else None,
    )


def _auto_answer(held: list[ItemOutcome]) -> Answer:
    return Answer(
        choices={o.id: "approve" for o in held},
        reviewer="wanflow/auto-approve",
        comment="WANFLOW_AUTO_APPROVE is set",
        automatic=True,
    )


def _can_suspend() -> bool:
    """A suspended run is re-run from the top by a worker: it needs a deployment, and results
    persisted so that the stages before are not run again."""
    flow_run = current_flow_run()
    if flow_run is None or flow_run.deployment_id is None:
        return False
    if not results_persisted():
        get_run_logger().warning(
            "results are not persisted: pausing (holding this process) instead of suspending"
        )
        return False
    return True
