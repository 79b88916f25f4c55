"""Reviewing a clip's frames: classifiers in isolation, failures and timeouts fail closed."""

from __future__ import annotations

import time

import numpy as np

from moderation.policy import Policy
from moderation.review import classify, review_frames
from moderation.signals import ClassifierError, Frame, Score

FRAMES = [
    Frame(index=i, time_s=i / 16, image=np.zeros((8, 8, 3), np.uint8), reason="rate")
    for i in (0, 16, 32)
]


class Fixed:
    """A classifier that answers the same score for one frame."""

    def __init__(self, name: str, category: str, value: float, frame: int = 16):
        self.name, self.category, self.value, self.frame = name, category, value, frame

    def score(self, frames):
        f = next(f for f in frames if f.index == self.frame)
        return [Score(self.category, self.value, f.time_s, f.index, self.name)]


class Broken:
    name = "broken"

    def score(self, frames):
        raise ClassifierError("cannot load /models/x.onnx")


class Slow:
    name = "slow"

    def score(self, frames):
        time.sleep(2)
        return []


def test_clean_scores_pass_and_keep_the_frames():
    review = review_frames(FRAMES, [Fixed("a", "nudity", 0.05)], Policy())
    assert review.verdict.decision == "pass" and review.frames == FRAMES
    assert set(review.seconds) == {"a"}


def test_the_worst_classifier_decides_and_flags_its_frame():
    classifiers = [Fixed("a", "nudity", 0.05), Fixed("b", "violence", 0.6, frame=32)]
    review = review_frames(FRAMES, classifiers, Policy())
    assert review.verdict.decision == "review"
    assert review.flagged_frames() == {32: "violence 0.60"}


def test_a_classifier_that_raises_sends_the_clip_to_a_person():
    review = review_frames(FRAMES, [Fixed("a", "nudity", 0.0), Broken()], Policy())
    assert review.verdict.decision == "review"
    assert review.verdict.failures == ["broken: ClassifierError: cannot load /models/x.onnx"]


def test_a_classifier_that_times_out_sends_the_clip_to_a_person():
    start = time.perf_counter()
    review = review_frames(FRAMES, [Slow()], Policy(), timeout_s=0.2)
    assert time.perf_counter() - start < 1.5
    assert review.verdict.decision == "review"
    assert review.verdict.failures == ["slow: timed out after 0.2 s"]


def test_no_frames_or_no_classifiers_is_never_a_pass():
    assert review_frames([], [Fixed("a", "nudity", 0.0)], Policy()).verdict.decision == "review"
    assert review_frames(FRAMES, [], Policy()).verdict.decision == "review"


def test_a_classifier_that_returns_no_scores_is_a_failure():
    class Silent:
        name = "silent"

        def score(self, frames):
            return None

    review = review_frames(FRAMES, [Silent()], Policy())
    assert review.verdict.decision == "review"
    assert review.verdict.failures == ["silent: returned NoneType, not scores"]


def test_classifiers_score_at_the_same_time_and_report_in_their_order():
    import threading

    meeting = threading.Barrier(2, timeout=10)  # passed only if both are scoring at once

    class Meets(Fixed):
        def score(self, frames):
            meeting.wait()
            return super().score(frames)

    first, second = Meets("first", "nudity", 0.1), Meets("second", "violence", 0.2, frame=32)
    scores, failures, seconds = classify(FRAMES, [second, first], timeout_s=30)
    assert failures == {}
    assert [s.source for s in scores] == ["second", "first"]
    assert list(seconds) == ["second", "first"]
    meeting.reset()
    review = review_frames(FRAMES, [first, second], Policy())
    assert review.verdict.failures == [] and review.verdict.decision == "pass"
