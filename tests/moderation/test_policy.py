"""The review policy: every path from scores and failures to pass, review or block."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from moderation.policy import Policy, Threshold, combine
from moderation.signals import Score

POLICY = Policy()


def score(category: str, value: float, t: float = 0.0, frame: int = 0, source: str = "x"):
    return Score(category=category, score=value, time_s=t, frame=frame, source=source)


def test_low_scores_pass():
    verdict = POLICY.judge([score("nudity", 0.1), score("violence", 0.2, 1.0, 16)])
    assert verdict.decision == "pass" and verdict.reasons == [] and verdict.flagged == []
    assert verdict.top_scores() == {"nudity": 0.1, "violence": 0.2}


def test_a_score_over_the_review_threshold_needs_a_person():
    verdict = POLICY.judge([score("violence", 0.5, 2.0, 32, "openclip:ViT-B-32:a fight")])
    assert verdict.decision == "review"
    assert verdict.reasons == ["violence 0.50 at 2.0 s (openclip:ViT-B-32:a fight) → review"]
    assert [(e.frame, e.decision) for e in verdict.flagged] == [(32, "review")]


def test_a_score_over_the_block_threshold_blocks_and_the_worst_frame_is_the_evidence():
    scores = [
        score("nudity", 0.4, 0.0, 0, "nudenet:FEMALE_BREAST_EXPOSED"),
        score("nudity", 0.92, 3.0, 48, "nudenet:FEMALE_BREAST_EXPOSED"),
        score("violence", 0.1, 3.0, 48),
    ]
    verdict = POLICY.judge(scores)
    assert verdict.decision == "block"
    (nudity,) = [e for e in verdict.evidence if e.category == "nudity"]
    assert (nudity.frame, nudity.score, nudity.decision) == (48, 0.92, "block")
    assert [e.frame for e in verdict.flagged] == [0, 48]  # both frames a reviewer should see


def test_thresholds_are_inclusive():
    policy = Policy(thresholds={"gore": Threshold(review=0.5, block=0.8)})
    assert policy.judge([score("gore", 0.5)]).decision == "review"
    assert policy.judge([score("gore", 0.8)]).decision == "block"
    assert policy.judge([score("gore", 0.4999)]).decision == "pass"


@pytest.mark.parametrize("scores", [[], [score("nudity", 0.01)]])
def test_a_failed_classifier_sends_the_item_to_review_never_pass(scores):
    verdict = POLICY.judge(scores, {"openclip": "no OpenCLIP weights configured"})
    assert verdict.decision == "review"
    assert verdict.failures == ["openclip: no OpenCLIP weights configured"]
    assert "a person must look" in verdict.reasons[-1]


def test_a_failure_does_not_soften_a_block():
    verdict = POLICY.judge([score("nudity", 0.95)], {"openclip": "crashed"})
    assert verdict.decision == "block"


def test_a_category_without_a_threshold_goes_to_a_person():
    assert POLICY.judge([score("self_harm", 0.2)]).decision == "review"
    assert POLICY.judge([score("self_harm", 0.0)]).decision == "pass"


def test_thresholds_must_be_ordered_and_in_range():
    with pytest.raises(ValidationError, match=r"block threshold 0\.3 is below review 0\.5"):
        Threshold(review=0.5, block=0.3)
    with pytest.raises(ValidationError):
        Threshold(review=-0.1, block=0.5)


def test_an_items_verdict_is_its_strictest_clip():
    clips = [
        POLICY.judge([score("nudity", 0.1)]),
        POLICY.judge([score("violence", 0.5, 1.0, 16)]),
        POLICY.judge([], {"nudenet": "timed out"}),
    ]
    item = combine(clips)
    assert item.decision == "review"
    assert len(item.reasons) == 2 and item.failures == ["nudenet: timed out"]
    assert combine([*clips, POLICY.judge([score("gore", 0.9)])]).decision == "block"
    assert combine([]).decision == "review"  # nothing reviewed is not a pass


def test_an_items_evidence_names_the_shot_it_came_from():
    from moderation.policy import for_shot

    item = combine([for_shot(POLICY.judge([score("violence", 0.5, 1.0, 16)]), 2)])
    assert item.reasons[0].startswith("shot 2: violence 0.50 at 1.0 s")
    assert [(e.shot, e.frame) for e in item.evidence + item.flagged] == [(2, 16), (2, 16)]


def test_a_reason_shared_by_shots_is_given_once_naming_them():
    from moderation.policy import for_shot

    error = "zeroshot: ClassifierError: no OpenCLIP weights for ViT-B-32 " + "x" * 250
    failed = [for_shot(POLICY.judge([], {"zeroshot": error[10:]}), n) for n in (1, 2, 3, 4)]
    violent = for_shot(POLICY.judge([score("violence", 0.5, 1.0, 16)]), 3)
    item = combine([*failed, violent])
    assert item.reasons == [
        f"shots 1–4: classifier failed, a person must look: {error}",
        "shot 3: violence 0.50 at 1.0 s (x) → review",
    ]
    assert item.failures == [error]  # once, not once per shot
    gaps = combine([failed[0], failed[2], failed[3]])
    assert gaps.reasons[0].startswith("shots 1, 3, 4: classifier failed")
    assert len(combine([*failed, *failed]).reasons) == 1


def test_deployment_overrides_merge_over_the_defaults():
    from moderation.policy import DEFAULT_THRESHOLDS, policy_from

    policy = policy_from({"nudity": {"review": 0.2}, "smoking": {"review": 0.5, "block": 0.9}})
    assert policy.thresholds["nudity"] == Threshold(
        review=0.2, block=DEFAULT_THRESHOLDS["nudity"].block
    )
    assert policy.thresholds["smoking"].block == 0.9
    assert policy.thresholds["violence"] == DEFAULT_THRESHOLDS["violence"]
    with pytest.raises(ValueError, match=r"WANFLOW_REVIEW_THRESHOLDS\['gore'\]"):
        policy_from({"gore": {"review": 0.9, "block": 0.1}})


def test_an_items_scores_are_its_worst_clips():
    item = combine([POLICY.judge([score("nudity", 0.6)]), POLICY.judge([score("nudity", 0.1)])])
    assert item.decision == "review" and item.top_scores() == {"nudity": 0.6}
