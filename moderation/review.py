"""Reviewing one clip: sample its frames, ask every classifier, let the policy decide.

Each classifier runs under a time limit and in isolation: one that raises, times out or cannot
load is recorded as a failure, which the policy turns into a human review — a missing opinion
never counts as a clean one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from moderation.policy import Policy, Verdict
from moderation.signals import Classifier, Frame, Score


@dataclass
class ClipReview:
    verdict: Verdict
    frames: list[Frame]
    seconds: dict[str, float] = field(default_factory=dict)  # per classifier, and sampling

    def flagged_frames(self) -> dict[int, str]:
        """Frame index → the label a contact sheet draws on it (its worst category)."""
        labels: dict[int, tuple[float, str]] = {}
        for e in self.verdict.flagged:
            if e.frame not in labels or e.score > labels[e.frame][0]:
                labels[e.frame] = (e.score, f"{e.category} {e.score:.2f}")
        return {frame: label for frame, (_, label) in labels.items()}


def classify(
    frames: list[Frame], classifiers: list[Classifier], *, timeout_s: float
) -> tuple[list[Score], dict[str, str], dict[str, float]]:
    """Every classifier's scores, failures by classifier name, and seconds each took."""
    scores: list[Score] = []
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for classifier in classifiers:
        start = time.perf_counter()
        outcome = _run_with_limit(classifier, frames, timeout_s)
        if isinstance(outcome, list):
            scores += outcome
        else:
            failures[classifier.name] = outcome
        seconds[classifier.name] = round(time.perf_counter() - start, 3)
    return scores, failures, seconds


def _run_with_limit(classifier: Classifier, frames: list[Frame], timeout_s: float):
    """The classifier's scores, or why there are none. A daemon thread bounds the wait: one
    stuck in native code keeps running, but never holds the process open at exit."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["scores"] = classifier.score(frames)
        except Exception as exc:  # any failure is a failure to vouch for the clip
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, name=f"review-{classifier.name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return f"timed out after {timeout_s:g} s"
    if "error" in box:
        return str(box["error"])
    scores = box.get("scores")
    return scores if isinstance(scores, list) else f"returned {type(scores).__name__}, not scores"


def review_frames(
    frames: list[Frame], classifiers: list[Classifier], policy: Policy, *, timeout_s: float = 600
) -> ClipReview:
    if not frames:
        failures = {"sampling": "no frame could be sampled from the clip"}
        return ClipReview(policy.judge([], failures), frames)
    scores, failures, seconds = classify(frames, classifiers, timeout_s=timeout_s)
    if not classifiers:
        failures["policy"] = "no classifier is configured"
    return ClipReview(policy.judge(scores, failures), frames, seconds)
