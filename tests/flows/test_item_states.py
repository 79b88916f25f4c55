"""The flow's decisions about each item, on plain report objects: what a shot's results make of
an item, what its review makes of it, which items go out, what a person's answer (or nobody's)
does, and what a resumed pass takes over from the pass before. No Prefect server, no bucket:
the slow end-to-end files run the same functions inside the flow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from flows.approve import Answer, audit_entries
from flows.held import without_asking
from flows.items import (
    CARRIED,
    Items,
    StageClock,
    apply_review,
    carry_items,
    carry_passes,
    composed,
    composes,
    conclude,
    decide,
    publish,
    publishes,
    rendered,
)
from moderation.item_review import ItemReview
from moderation.policy import Policy, Verdict
from tasks.dispatch import ShotFailure
from wanflow.publication import NotPublishable, sources
from wanflow.report import Clip, Final, ItemOutcome, ItemStatus, Published, RunReport
from wanflow.settings import Settings

STARTED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BASE = {"run_id": "20261201T080000Z-abcd", "flow_run_id": None, "manifest": "stars.json"}
FINAL = Final(
    files={n: f"work/r/a/final/{n}" for n in ("video.mp4", "subtitles.srt", "subtitles.vtt",
                                              "thumbnail.jpg", "poster.jpg")},
    duration_s=5.0,
    normalization="linear",
)  # fmt: skip


def _clip(item_id: str, shot: int, *, cached: bool = False, warnings=()) -> Clip:
    return Clip(
        item_id=item_id, shot=shot, hash=f"{item_id}{shot}", key=f"work/clips/{item_id}{shot}",
        last_frame_key="k", model="tiny", device="cpu", plan="full", width=64, height=64,
        frames=17, fps=16, cached=cached, warnings=list(warnings),
    )  # fmt: skip


def _outcome(item_id: str = "a", status: ItemStatus = "planned", **fields) -> ItemOutcome:
    return ItemOutcome(id=item_id, status=status, **fields)


def _reviewed(decision: str, reasons=(), failures=()) -> ItemReview:
    verdict = Verdict(decision=decision, reasons=list(reasons), failures=list(failures))
    return ItemReview(item_id="a", verdict=verdict, sheet_key="work/r/a/sheet.jpg")


def _report(*outcomes: ItemOutcome, status="running", passes=1) -> RunReport:
    return RunReport(
        run_id=BASE["run_id"], manifest="stars.json", source_key="processing/stars.json",
        started_at=STARTED, items=list(outcomes), status=status, passes=passes,
    )  # fmt: skip


def _held(item_id: str, decision="review"):
    """An item as the approval finds it: reviewed, composed, held for a person (a verdict of
    ``review``, or a clean one on an item that requires approval)."""
    outcome = _outcome(item_id, "generated", clips=[_clip(item_id, 1)])
    reasons = ["violence 0.41"] if decision == "review" else []
    apply_review(outcome, _reviewed(decision, reasons), require_approval=decision == "pass")
    composed(outcome, FINAL)
    assert outcome.status == "held"
    return outcome


# --- shots in --------------------------------------------------------------------------------


def test_an_item_whose_shots_are_all_in_is_generated_with_fresh_and_reused_clips_alike():
    outcome = _outcome()
    fresh, reused = _clip("a", 1, warnings=["slow"]), _clip("a", 2, cached=True)
    rendered(outcome, [fresh, reused])
    assert outcome.status == "generated"
    assert [(c.shot, c.cached) for c in outcome.clips] == [(1, False), (2, True)]
    assert outcome.warnings == ["shot 1: slow"]


def test_one_failed_shot_fails_its_item_alone():
    a, b = _outcome("a"), _outcome("b")
    rendered(a, [_clip("a", 1), ShotFailure(item_id="a", shot=2, error="CUDA out of memory")])
    rendered(b, [_clip("b", 1)])
    assert a.status == "failed"
    assert a.reasons == ["generate shot 2: CUDA out of memory"]
    assert [c.shot for c in a.clips] == [1]  # what was made stays on record
    assert b.status == "generated" and b.reasons == []


# --- review ------------------------------------------------------------------------------------


def test_a_clean_review_goes_on_to_compose_and_then_to_publication():
    outcome = _outcome(status="generated")
    apply_review(outcome, _reviewed("pass"), require_approval=False)
    assert outcome.status == "reviewed" and outcome.review.decision == "pass"
    assert composes(outcome) and not publishes(outcome)  # not before its video exists
    composed(outcome, FINAL)
    assert outcome.status == "composed" and publishes(outcome)
    assert sources(outcome)["contact_sheet.jpg"] == "work/r/a/sheet.jpg"


def test_an_item_that_requires_approval_is_held_though_its_review_passed():
    outcome = _outcome(status="generated")
    apply_review(outcome, _reviewed("pass"), require_approval=True)
    assert outcome.status == "held"
    assert outcome.held_because == ["approval: the item requires it"]
    assert composes(outcome)  # its reviewer judges the finished video
    composed(outcome, FINAL)
    assert outcome.status == "held" and not publishes(outcome)


def test_a_review_verdict_holds_the_item_for_a_person_and_it_stays_held_when_composed():
    outcome = _outcome(status="generated")
    apply_review(outcome, _reviewed("review", ["violence 0.41"]), require_approval=False)
    assert outcome.status == "held"
    assert outcome.held_because == ["human review: violence 0.41"]
    assert outcome.reasons == ["awaiting human review: violence 0.41"]
    composed(outcome, FINAL)
    assert outcome.status == "held" and not publishes(outcome)


def test_a_classifier_that_failed_sends_the_item_to_a_person_never_through():
    verdict = Policy().judge([], {"zeroshot": "no OpenCLIP weights"})
    reviewed = ItemReview(item_id="a", verdict=verdict, sheet_key="s")
    outcome = _outcome(status="generated")
    apply_review(outcome, reviewed, require_approval=False)
    assert outcome.status == "held" and not publishes(outcome)
    assert outcome.review.failures == ["zeroshot: no OpenCLIP weights"]


def test_a_blocked_item_goes_no_further_even_when_approval_is_required():
    for require_approval in (False, True):
        outcome = _outcome(status="generated")
        apply_review(outcome, _reviewed("block", ["gore 0.93"]), require_approval)
        assert outcome.status == "blocked"
        assert outcome.reasons == ["review: gore 0.93"] and outcome.held_because == []
        assert not composes(outcome) and not publishes(outcome)


@pytest.mark.parametrize(
    ("reviewed", "reason"),
    [
        (OSError("bucket unreachable"), "review: OSError: bucket unreachable"),
        (None, "review: LookupError: no verdict"),
    ],
)
def test_a_review_that_errored_or_gave_no_verdict_fails_the_item_closed(reviewed, reason):
    outcome = _outcome(status="generated", clips=[_clip("a", 1)])
    apply_review(outcome, reviewed, require_approval=False)
    assert outcome.status == "failed" and outcome.reasons == [reason]
    assert outcome.review is None
    assert not composes(outcome) and not publishes(outcome)


# --- what goes out -----------------------------------------------------------------------------


def test_only_composed_and_approved_items_are_published():
    going = {status for status in get_args(ItemStatus) if publishes(_outcome(status=status))}
    assert going == {"composed", "approved"}


def test_publishing_an_unreviewed_item_fails_it_closed_and_leaves_the_others_alone():
    unreviewed = _outcome("a", "composed", final=FINAL)
    held = _held("b")
    report = _report(unreviewed, held)
    items = Items(report, {}, {}, StageClock(report), Settings())
    publish(items, unreviewed)
    assert unreviewed.status == "failed" and unreviewed.published is None
    assert unreviewed.reasons == ["publish: NotPublishable: a was never reviewed"]
    assert held.status == "held" and held.reasons == ["awaiting human review: violence 0.41"]


# --- the approval ------------------------------------------------------------------------------


def _decide_all(held: list[ItemOutcome], answers: list[Answer], undecided: list[str]):
    outcomes = {o.id: o for o in held}
    for entry in audit_entries(answers, undecided, BASE, timeout_s=60):
        decide(outcomes[entry.item_id], entry)


def test_approved_items_are_published_rejected_and_undecided_ones_never():
    ok, no, later = _held("ok"), _held("no"), _held("later", "pass")
    answer = Answer(
        choices={"ok": "approve", "no": "reject", "later": "undecided"}, reviewer="ann",
        comment="fine",
    )  # fmt: skip
    _decide_all([ok, no, later], [answer], ["later"])

    assert ok.status == "approved" and publishes(ok)
    assert ok.held_because == [] and ok.reasons == ["approved by ann: fine"]
    assert sources(ok)["video.mp4"] == "work/r/a/final/video.mp4"

    assert no.status == "rejected" and not publishes(no)
    assert no.reasons[-1] == "rejected by ann: fine"
    with pytest.raises(NotPublishable, match="neither passed review nor was approved"):
        sources(no)

    assert later.status == "held" and not publishes(later)
    assert later.held_because == ["approval: the item requires it"]  # still says what it waits for
    assert later.reasons[-1] == "no decision within 60 s: held, not published"
    with pytest.raises(NotPublishable, match="was not approved"):
        sources(later)  # its review passed, but the logged hold is not an approval


def test_without_a_wait_every_held_item_stays_held():
    held = [_held("a"), _held("b")]
    answers, undecided = without_asking(held, Settings(approval_timeout_s=0))
    assert answers == [] and undecided == ["a", "b"]
    _decide_all(held, answers, undecided)
    assert [o.status for o in held] == ["held", "held"]
    assert not any(publishes(o) for o in held)


def test_the_auto_approve_switch_approves_every_held_item_and_says_so():
    held = [_held("a"), _held("b", "pass")]
    settings = Settings(auto_approve=True, approval_timeout_s=0)  # the switch wins over no wait
    answers, undecided = without_asking(held, settings)
    assert undecided == [] and answers[0].automatic
    _decide_all(held, answers, undecided)
    assert [o.status for o in held] == ["approved", "approved"]
    assert all(o.approval.actor == "wanflow/auto-approve" for o in held)
    assert all(publishes(o) for o in held)


def test_people_are_asked_when_there_is_a_wait_and_no_switch():
    assert without_asking([_held("a")], Settings(approval_timeout_s=60)) is None


# --- a resumed pass ----------------------------------------------------------------------------


def _published(item_id: str) -> ItemOutcome:
    published = Published(prefix=f"published/2026-12-01/{item_id}/", files={}, fingerprint="f",
                          at=STARTED)  # fmt: skip
    return _outcome(item_id, "published", clips=[_clip(item_id, 1)], published=published)


def test_a_resumed_pass_adds_its_stage_times_to_the_passes_before():
    earlier = _report(passes=2)
    earlier.stages = {"generate": 12.5}
    report = _report()
    carry_passes(report, earlier)
    assert report.passes == 3 and report.stages == {"generate": 12.5}
    report.stages["generate"] += 1.0
    assert earlier.stages == {"generate": 12.5}  # a copy, not the earlier report's own


def test_a_resumed_pass_takes_over_finished_items_and_redoes_only_unfinished_ones():
    before = {
        "done": _published("done"),
        "held": _held("held"),
        "blocked": _outcome("blocked", "blocked"),
        "rejected": _outcome("rejected", "rejected"),
        "failed": _outcome("failed", "failed", reasons=["compose: OSError: x"]),
        "midway": _outcome("midway", "generated", clips=[_clip("midway", 1)]),
    }
    assert set(CARRIED) == {o.status for o in before.values()} - {"generated"}
    earlier = _report(*before.values())
    report = _report(*(_outcome(i, "accepted") for i in before))
    carry_passes(report, earlier)

    carried = carry_items(report, earlier)

    assert carried == {"done", "held", "blocked", "rejected", "failed"}
    now = {o.id: o for o in report.items}
    assert now["done"] is before["done"]  # not published again, its clips not rendered again
    assert now["held"] is before["held"] and now["held"].final == FINAL  # the approval takes it
    assert now["failed"].status == "failed"  # a resumed pass does not retry it
    assert now["midway"].status == "accepted" and now["midway"].clips == []  # done afresh


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_new_run_after_an_ended_one_carries_nothing_and_retries_failed_items(status):
    earlier = _report(_published("done"), _outcome("failed", "failed"), status=status)
    report = _report(_outcome("done", "accepted"), _outcome("failed", "accepted"))
    carry_passes(report, earlier)
    assert report.passes == 1
    assert carry_items(report, earlier) == set()
    report.passes = 2  # whatever pass it counts itself as, an ended run hands nothing over
    assert carry_items(report, earlier) == set()
    assert [o.status for o in report.items] == ["accepted", "accepted"]


def test_a_first_pass_finds_nothing_to_carry():
    report = _report(_outcome("a", "accepted"))
    carry_passes(report, None)
    assert carry_items(report, None) == set() and report.passes == 1
    # A running report of the same run that this pass did not count as a pass before it:
    assert carry_items(report, _report(_published("a"))) == set()


# --- the run -----------------------------------------------------------------------------------


@pytest.mark.parametrize("other", ["published", "held", "blocked", "rejected"])
def test_a_failed_item_does_not_fail_the_run(other):
    report = _report(_outcome("a", "failed"), _outcome("b", other))
    conclude(report)
    assert report.status == "succeeded" and report.error is None


def test_a_run_where_every_item_failed_has_failed():
    report = _report(_outcome("a", "failed"), _outcome("b", "failed"))
    conclude(report)
    assert report.status == "failed"
    assert report.error == "every item failed; see each item's reasons"
