"""One item's way from its rendered shots to publication: review → compose → publish, or hold.

Each item takes this way on its own as soon as its shots exist, in a bounded pool of threads
(``WANFLOW_CPU_CONCURRENCY``), while other items still render. A clean item is published
without waiting for anyone. A held item is composed first, so that its reviewer judges the
finished video, and then waits with the others for a decision (``approve_held``); an approved
one is published once decided. One item's failure is recorded on it and stops only it.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from generation.plan import ShotPlan
from moderation.approval import AuditEntry
from moderation.item_review import ItemReview
from tasks.common import storage
from tasks.compose import compose_item
from tasks.dispatch import Result, ShotFailure
from tasks.publish import publish_item, published_files
from tasks.review import review_item
from wanflow.publication import fingerprint, metadata, sources
from wanflow.report import Approval, Clip, Final, ItemOutcome, Review, RunReport
from wanflow.settings import Settings

CARRIED = ("published", "blocked", "rejected", "failed", "held")  # where a pass leaves an item


STAGES = ("expand", "screen", "plan", "narrate", "generate", "review", "compose", "approve",
          "publish")  # fmt: skip


class StageClock:
    """Seconds per stage in the report, summed over items that run at the same time. Every
    stage is listed, at 0 when no item reached it, so reports compare column for column."""

    def __init__(self, report: RunReport) -> None:
        self.report, self._lock = report, threading.Lock()
        for stage in STAGES:
            report.stages.setdefault(stage, 0.0)

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            with self._lock:
                stages = self.report.stages
                stages[name] = round(stages.get(name, 0.0) + spent, 4)


@dataclass
class Items:
    """What every item's stages need: the run, its settings, the manifest's items and their
    shot plans."""

    report: RunReport
    manifest_items: dict[str, Any]
    plans: dict[str, ShotPlan]
    clock: StageClock
    settings: Settings
    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.outcomes = {o.id: o for o in self.report.items}

    @property
    def day(self) -> date:
        return self.report.started_at.astimezone(UTC).date()

    def plan(self, outcome: ItemOutcome) -> ShotPlan:
        """The item's (re-timed) plan: this pass's, or the one an earlier pass stored."""
        if outcome.id not in self.plans:
            if not outcome.plan_key:
                raise RuntimeError(f"{outcome.id} has no stored plan")
            data = storage(self.settings).get_bytes(outcome.plan_key)
            self.plans[outcome.id] = ShotPlan.model_validate_json(data)
        return self.plans[outcome.id]


def rendered(outcome: ItemOutcome, results: list[Result]) -> None:
    """An item's shots are in: every clip recorded, or the item failed with its shot."""
    for result in results:
        if isinstance(result, ShotFailure):
            outcome.status = "failed"
            outcome.reasons.append(f"generate shot {result.shot}: {result.error}")
        else:
            outcome.clips.append(Clip.model_validate(result.model_dump()))
            outcome.warnings += [f"shot {result.shot}: {w}" for w in result.warnings]
    if outcome.status == "planned" and outcome.clips:
        outcome.status = "generated"


def carry_on(items: Items, outcome: ItemOutcome) -> None:
    """review → compose → publish (clean) or hold (composed, waiting for a person)."""
    review(items, outcome)
    if composes(outcome):
        compose(items, outcome)
    if publishes(outcome):
        publish(items, outcome)


def composes(outcome: ItemOutcome) -> bool:
    """A clean item is composed to be published; a held one so that its reviewer judges the
    finished video. Blocked and failed items go no further."""
    return outcome.status in ("reviewed", "held")


def publishes(outcome: ItemOutcome) -> bool:
    """Composed after a clean review, or approved by a person; a held item waits, whatever its
    review said, and a rejected, blocked or failed one never goes out."""
    return outcome.status in ("composed", "approved")


def review(items: Items, outcome: ItemOutcome) -> None:
    with items.clock("review"):
        try:
            reviewed: ItemReview | Exception = review_item(
                items.report.run_id, outcome.id, outcome.title, outcome.clips, items.settings
            )
        except Exception as exc:  # unreviewed is never passed: the item stops here
            reviewed = exc
    apply_review(outcome, reviewed, items.manifest_items[outcome.id].require_approval)


def compose(items: Items, outcome: ItemOutcome) -> None:
    """The finished video; a held item stays held, now with a video to judge."""
    item = items.manifest_items[outcome.id]
    moods = [m for m in (item.emotion, *item.tags) if m]
    with items.clock("compose"):
        try:
            done = compose_item(
                items.report.run_id,
                items.plan(outcome),
                outcome.clips,
                item.bgm,
                moods,
                narration=outcome.narration,
                voice=item.voice,
                rate=item.speech_rate,
                settings=items.settings,
            )
        except Exception as exc:  # one item's failure is recorded; the others go on
            _fail(outcome, "compose", exc)
            return
    composed(outcome, Final.model_validate(done.model_dump()))


def composed(outcome: ItemOutcome, final: Final) -> None:
    """The finished video is in: a clean item is ready to publish; a held one stays held, now
    with a video for its reviewer to judge."""
    outcome.final = final
    if outcome.status == "reviewed":
        outcome.status = "composed"


def publish(items: Items, outcome: ItemOutcome) -> None:
    """Published only when reviewed clean or approved by a person (``sources`` refuses)."""
    report = items.report
    with items.clock("publish"):
        try:
            found = sources(outcome)
            plan = items.plan(outcome).model_dump(mode="json")
            mark = fingerprint(report.manifest, outcome, plan)
            files = published_files(items.day, outcome.id, list(found))
            item = items.manifest_items[outcome.id]
            document = metadata(report, outcome, item, plan, files, datetime.now(UTC), mark)
            outcome.published = publish_item(items.day, outcome.id, found, document, items.settings)
        except Exception as exc:  # one item's failure is recorded; the others go on
            _fail(outcome, "publish", exc)
            return
    outcome.status = "published"


def _fail(outcome: ItemOutcome, stage: str, exc: BaseException) -> None:
    outcome.status = "failed"
    outcome.reasons.append(f"{stage}: {type(exc).__name__}: {exc}")


def hold(outcome: ItemOutcome, because: list[str]) -> None:
    """Held for a person: why, in ``held_because``; the reasons say it in words."""
    outcome.status = "held"
    outcome.held_because = because
    outcome.reasons += [f"awaiting {why}" for why in because]


def apply_review(
    outcome: ItemOutcome, reviewed: ItemReview | Exception | None, require_approval: bool
) -> None:
    """Block, hold for a person, or pass; nothing that is not a clean pass goes further alone,
    and a review that could not be made (an error, or no verdict at all) fails the item."""
    if not isinstance(reviewed, ItemReview):
        _fail(outcome, "review", reviewed or LookupError("no verdict"))
        return
    verdict = reviewed.verdict
    outcome.review = Review(
        decision=verdict.decision,
        reasons=verdict.reasons,
        scores=verdict.top_scores(),
        flagged_frames=len(verdict.flagged),
        failures=verdict.failures,
        sheet_key=reviewed.sheet_key,
        sheet_url=reviewed.sheet_url,
        thumbnail_key=reviewed.thumbnail_key,
        review_key=reviewed.review_key,
    )
    if verdict.decision == "block":
        outcome.status = "blocked"
        outcome.reasons += [f"review: {r}" for r in verdict.reasons]
    elif verdict.decision == "review":
        hold(outcome, [f"human review: {r}" for r in verdict.reasons])
    elif require_approval:
        hold(outcome, ["approval: the item requires it"])
    else:
        outcome.status = "reviewed"


def decide(outcome: ItemOutcome, entry: AuditEntry) -> None:
    """A person's (or the timeout's) answer for a held item."""
    outcome.approval = Approval(
        decision=entry.decision, actor=entry.actor, at=entry.at, comment=entry.comment
    )
    note = f": {entry.comment}" if entry.comment else ""
    if entry.decision == "approve":
        outcome.status = "approved"
        waiting = {f"awaiting {why}" for why in outcome.held_because}
        outcome.reasons = [r for r in outcome.reasons if r not in waiting]
        outcome.held_because = []
        outcome.reasons.append(f"approved by {entry.actor}{note}")
    elif entry.decision == "reject":
        outcome.status = "rejected"
        outcome.held_because = []
        outcome.reasons.append(f"rejected by {entry.actor}{note}")
    else:
        outcome.reasons += entry.reasons


def carry_passes(report: RunReport, earlier: RunReport | None) -> None:
    """A resumed suspended run re-runs from the top, its finished stages coming back from
    Prefect in no time: the report adds this pass's stage times to those of the passes before,
    which each wrote the report (``earlier``, still running) before they suspended."""
    if earlier is None or earlier.status != "running":
        return
    report.stages = dict(earlier.stages)
    report.passes = earlier.passes + 1


def carry_items(report: RunReport, earlier: RunReport | None) -> set[str]:
    """The ids of the items a resumed pass takes as the pass before left them (published,
    held with a finished video, ...): they are neither planned, rendered nor published again,
    and only the held ones are taken up, by the approval. A run that is not a resumed pass
    (no earlier report, or one that ended) carries nothing: every item is done afresh."""
    if earlier is None or earlier.status != "running" or report.passes < 2:
        return set()
    before = {o.id: o for o in earlier.items if o.status in CARRIED}
    report.items = [before.get(o.id, o) for o in report.items]
    return set(before)


def conclude(report: RunReport) -> None:
    """The run succeeded when any item came through (published, held, blocked, ...): an item's
    failure is its own, and only a run where every item failed has failed."""
    failed = all(item.status == "failed" for item in report.items)
    report.status = "failed" if failed else "succeeded"
    if failed:
        report.error = "every item failed; see each item's reasons"
