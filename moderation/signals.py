"""What the visual classifiers exchange: sampled frames in, per-frame scores out.

Every classifier takes a list of ``Frame`` and returns ``Score`` rows; anything it cannot do (no
weights, a crash, a timeout) it raises as ``ClassifierError`` or any exception, and the policy
turns that into a human review, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

# Why a frame was sampled: the regular rate, the clip's ends, or a cut.
FrameReason = Literal["rate", "first", "last", "scene"]


@dataclass(frozen=True)
class Frame:
    """One decoded frame: RGB, uint8, (height, width, 3)."""

    index: int  # position in the clip's frame sequence
    time_s: float
    image: Any  # numpy.ndarray, uint8
    reason: FrameReason = "rate"


@dataclass(frozen=True)
class Score:
    """One classifier's confidence that one frame shows one unsafe category."""

    category: str  # nudity, sexual, violence, gore, blood, weapons …
    score: float  # 0..1
    time_s: float
    frame: int
    source: str  # which classifier and label, e.g. "nudenet:FEMALE_BREAST_EXPOSED"


class ClassifierError(RuntimeError):
    """A classifier that cannot give a verdict (no weights, failed to load, failed to run)."""


class Classifier(Protocol):
    name: str

    def score(self, frames: list[Frame]) -> list[Score]: ...
