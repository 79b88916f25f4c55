"""Shot lengths from measured narration: frame counts for the generator, extensions, timeline.

The narration is spoken before the clips are generated, so each shot can be as long as its
speech needs. Rules:

- Speech never plays during a transition: a shot's narration starts after its incoming
  transition has ended and ends before its outgoing one begins. Padding (``lead_s`` before,
  ``tail_s`` after) is silence at the shot's edges, and so is a transition, so the longer of the
  two applies at each edge: a narrated shot needs ``max(lead, in) + speech + max(tail, out)``
  seconds, where ``in``/``out`` are its transitions' overlaps (0 at the ends of the video).
- A narrated shot lasts what it needs (at least ``min_shot_s``); its planned length, a reading
  time estimate, no longer matters. A shot without narration keeps its planned length (at least
  ``min_shot_s``, and at least ``in + out`` so its two transitions do not overlap).
- Wan2.2 decodes only 4k+1 frames: the clip gets the fewest 4k+1 frames that cover the shot
  (``frames / fps >= duration``), at most ``max_frames``; the few frames over are kept.
- A shot longer than its longest clip is extended: ``"hold"`` freezes the last frame (ffmpeg
  ``tpad=stop_mode=clone``) for whole frames; ``"slow"`` slows the clip (``setpts=PTS*factor``)
  up to ``max_slow``, then holds the rest. Motion slowed further looks broken.
- Transitions overlap neighbouring shots (``xfade``), so the video is ``sum(durations) -
  sum(overlaps)`` long and shot ``i + 1`` starts ``overlap_i`` before shot ``i`` ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Policy = Literal["hold", "slow"]
POLICIES = ("hold", "slow")
MAX_SLOW = 1.5
_EPS = 1e-9


@dataclass(frozen=True)
class ShotTiming:
    """One shot's lengths in seconds. ``index`` is 1-based, as ``Shot.index``.

    ``clip_s`` is ``num_frames / fps``, what the generator renders; ``duration_s`` is what the
    shot lasts on the timeline before overlaps: ``clip_s * slow_factor + hold_s``.
    """

    index: int
    speech_s: float
    duration_s: float
    num_frames: int
    clip_s: float
    hold_s: float
    slow_factor: float

    @property
    def extended(self) -> bool:
        return self.hold_s > 0 or self.slow_factor > 1


@dataclass(frozen=True)
class Timeline:
    """Shots laid end to end with their transitions; all times in seconds from the video start.

    ``transitions_s[i]`` is the overlap between shot ``i`` and ``i + 1`` (0-based lists);
    ``starts_s[i]`` is where shot ``i`` begins (its incoming transition included) and
    ``speech_starts_s[i]`` where its narration begins.
    """

    shots: list[ShotTiming]
    transitions_s: list[float]
    starts_s: list[float]
    speech_starts_s: list[float]
    total_s: float

    def speech_ends_s(self) -> list[float]:
        return [
            at + shot.speech_s for at, shot in zip(self.speech_starts_s, self.shots, strict=True)
        ]


def frames_covering(seconds: float, fps: int, max_frames: int) -> int:
    """The fewest 4k+1 frames (at least 5) lasting ``seconds`` at ``fps``, at most ``max_frames``.

    ``max_frames`` must itself be 4k+1 (81 for the A14B models at 16 fps, 121 for TI2V-5B at 24).
    """
    _check_frames(fps, max_frames)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    k = max(1, math.ceil((seconds * fps - 1) / 4 - _EPS))
    return min(4 * k + 1, max_frames)


def extension(
    clip_s: float, needed_s: float, fps: int, policy: Policy = "hold", max_slow: float = MAX_SLOW
) -> tuple[float, float]:
    """``(slow_factor, hold_s)`` that stretch a ``clip_s`` clip to at least ``needed_s``.

    Holds are whole frames at ``fps``; a slow factor is rounded up to 4 decimals (what goes into
    ``setpts``), so the result is never short. ``(1.0, 0.0)`` when the clip is long enough.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if not (math.isfinite(max_slow) and max_slow >= 1):
        raise ValueError(f"max_slow must be a factor of 1 or more, got {max_slow!r}")
    if clip_s <= 0:
        raise ValueError(f"clip_s must be positive, got {clip_s!r}")
    if needed_s <= clip_s + _EPS:
        return 1.0, 0.0
    slow = 1.0
    if policy == "slow":
        slow = min(math.ceil(needed_s / clip_s * 10_000 - _EPS) / 10_000, max_slow)
    short = needed_s - clip_s * slow
    hold = math.ceil(short * fps - _EPS) / fps if short > _EPS else 0.0
    return slow, hold


def time_shots(
    speech_s: Sequence[float],
    planned_s: Sequence[float],
    *,
    fps: int,
    max_frames: int,
    min_shot_s: float = 2.0,
    lead_s: float = 0.3,
    tail_s: float = 0.3,
    transitions_s: Sequence[float] | None = None,
    policy: Policy = "hold",
    max_slow: float = MAX_SLOW,
) -> Timeline:
    """Each shot's frames and extension, and where it and its narration sit in the video.

    ``speech_s[i]`` is shot ``i``'s narration in seconds (0: none), ``planned_s[i]`` its planned
    length (used only without narration), ``transitions_s`` the ``len - 1`` overlaps between
    neighbours (default: hard cuts). Raises ValueError naming the first bad value.
    """
    count = len(speech_s)
    overlaps = [0.0] * max(count - 1, 0) if transitions_s is None else list(transitions_s)
    _check_shots(speech_s, planned_s, overlaps, min_shot_s, lead_s, tail_s)
    overlaps = [float(t) for t in overlaps]
    _check_frames(fps, max_frames)
    shots, starts, speech_starts, at = [], [], [], 0.0
    for i, (speech, planned) in enumerate(zip(speech_s, planned_s, strict=True)):
        incoming = overlaps[i - 1] if i else 0.0
        outgoing = overlaps[i] if i < count - 1 else 0.0
        if speech > 0:
            needed = max(lead_s, incoming) + speech + max(tail_s, outgoing)
            needed = max(needed, min_shot_s)
        else:
            needed = max(planned, min_shot_s, incoming + outgoing)
        frames = frames_covering(needed, fps, max_frames)
        clip = frames / fps
        slow, hold = extension(clip, needed, fps, policy, max_slow)
        shot = ShotTiming(i + 1, float(speech), clip * slow + hold, frames, clip, hold, slow)
        shots.append(shot)
        starts.append(at)
        speech_starts.append(at + max(lead_s, incoming))
        at += shot.duration_s - outgoing
    return Timeline(shots, overlaps, starts, speech_starts, at)


def _check_frames(fps: int, max_frames: int) -> None:
    if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
        raise ValueError(f"fps must be a positive whole number, got {fps!r}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 5:
        raise ValueError(f"max_frames must be a whole number of at least 5, got {max_frames!r}")
    if max_frames % 4 != 1:
        nearest = max_frames - (max_frames - 1) % 4
        raise ValueError(f"max_frames must be 4k+1 (e.g. {nearest}), got {max_frames}")


def _seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")


def _check_shots(
    speech_s: Sequence[float],
    planned_s: Sequence[float],
    overlaps: list[float],
    min_shot_s: float,
    lead_s: float,
    tail_s: float,
) -> None:
    if not speech_s:
        raise ValueError("no shots: speech_s is empty")
    if len(planned_s) != len(speech_s):
        raise ValueError(
            f"planned_s has {len(planned_s)} values for {len(speech_s)} shots (speech_s)"
        )
    if len(overlaps) != len(speech_s) - 1:
        raise ValueError(
            f"transitions_s has {len(overlaps)} values; {len(speech_s)} shots need "
            f"{len(speech_s) - 1} (one between each pair)"
        )
    for name, value in (("min_shot_s", min_shot_s), ("lead_s", lead_s), ("tail_s", tail_s)):
        _seconds(name, value)
    for n, (speech, planned) in enumerate(zip(speech_s, planned_s, strict=True), 1):
        _seconds(f"speech_s of shot {n}", speech)
        _seconds(f"planned_s of shot {n}", planned)
    for n, overlap in enumerate(overlaps, 1):
        _seconds(f"transition {n} (between shots {n} and {n + 1})", overlap)


__all__ = [
    "MAX_SLOW",
    "POLICIES",
    "Policy",
    "ShotTiming",
    "Timeline",
    "extension",
    "frames_covering",
    "time_shots",
]
