"""Shots into one picture track: each clip normalised to the video's size and rate and extended
to its shot's length, then all joined with their transitions.

- :func:`normalise` letterboxes a clip to ``width``×``height`` (aspect kept, black bars),
  converts it to ``fps``, optionally slows it (``setpts``) and holds its last frame (``tpad``),
  and writes an intermediate. Intermediates are lossless H.264 (x264 ``-qp 0``, yuv420p, in MP4):
  the final encode is then the only lossy generation; x264's ultrafast lossless mode encodes and
  decodes faster than CRF 16 veryfast (about 2× and 2.5× on a grainy 720p clip) for files about
  2.5× larger; and MP4 keeps exact frame timestamps (Matroska rounds them to milliseconds).
  The input is decoded strictly (``-xerror -err_detect explode``), so a clip with corrupt media
  data is an error naming it rather than a run of grey frames.
- :func:`join` can also read a clip that needs no normalising (see :mod:`postprocess.picture`)
  as it is, holding its last frame itself (``holds``) and decoding it strictly (``strict``).
- :func:`join` lays the clips end to end. A transition overlaps two clips (ffmpeg ``xfade``); a
  cut (or ``None``) is a plain ``concat`` with no overlap. ``xfade`` with an offset past its first
  input's end drops the second input and exits 0, so offsets are computed from the clips' counted
  frames and the output's frame count is checked against the expected total.

Overlaps are whole frames (``transition_s`` is rounded to the frame grid), so every shot starts
on a frame and the video is ``sum(durations) - sum(overlaps)`` long, exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from postprocess.checks import video_frames
from postprocess.runner import path_arg, run, run_args
from wanflow.video import VideoError, commit_file, ffmpeg_exe, temp_beside

# Vocabulary ``[transition]`` ids → xfade transitions; ``None`` is a cut. "dissolve" is an
# editor's cross-dissolve (its aliases are "crossfade", "cross dissolve"): xfade's linear blend
# is called "fade", while xfade's "dissolve" is a grainy random-pixel effect. "fade" (淡入淡出,
# "fade through black") dips to black between the shots.
TRANSITIONS: dict[str, str | None] = {
    "fade": "fadeblack",
    "dissolve": "fade",
    "wipe": "wipeleft",
    "slide": "slideleft",
    "circle": "circleopen",
    "cut": None,
}
# Strict decoding: without -xerror, "-err_detect explode" makes ffmpeg 9 spin forever once its
# decoder thread fails, so the two always go together.
_STRICT_INPUT = {"err_detect": "explode"}
_STRICT_GLOBAL = ("-xerror",)
_EPS = 1e-6


class AssembleError(VideoError):
    """An output is not what its inputs promised (duration off by more than a frame), or the
    clips cannot be joined as asked; names the files and values involved."""


@dataclass(frozen=True)
class Segment:
    """An intermediate clip: ``frames`` at ``fps`` (so ``duration_s = frames / fps``)."""

    path: Path
    frames: int
    fps: float
    duration_s: float


@dataclass(frozen=True)
class Joined:
    """The joined picture track. ``starts_s[i]`` is where clip ``i`` begins in it (its incoming
    transition included); ``total_s`` is its length, checked against the written file."""

    path: Path
    frames: int
    fps: float
    total_s: float
    starts_s: list[float]
    overlaps_s: list[float]


def held_frames(hold_s: float, fps: float) -> int:
    """A hold of ``hold_s`` seconds in whole frames at ``fps``, as :func:`normalise` rounds it."""
    return round(hold_s * frame_rate(fps))


def normalise(
    clip: Path,
    out: Path,
    *,
    width: int,
    height: int,
    fps: float,
    hold_s: float = 0.0,
    slow_factor: float = 1.0,
    crf: int = 0,
    preset: str = "ultrafast",
    threads: int | None = None,
) -> Segment:
    """Write ``clip`` letterboxed to ``width``×``height`` at ``fps``, slowed by ``slow_factor``
    (≥ 1; 1.5 plays the clip at two thirds speed) and then holding its last frame for
    ``hold_s`` seconds (rounded to whole frames).

    ``crf=0`` is lossless. Raises :class:`~postprocess.runner.FFmpegError` naming the clip when
    it is unreadable or corrupt, and :class:`AssembleError` when the output's length is more
    than one frame from ``clip length × slow_factor + hold``.
    """
    clip, out = Path(clip), Path(out)
    _check_size(width, height)
    rate = frame_rate(fps)
    if not (math.isfinite(hold_s) and hold_s >= 0):
        raise ValueError(f"hold_s must be 0 or more seconds, got {hold_s!r}")
    if not (math.isfinite(slow_factor) and slow_factor >= 1):
        raise ValueError(f"slow_factor must be 1 or more, got {slow_factor!r}")
    _check_crf(crf)
    in_frames, in_rate = video_frames(clip)
    hold_frames = held_frames(hold_s, fps)
    expected_s = float(in_frames / in_rate) * slow_factor + float(hold_frames / rate)

    stream = (
        ffmpeg.input(path_arg(clip), **_STRICT_INPUT)
        .video.filter(
            "scale",
            width,
            height,
            force_original_aspect_ratio="decrease",
            force_divisible_by=2,
            flags="lanczos",
            out_color_matrix="bt709",
            out_range="tv",
        )
        .filter("pad", width, height, "(ow-iw)/2", "(oh-ih)/2", color="black")
        .filter("setsar", 1)
        .filter("setpts", f"(PTS-STARTPTS)*{slow_factor!r}")
        .filter("fps", str(rate))
    )
    if hold_frames:
        stream = stream.filter("tpad", stop_mode="clone", stop=hold_frames)
    stream = stream.filter("format", "yuv420p").filter("settb", str(1 / rate))
    what = f"normalise {clip}"
    with _staged(out) as tmp:
        output = stream.output(str(tmp), f="mp4", **x264_options(crf, preset, threads))
        run(output.global_args(*_STRICT_GLOBAL), what)
        frames, _ = video_frames(tmp)
        duration_s = float(frames / rate)
        if abs(duration_s - expected_s) > float(1 / rate) + _EPS:
            raise AssembleError(
                f"{what}: wrote {frames} frames ({duration_s:.3f} s) to {out}, expected "
                f"{expected_s:.3f} s ({in_frames} frames at {float(in_rate):g} fps × "
                f"{slow_factor} + {hold_frames} held)"
            )
    return Segment(out, frames, float(rate), duration_s)


def layout(
    clips: Sequence[Path],
    transitions: Sequence[str | None],
    out: Path,
    *,
    fps: float,
    transition_s: float = 0.5,
    holds: Sequence[int] | None = None,
) -> Joined:
    """What :func:`join` with the same arguments writes, worked out from the clips' frame counts
    without encoding (so the soundtrack can be made while the picture is). Raises ValueError
    as join does."""
    return _layout(clips, transitions, out, fps, transition_s, holds)[0]


def join(
    clips: Sequence[Path],
    transitions: Sequence[str | None],
    out: Path,
    *,
    fps: float,
    transition_s: float = 0.5,
    crf: int = 18,
    preset: str = "veryfast",
    threads: int | None = None,
    holds: Sequence[int] | None = None,
    strict: bool = False,
) -> Joined:
    """Join clips of one size and rate (see :func:`normalise`) into ``out`` (H.264 yuv420p MP4).
    ``holds[i]`` frames of clip ``i``'s last frame are added after it (none when ``None``).
    ``strict`` decodes as :func:`normalise` does: for clips that did not go through it.

    ``transitions[i]`` (a vocabulary id from :data:`TRANSITIONS`, or ``None`` for a cut) goes
    between ``clips[i]`` and ``clips[i + 1]``, overlapping them by ``transition_s`` rounded to
    whole frames at ``fps``. Raises ValueError for an unknown transition or for overlaps longer
    than a clip (a clip's incoming and outgoing overlaps together included), and
    :class:`AssembleError` when the written file is more than one frame from the expected length.
    """
    planned, frames, kinds, holds = _layout(clips, transitions, out, fps, transition_s, holds)
    clips, out, rate = [Path(c) for c in clips], Path(out), frame_rate(fps)
    graph = [
        f"[{i}:v]fps={rate},settb={1 / rate},setpts=PTS-STARTPTS,format=yuv420p"
        + (f",tpad=stop_mode=clone:stop={hold}" if hold else "")
        + f"[s{i}]"
        for i, hold in enumerate(holds)
    ]
    joined = "s0"
    for i, kind in enumerate(kinds):
        label = f"j{i}"
        if kind is None:
            graph.append(f"[{joined}][s{i + 1}]concat=n=2:v=1:a=0[{label}]")
        else:
            # The offset is on the joined stream's clock: where clip i + 1 starts.
            offset, duration = planned.starts_s[i + 1], planned.overlaps_s[i]
            graph.append(
                f"[{joined}][s{i + 1}]xfade=transition={kind}:duration={duration:.6f}"
                f":offset={offset:.6f}[{label}]"
            )
        joined = label
    command = [ffmpeg_exe(), "-hide_banner", "-nostats", "-nostdin", "-loglevel", "error"]
    reading = _as_args(_STRICT_INPUT) if strict else []
    command += _STRICT_GLOBAL if strict else ()
    for clip in clips:
        command += [*reading, "-i", path_arg(clip)]
    command += ["-filter_complex", ";".join(graph), "-map", f"[{joined}]"]
    command += [*_as_args(x264_options(crf, preset, threads)), "-f", "mp4"]
    with _staged(out) as tmp:
        run_args([*command, str(tmp)], f"join {len(clips)} clips into {out}")
        written, _ = video_frames(tmp)
        if written != planned.frames:
            overlaps = [round(o * rate) for o in planned.overlaps_s]
            raise AssembleError(
                f"join into {out}: wrote {written} frames ({float(written / rate):.3f} s), "
                f"expected {planned.frames} ({planned.total_s:.3f} s) from clips of {frames} "
                f"frames with overlaps {overlaps}"
            )
    return planned


def _layout(
    clips: Sequence[Path],
    transitions: Sequence[str | None],
    out: Path,
    fps: float,
    transition_s: float,
    holds: Sequence[int] | None,
) -> tuple[Joined, list[int], list[str | None], list[int]]:
    """The layout, each clip's frames (holds included), the xfade names and the holds."""
    clips, out = [Path(c) for c in clips], Path(out)
    rate = frame_rate(fps)
    if not clips:
        raise ValueError("join needs at least one clip")
    if len(transitions) != len(clips) - 1:
        raise ValueError(
            f"{len(clips)} clips need {len(clips) - 1} transitions, got {len(transitions)}"
        )
    kinds = [_xfade_name(t, i) for i, t in enumerate(transitions)]
    if not (math.isfinite(transition_s) and transition_s > 0):
        raise ValueError(f"transition_s must be a positive number of seconds, got {transition_s!r}")
    overlap_frames = max(1, round(transition_s * rate))
    holds = list(holds) if holds is not None else [0] * len(clips)
    if len(holds) != len(clips) or any(not isinstance(h, int) or h < 0 for h in holds):
        raise ValueError(f"holds must be {len(clips)} whole numbers of frames ≥ 0, got {holds}")
    frames = [_frames_at(clip, rate) + hold for clip, hold in zip(clips, holds, strict=True)]
    overlaps = [0 if kind is None else overlap_frames for kind in kinds]
    _check_overlaps(clips, frames, overlaps, transitions, rate)
    starts = [0]
    for i, overlap in enumerate(overlaps):
        starts.append(starts[i] + frames[i] - overlap)
    total = starts[-1] + frames[-1]
    planned = Joined(
        path=out,
        frames=total,
        fps=float(rate),
        total_s=float(total / rate),
        starts_s=[float(s / rate) for s in starts],
        overlaps_s=[float(o / rate) for o in overlaps],
    )
    return planned, frames, kinds, holds


def _xfade_name(transition: str | None, index: int) -> str | None:
    if transition is None:
        return None
    if transition not in TRANSITIONS:
        raise ValueError(
            f"transition {index} ({transition!r}) is not one of {', '.join(TRANSITIONS)} "
            "(or None for a cut)"
        )
    return TRANSITIONS[transition]


def _frames_at(clip: Path, rate: Fraction) -> int:
    count, clip_rate = video_frames(clip)
    if abs(clip_rate - rate) > Fraction(1, 1000):
        raise ValueError(
            f"{clip} is {float(clip_rate):g} fps, the video {float(rate):g}: normalise it first"
        )
    return count


def _check_overlaps(
    clips: list[Path],
    frames: list[int],
    overlaps: list[int],
    transitions: Sequence[str | None],
    rate: Fraction,
) -> None:
    """A transition longer than a clip would start before the clip does (xfade then quietly
    drops a clip); two transitions meeting inside a clip would show three shots at once."""
    for i, clip in enumerate(clips):
        incoming = overlaps[i - 1] if i > 0 else 0
        outgoing = overlaps[i] if i < len(overlaps) else 0
        if incoming + outgoing > frames[i]:
            names = [transitions[j] for j in (i - 1, i) if 0 <= j < len(overlaps) and overlaps[j]]
            raise ValueError(
                f"{clip} lasts {float(frames[i] / rate):.3f} s ({frames[i]} frames), shorter "
                f"than its transitions ({', '.join(names)}: "
                f"{float((incoming + outgoing) / rate):.3f} s); shorten transition_s or "
                "lengthen the shot"
            )


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A temporary path beside ``out``, renamed onto it only when the block succeeds: a failed
    or rejected encode leaves any earlier ``out`` as it was and no partial file."""
    tmp = temp_beside(out)
    try:
        yield tmp
        commit_file(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def x264_options(crf: int, preset: str, threads: int | None) -> dict[str, object]:
    """x264 output options (ffmpeg-python keywords) of Wanflow's encodes: yuv420p, tagged
    BT.709 as :func:`wanflow.video.write_mp4` tags clips, one frame out per frame in."""
    _check_crf(crf)
    # qp 0 is lossless at any x264 bit depth; crf 0 only in 8-bit builds.
    quality = {"qp": 0} if crf == 0 else {"crf": crf}
    return {
        "c:v": "libx264",
        **quality,
        "preset": preset,
        "pix_fmt": "yuv420p",
        "threads": threads or _threads(),
        "fps_mode": "passthrough",
        "colorspace": "bt709",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "color_range": "tv",
    }


def _as_args(options: dict[str, object]) -> list[str]:
    return [arg for key, value in options.items() for arg in (f"-{key}", str(value))]


def _threads() -> int:
    """The cores this process may use (a container's share, not the host's)."""
    return max(1, min(len(os.sched_getaffinity(0)), 16))


def frame_rate(fps: float) -> Fraction:
    """``fps`` as the exact rate it stands for (29.97 → 30000/1001)."""
    if not (isinstance(fps, int | float | Fraction) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


def _check_size(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)):
        raise ValueError(f"width and height must be integers, got {width!r}x{height!r}")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"yuv420p needs positive even width and height, got {width}x{height}")


def _check_crf(crf: int) -> None:
    if not (isinstance(crf, int) and 0 <= crf <= 51):
        raise ValueError(f"crf must be an integer 0–51 for 8-bit x264, got {crf!r}")
