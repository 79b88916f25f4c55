"""A keyframe item's input images, read with bounds and judged by the visual classifiers before
any GPU time is spent on them.

A keyframe is drawn as it is into the video (the shot starts on it, and may end on it), so an
unsafe one is an unsafe video: the item is blocked before generation. The same classifiers and
policy judge it as judge the finished clips, and the same failure rule holds: a classifier that
cannot give an opinion sends the item to a person, never through alone. A file that cannot be
read as a picture of a sane size fails its item with the reason; it is sized from its byte count
and its header before any pixel is decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moderation.policy import Policy, Verdict
from moderation.review import review_frames
from moderation.signals import Classifier, Frame

MAX_KEYFRAME_BYTES = 50 * 2**20  # a 8192x8192 PNG of a photograph is about 100-200 MB; a JPEG 20


class KeyframeError(ValueError):
    """A keyframe that cannot be used; the message says which and why."""


REVIEW_SIDE = 1280  # the classifiers look at 224-640 px; sixteen 8K keyframes are 3 GB decoded


def read_keyframe(path: Path, *, name: str, max_bytes: int, max_pixels: int) -> np.ndarray:
    """The picture as RGB uint8 (height, width, 3), no longer than ``REVIEW_SIDE`` either way.
    Its byte count and the size its header states are checked first, so an oversized or lying
    file is refused undecoded."""
    from PIL import Image

    size = Path(path).stat().st_size
    if size > max_bytes:
        raise KeyframeError(f"{name} is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:g}")
    if size == 0:
        raise KeyframeError(f"{name} is empty")
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            if width * height > max_pixels:
                raise KeyframeError(
                    f"{name} is {width}x{height}, over {max_pixels} pixels; scale it down"
                )
            image.draft("RGB", (REVIEW_SIDE, REVIEW_SIDE))  # a JPEG decodes at a fraction
            rgb = image.convert("RGB")
            rgb.thumbnail((REVIEW_SIDE, REVIEW_SIDE))
            picture = np.asarray(rgb, dtype=np.uint8)
    except KeyframeError:
        raise
    except Image.DecompressionBombError:
        raise KeyframeError(f"{name} claims more pixels than can be decoded safely") from None
    except (OSError, ValueError) as exc:
        raise KeyframeError(f"{name} is not a picture that can be read ({exc})") from None
    if picture.ndim != 3 or min(picture.shape[:2]) < 1:
        raise KeyframeError(f"{name} has no pixels")
    return picture


def screen_keyframes(
    pictures: list[np.ndarray],
    names: list[str],
    classifiers: list[Classifier],
    policy: Policy,
    *,
    timeout_s: float = 600,
) -> Verdict:
    """The keyframes judged together, one frame each: the policy's verdict, with reasons that
    name the keyframe (its number and key) rather than a time in a clip."""
    frames = [
        Frame(index=k, time_s=0.0, image=picture, reason="first")
        for k, picture in enumerate(pictures)
    ]
    verdict = review_frames(frames, classifiers, policy, timeout_s=timeout_s).verdict
    reasons = [
        f"keyframe {e.frame + 1} ({names[e.frame]}): {e.category} {e.score:.2f} ({e.source}) "
        f"→ {e.decision}"
        for e in verdict.flagged  # every keyframe and category at or over a threshold
    ]
    reasons += [f"classifier failed, a person must look: {f}" for f in verdict.failures]
    return verdict.model_copy(update={"reasons": reasons})
