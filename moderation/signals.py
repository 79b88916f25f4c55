"""What the visual classifiers exchange: sampled frames in, per-frame scores out.

Every classifier takes a list of ``Frame`` and returns ``Score`` rows; anything it cannot do (no
weights, a crash, a timeout) it raises as ``ClassifierError`` or any exception, and the policy
turns that into a human review, never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

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


# Float images a hair outside [0, 1] (rounding, an unclamped VAE) are clipped, not refused.
_FLOAT_SLACK = 0.05
# PIL modes whose numbers are not intensities (palette indices, ink, other colour spaces).
_PIL_CONVERT = frozenset({"1", "P", "PA", "LA", "La", "CMYK", "YCbCr", "LAB", "HSV"})


def as_uint8(image: object) -> np.ndarray:
    """One image → contiguous uint8 RGB (H, W, 3), the only form classifiers read reliably.

    Accepted: uint8; float in [0, 1] (within ±0.05, clipped; NaN/inf refused); uint16 (full
    16-bit range, 65535 → 255); other integer types whose values already lie in 0..255;
    grayscale (H, W) or (H, W, 1), repeated to three channels; RGBA (H, W, 4), whose alpha is
    *dropped*, not composited, so nothing a transparent layer hides escapes review; PIL images
    (palette, CMYK and other encoded modes are converted by Pillow, not read as raw numbers).

    Float data in 0..255 is refused rather than guessed at: "max > 1 means 0..255" would read a
    [0, 1] frame that overshoots to 1.2 as almost black, which a classifier passes as harmless.
    """
    from PIL import Image

    if isinstance(image, Image.Image) and image.mode in _PIL_CONVERT:
        image = image.convert("RGB")
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (3, 4))) or 0 in x.shape:
        raise ValueError(
            f"an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {x.shape}"
            + (" (channels first? transpose to channels last)" if x.ndim == 3 else "")
        )
    if x.dtype == np.uint8:
        pass
    elif x.dtype == np.uint16:
        x = ((x.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(x.dtype, np.floating):
        lo, hi = float(x.min()), float(x.max())  # NaN and ±inf propagate to both
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"image of shape {x.shape} contains NaN or infinite values")
        if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            raise ValueError(
                f"float images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]: "
                "convert 0..255 data with .astype(np.uint8), [-1, 1] data with (x + 1) / 2"
            )
        x = np.round(np.clip(x.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    elif np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{x.dtype} images must hold values in 0..255, got [{lo}, {hi}] "
                "(uint16 is read as full 16-bit range)"
            )
        x = x.astype(np.uint8)
    else:
        raise ValueError(
            f"images must be uint8, uint16, another integer type in 0..255, or float in [0, 1]; "
            f"got dtype {x.dtype}"
        )
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    return np.ascontiguousarray(x[..., :3])
