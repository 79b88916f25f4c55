"""The review policy: classifier scores → pass, review or block, with the evidence.

Per category, a score at or above ``block`` blocks, at or above ``review`` sends the item to a
person, below passes. A classifier that failed — no weights, a crash, a timeout — cannot vouch for
anything, so its item goes to review with the reason; nothing passes on a missing opinion (fail
closed). The verdict keeps the frames, timestamps and scores that decided it, for the reviewer and
the audit log.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from moderation.signals import Score

Decision = Literal["pass", "review", "block"]
_RANK = {"pass": 0, "review": 1, "block": 2}


class Threshold(BaseModel):
    """Scores ≥ ``review`` need a person; scores ≥ ``block`` are refused outright."""

    review: float = Field(ge=0, le=1)
    block: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.block < self.review:
            raise ValueError(f"block threshold {self.block} is below review {self.review}")
        return self


# Starting points, to tune per deployment: nudity from NudeNet detection confidences and the
# open_nsfw probability; the zero-shot categories from CLIP prompt probabilities, which are
# softer, so they block only when nearly certain.
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "nudity": Threshold(review=0.35, block=0.7),
    "sexual": Threshold(review=0.35, block=0.8),
    "nsfw": Threshold(review=0.5, block=0.9),  # open_nsfw: flat frames already score ~0.2
    "violence": Threshold(review=0.4, block=0.85),
    "gore": Threshold(review=0.35, block=0.8),
    "blood": Threshold(review=0.4, block=0.9),
    "weapons": Threshold(review=0.45, block=0.9),
}


class Evidence(BaseModel):
    """The frame that decided a category: its time, score and which classifier said so."""

    category: str
    score: float
    time_s: float
    frame: int
    source: str
    decision: Decision
    shot: int | None = Field(None, description="which clip of the item, once combined")


class Verdict(BaseModel):
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list, description="worst frame per category")
    flagged: list[Evidence] = Field(
        default_factory=list, description="every frame at or above a review threshold"
    )
    failures: list[str] = Field(default_factory=list, description="classifiers that failed")

    def top_scores(self) -> dict[str, float]:
        """The worst score per category (an item's evidence holds one entry per clip)."""
        top: dict[str, float] = {}
        for e in self.evidence:
            top[e.category] = max(e.score, top.get(e.category, 0.0))
        return top


class Policy(BaseModel):
    thresholds: dict[str, Threshold] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    unknown_category: Decision = Field(
        "review", description="a category without a threshold goes to a person"
    )

    def judge(self, scores: list[Score], failures: dict[str, str] | None = None) -> Verdict:
        """Decide from every classifier's scores; ``failures`` maps a classifier to its error."""
        decision: Decision = "pass"
        reasons: list[str] = []
        worst: dict[str, Evidence] = {}
        flagged: list[Evidence] = []
        for score in scores:
            verdict = self._decide(score)
            evidence = Evidence(
                category=score.category,
                score=round(score.score, 4),
                time_s=round(score.time_s, 3),
                frame=score.frame,
                source=score.source,
                decision=verdict,
            )
            if verdict != "pass":
                flagged.append(evidence)
            best = worst.get(score.category)
            if best is None or score.score > best.score:
                worst[score.category] = evidence
        for evidence in worst.values():
            if evidence.decision != "pass":
                reasons.append(
                    f"{evidence.category} {evidence.score:.2f} at {evidence.time_s:.1f} s "
                    f"({evidence.source}) → {evidence.decision}"
                )
            decision = _max(decision, evidence.decision)
        failed = [f"{name}: {error}" for name, error in (failures or {}).items()]
        if failed:
            decision = _max(decision, "review")
            reasons += [f"classifier failed, a person must look: {f}" for f in failed]
        flagged.sort(key=lambda e: (e.time_s, e.category))
        return Verdict(
            decision=decision,
            reasons=reasons,
            evidence=sorted(worst.values(), key=lambda e: e.category),
            flagged=flagged,
            failures=failed,
        )

    def _decide(self, score: Score) -> Decision:
        threshold = self.thresholds.get(score.category)
        if threshold is None:
            return self.unknown_category if score.score > 0 else "pass"
        if score.score >= threshold.block:
            return "block"
        if score.score >= threshold.review:
            return "review"
        return "pass"


def _max(a: Decision, b: Decision) -> Decision:
    return a if _RANK[a] >= _RANK[b] else b


def for_shot(verdict: Verdict, shot: int) -> Verdict:
    """A clip's verdict as part of an item: times alone are ambiguous across shots."""
    return Verdict(
        decision=verdict.decision,
        reasons=[f"shot {shot}: {r}" for r in verdict.reasons],
        evidence=[e.model_copy(update={"shot": shot}) for e in verdict.evidence],
        flagged=[e.model_copy(update={"shot": shot}) for e in verdict.flagged],
        failures=verdict.failures,
    )


def combine(verdicts: list[Verdict]) -> Verdict:
    """An item's verdict from its clips' verdicts: the strictest wins, the evidence adds up.
    No verdict at all is no review at all: a person must look."""
    if not verdicts:
        return Verdict(decision="review", reasons=["no clip was reviewed"])
    decision: Decision = "pass"
    for verdict in verdicts:
        decision = _max(decision, verdict.decision)
    return Verdict(
        decision=decision,
        reasons=merge_shot_reasons([r for v in verdicts for r in v.reasons]),
        evidence=[e for v in verdicts for e in v.evidence],
        flagged=[e for v in verdicts for e in v.flagged],
        failures=list(dict.fromkeys(f for v in verdicts for f in v.failures)),
    )


_SHOT_REASON = re.compile(r"^shot (\d+): (.*)$", re.DOTALL)


def merge_shot_reasons(reasons: list[str]) -> list[str]:
    """One line per distinct reason, naming every shot it holds for: a classifier that cannot
    load fails on every shot with the same long error, and a reviewer should read it once
    ("shots 1–4: classifier failed …"), not once per shot."""
    shots: dict[str, list[int]] = {}
    for reason in reasons:
        match = _SHOT_REASON.match(reason)
        if match is None:
            shots.setdefault(reason, [])
            continue
        seen = shots.setdefault(match.group(2), [])
        if int(match.group(1)) not in seen:
            seen.append(int(match.group(1)))
    return [f"{_shots(numbers)}: {text}" if numbers else text for text, numbers in shots.items()]


def _shots(numbers: list[int]) -> str:
    """``shot 2``, ``shots 1–4``, ``shots 1, 3, 4``."""
    numbers = sorted(numbers)
    if len(numbers) == 1:
        return f"shot {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"shots {numbers[0]}–{numbers[-1]}"
    return "shots " + ", ".join(map(str, numbers))


def policy_from(overrides: dict[str, dict[str, float]]) -> Policy:
    """The default thresholds with a deployment's overrides (``WANFLOW_REVIEW_THRESHOLDS``)."""
    thresholds = dict(DEFAULT_THRESHOLDS)
    for category, values in overrides.items():
        base = thresholds.get(category)
        merged = {**(base.model_dump() if base else {}), **values}
        try:
            thresholds[category] = Threshold.model_validate(merged)
        except ValueError as exc:
            raise ValueError(f"WANFLOW_REVIEW_THRESHOLDS[{category!r}]: {exc}") from None
    return Policy(thresholds=thresholds)
