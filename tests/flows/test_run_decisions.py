"""The run's own decisions, without a server: which manifest keys a run takes, what the audit
log says the automatic stages decided, and how a held item is put to its reviewer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.held import _automatic_entries, _pending
from flows.items import apply_review
from flows.produce_manifest import _block_reasons, _incoming_key
from moderation.item_review import ItemReview
from moderation.policy import Verdict
from wanflow.report import Block, ItemOutcome, RunReport

BASE = {"run_id": "20261201T080000Z-abcd", "flow_run_id": None, "manifest": "stars.json"}


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        ("stars.json", "incoming/stars.json"),
        ("incoming/stars.json", "incoming/stars.json"),
        ("processing/stars.json", "processing/stars.json"),  # a resumed run finds it there
    ],
)
def test_a_run_takes_a_manifest_from_incoming_or_processing(given, taken):
    assert _incoming_key(given) == taken


@pytest.mark.parametrize("given", ["processed/stars.json", "failed/stars.json"])
def test_a_manifest_already_filed_is_not_run_again_in_place(given):
    with pytest.raises(ValueError, match="has already been processed; copy it to incoming/"):
        _incoming_key(given)


def _block(field: str, term: str, category: str) -> Block:
    return Block(field=field, term=term, category=category, start=0, end=1, matched=term)


def test_screening_reasons_name_each_term_once_with_every_field_it_was_found_in():
    blocks = [
        _block("prompt", "屠杀", "violence"),
        _block("expanded_prompt", "屠杀", "violence"),
        _block("prompt", "屠杀", "violence"),
        _block("bgm", "sieg heil", "hate"),
    ]
    assert _block_reasons(blocks) == [
        "'屠杀' (violence) in prompt, expanded_prompt",
        "'sieg heil' (hate) in bgm",
    ]


def _reviewed(item_id: str, decision: str, require_approval=False, **verdict) -> ItemOutcome:
    outcome = ItemOutcome(id=item_id, status="generated")
    reviewed = ItemReview(item_id=item_id, verdict=Verdict(decision=decision, **verdict))
    apply_review(outcome, reviewed, require_approval)
    return outcome


def test_the_audit_log_records_every_automatic_decision_and_why():
    screened = ItemOutcome(
        id="screened", status="blocked", blocked=[_block("prompt", "屠杀", "violence")],
        reasons=["'屠杀' (violence) in prompt"],
    )  # fmt: skip
    report = RunReport(
        run_id=BASE["run_id"], manifest="stars.json", source_key="processing/stars.json",
        started_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        items=[
            screened,
            _reviewed("clean", "pass"),
            _reviewed("signoff", "pass", require_approval=True),
            _reviewed("unsure", "review", reasons=["x"], failures=["zeroshot: no weights"]),
            ItemOutcome(id="broken", status="failed", reasons=["review: OSError: x"]),
        ],
    )  # fmt: skip
    entries = {e.key: e for e in _automatic_entries(report, BASE)}

    assert set(entries) == {
        "screen:screened",
        "review:clean",
        "review:signoff",
        "review:signoff:require-approval",
        "review:unsure",
    }  # a failed review decided nothing, and is not logged as if it had
    assert entries["screen:screened"].decision == "block"
    assert entries["screen:screened"].reasons == ["'屠杀' (violence) in prompt"]
    assert entries["review:clean"].reasons == ["clean: 0 clip(s) reviewed"]
    assert entries["review:signoff"].decision == "pass"
    hold = entries["review:signoff:require-approval"]
    assert (hold.decision, hold.actor) == ("hold", "wanflow/manifest")
    assert entries["review:unsure"].reasons == ["x", "zeroshot: no weights"]
    assert all(e.automatic and e.run_id == BASE["run_id"] for e in entries.values())


def test_a_held_item_without_a_passing_review_is_put_to_its_reviewer_as_review():
    unreviewed = ItemOutcome(id="a", status="held", held_because=["approval: x"])
    pending = _pending(unreviewed, "星空", store=None)  # no clips, no video: nothing to link
    assert pending.verdict == "review" and pending.reasons == ["awaiting approval: x"]
    signoff = _reviewed("b", "pass", require_approval=True)
    assert _pending(signoff, "星空", store=None).verdict == "pass"
    unsure = _reviewed("c", "review", reasons=["violence 0.41"])
    assert _pending(unsure, "星空", store=None).verdict == "review"
