"""Reviewing one clip: sample its frames, ask every classifier, let the policy decide.

Each classifier runs under a time limit and in isolation: one that raises, times out or cannot
load is recorded as a failure, which the policy turns into a human review — a missing opinion
never counts as a clean one.
"""

from __future__ import annotations

import concurrent.futures
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
        # A worker thread bounds the wait; a classifier stuck in native code keeps its thread,
        # but the review goes on without it (and says so).
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            scores += pool.submit(classifier.score, frames).result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            failures[classifier.name] = f"timed out after {timeout_s:g} s"
        except Exception as exc:  # any failure is a failure to vouch for the clip
            failures[classifier.name] = f"{type(exc).__name__}: {exc}"
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            seconds[classifier.name] = round(time.perf_counter() - start, 3)
    return scores, failures, seconds


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
