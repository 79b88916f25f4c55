"""Keyframe items: a video that passes through several given images, one shot per gap.

Checked where the item is, so one row's mistake is that row's rejection: at least two images,
one prompt per gap, never both a single reference image and keyframes. Whether the images can be
read, and what they show, is checked where they are fetched, before any GPU time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_KEYFRAMES = 16  # images one item passes through: 15 shots, a minute and more of video

# Transition prompts hold commas, so a cell separates them by lines or a vertical bar.
_TRANSITION_SPLIT = re.compile(r"[\n|｜]")


def parse_images(value: Any, split: re.Pattern[str], check_key: Callable[[Any], Any]) -> Any:
    """Keyframe keys in order: a list, or one cell split as tags are (``a.png, b.png``), each
    checked as the single ``image`` key is."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in split.split(value) if part.strip()]
    if not isinstance(value, list):
        return value
    checked = []
    for number, key in enumerate(value, start=1):
        if not isinstance(key, str):
            raise ValueError(f"keyframe {number} is not a bucket key (got {key!r})")
        try:
            checked.append(check_key(key))
        except ValueError as exc:
            raise ValueError(f"keyframe {number}: {exc}") from None
    return checked


def parse_transitions(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in _TRANSITION_SPLIT.split(value) if part.strip()]
    return value


def check_keyframes(images: list[str] | None, data: dict[str, Any]) -> list[str] | None:
    """A keyframe item's images against the fields validated before them (``data``): each gap
    between two keyframes is one shot and needs one prompt (a transition, or else a narration
    sentence, which the prompt stage counts)."""
    if images is None:
        return None
    if data.get("image") is not None:
        raise ValueError("give either image (one reference image) or images (keyframes), not both")
    if len(images) < 2:
        raise ValueError(
            f"keyframes need at least two images (got {len(images)}); for one reference "
            "image use the image column"
        )
    if len(images) > MAX_KEYFRAMES:
        raise ValueError(f"{len(images)} keyframes; the limit is {MAX_KEYFRAMES}")
    gaps = len(images) - 1
    transitions = data.get("transitions")
    if transitions is not None and len(transitions) != gaps:
        raise ValueError(
            f"{len(images)} keyframes make {gaps} transition(s), one prompt each; "
            f"transitions has {len(transitions)}"
        )
    given = "transitions" in data and "narration" in data  # both read well
    if given and transitions is None and not data["narration"]:
        raise ValueError(
            f"{len(images)} keyframes make {gaps} transition(s): give transitions (one "
            f"prompt per gap) or a narration of {gaps} sentence(s)"
        )
    return images
