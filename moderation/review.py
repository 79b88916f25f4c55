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
    """Every classifier's scores, failures by classifier name, and seconds each took.

    The classifiers run at the same time, each in its own thread and each under ``timeout_s``
    from the common start: their models release the GIL, and one model alone leaves a core
    idle part of the time (on 2 cores NudeNet and open_nsfw together took 0.43 s, in turn
    0.51 s). Results are gathered in the classifiers' order, whichever finishes first.
    """
    start = time.perf_counter()
    runs = [_Run(classifier, frames) for classifier in classifiers]
    scores: list[Score] = []
    failures: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for run in runs:
        outcome = run.result(deadline=start + timeout_s, timeout_s=timeout_s)
        if isinstance(outcome, list):
            scores += outcome
        else:
            failures[run.name] = outcome
        seconds[run.name] = round(run.seconds(), 3)
    return scores, failures, seconds


class _Run:
    """One classifier scoring in a daemon thread: one stuck in native code keeps running, but
    never holds the process open at exit."""

    def __init__(self, classifier: Classifier, frames: list[Frame]) -> None:
        self.name = classifier.name
        self._box: dict[str, object] = {}
        self._start = time.perf_counter()
        self._end: float | None = None

        def run() -> None:
            try:
                self._box["scores"] = classifier.score(frames)
            except Exception as exc:  # any failure is a failure to vouch for the clip
                self._box["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                self._end = time.perf_counter()

        self._thread = threading.Thread(target=run, name=f"review-{self.name}", daemon=True)
        self._thread.start()

    def result(self, *, deadline: float, timeout_s: float) -> list[Score] | str:
        """The scores, or why there are none."""
        self._thread.join(max(0.0, deadline - time.perf_counter()))
        if self._thread.is_alive():
            return f"timed out after {timeout_s:g} s"
        if "error" in self._box:
            return str(self._box["error"])
        scores = self._box.get("scores")
        if isinstance(scores, list):
            return scores
        return f"returned {type(scores).__name__}, not scores"

    def seconds(self) -> float:
        return (self._end or time.perf_counter()) - self._start


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
