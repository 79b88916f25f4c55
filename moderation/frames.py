"""Which frames of a clip the visual classifiers and the reviewers look at.

A clip is sampled at a regular ``rate`` (frames per second), always with its first and last
frame (openings and endings are where unsafe content most easily hides from a fixed grid), and
with every frame that starts a new shot: a one-second grid can step over a half-second cut.

Every image handed on is uint8 RGB (H, W, 3), through :func:`moderation.signals.as_uint8`.

Scene changes use one rule everywhere, ffmpeg's ``scene`` score: with ``mafd`` the mean absolute
difference between a frame and the one before it, as a fraction of full scale, the score is
``min(mafd, |mafd - previous mafd|)``. A cut (one large difference after small ones) scores high;
steady motion, pans and slow fades (differences that are large but *steady*) score near 0. A frame
whose score is greater than ``scene_threshold`` is a scene frame; 0.3 is ffmpeg's usual choice
and means, roughly, that 30 % of the picture's full brightness range changed at once.
"""

from __future__ import annotations

import math
import numbers
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from moderation.signals import Frame, FrameReason, as_uint8
from wanflow.video import VideoError, ffmpeg_exe

__all__ = [
    "MAX_PIXELS",
    "ClipTooLarge",
    "VideoError",
    "as_uint8",
    "check_clip",
    "frames_from_array",
    "sample_frames",
]

#: Largest frame reviewed (1920×1080; Wan2.2 renders at most 1280×720): the chosen frames are
#: held in memory at full size, up to ``max_frames`` of them, so the size bounds the memory.
MAX_PIXELS = 1920 * 1080

_STDERR_LINES = 15
# Side of the grey thumbnails compared by frames_from_array: enough to see a cut, cheap per frame.
_SCENE_SIDE = 64
_METADATA_LINE = re.compile(rb"^frame:\s*\d+\s+pts:\s*(\S+)\s+pts_time:\s*(\S+)")
_SPARE = 16  # candidates held beyond max_frames (grid ties); more are decoded again if chosen
_SCENE_LINE = re.compile(rb"^lavfi\.scene_score=(\S+)")


def _check_options(rate: float, scene_threshold: float, max_frames: int) -> None:
    if not (isinstance(rate, numbers.Real) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number of frames per second, got {rate!r}")
    if not (isinstance(scene_threshold, numbers.Real) and 0 <= scene_threshold <= 1):
        raise ValueError(f"scene_threshold must be in [0, 1], got {scene_threshold!r}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, numbers.Integral):
        raise ValueError(f"max_frames must be an integer, got {max_frames!r}")
    if max_frames < 2:
        raise ValueError(
            f"max_frames must be ≥ 2 (first and last are always kept), got {max_frames}"
        )


def _choose(
    times: np.ndarray, scores: np.ndarray, rate: float, scene_threshold: float, max_frames: int
) -> list[tuple[int, FrameReason]]:
    """Pick frames by priority: ends, then cuts, then the regular grid.

    Over ``max_frames``: the ends always stay; then the strongest cuts (highest score, earlier
    first on ties) up to the budget; the grid frames fill what is left, thinned to evenly spaced
    picks across the clip, so a long video is still seen from start to end, only more coarsely.
    """
    count = len(times)
    chosen: dict[int, FrameReason] = {0: "first"}
    chosen.setdefault(count - 1, "last")
    budget = max_frames - len(chosen)

    cuts = [i for i in range(1, count - 1) if scores[i] > scene_threshold]
    if len(cuts) > budget:
        cuts = sorted(sorted(cuts, key=lambda i: (-scores[i], i))[:budget])
    chosen.update(dict.fromkeys(cuts, "scene"))
    budget -= len(cuts)

    span = float(times[-1] - times[0])
    if span * rate + 1 >= count:  # the grid is at least as dense as the clip: every frame
        grid = np.arange(count)
    else:
        targets = times[0] + np.arange(math.floor(span * rate + 1e-9) + 1) / rate
        after = np.clip(np.searchsorted(times, targets), 1, count - 1)
        nearer_before = (targets - times[after - 1]) <= (times[after] - targets)
        grid = np.unique(np.where(nearer_before, after - 1, after))
    ticks = [int(i) for i in grid if int(i) not in chosen]
    if len(ticks) > budget:
        # Centred even picks: index ⌊(j + ½)·m/k⌋ of m ticks for j < k, distinct because m > k.
        ticks = [ticks[(2 * j + 1) * len(ticks) // (2 * budget)] for j in range(budget)]
    chosen.update(dict.fromkeys(ticks, "rate"))
    return sorted(chosen.items())


class ClipTooLarge(ValueError):
    """A clip larger or longer than review takes on, refused before anything is decoded."""


def _probe(path: Path) -> tuple[int, int, float, float, int]:
    """(width, height, seconds, frames per second, frame count) from headers; 0: not said."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / av.time_base
            rate = stream.average_rate or stream.guessed_rate
            return width, height, seconds, float(rate or 0), int(stream.frames or 0)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path} is not a readable video: {exc}") from exc


def check_clip(
    path: Path, *, max_pixels: int = MAX_PIXELS, max_seconds: float | None = None
) -> tuple[int, int, float, float, int]:
    """Refuse a clip whose frames are larger than ``max_pixels`` or whose container says it
    lasts longer than ``max_seconds``, from its headers alone (the scan checks the decoded
    length again: a header can understate it); else what :func:`_probe` read."""
    width, height, seconds, fps, count = _probe(path)
    if width * height > max_pixels:
        raise ClipTooLarge(
            f"{width}×{height} frames are larger than review takes ({max_pixels:,} pixels, "
            "e.g. 1920×1080); scale the video down first"
        )
    _check_length(seconds, max_seconds)
    return width, height, seconds, fps, count


def _check_length(seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise ClipTooLarge(
            f"{seconds:.1f} s is longer than review takes (WANFLOW_MAX_DURATION_S="
            f"{max_seconds:g} s)"
        )


def _run_error(path: Path, stderr: bytes, what: str) -> VideoError:
    tail = "\n".join(stderr.decode(errors="replace").splitlines()[-_STDERR_LINES:])
    return VideoError(f"{path} is not a readable video ({what}):\n{tail}")


def _ppm_frames(path: Path, stream: Any, what: str) -> Iterator[np.ndarray]:
    """Run ``stream`` (PPM frames on stdout) and yield each frame as uint8 RGB.

    PPM carries each frame's size, so sizes after ffmpeg's auto-rotation need no separate
    probe, and the conversion to RGB is ffmpeg's own, honouring the file's colour tags. Frames
    are read one at a time; the caller decides which to hold.
    """
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty stderr cannot block
        try:
            proc = subprocess.Popen(
                stream.compile(cmd=ffmpeg_exe()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        except OSError as exc:
            raise VideoError(f"cannot run ffmpeg ({ffmpeg_exe()}): {exc}") from exc
        with proc:
            assert proc.stdout is not None
            while True:
                header = [proc.stdout.readline() for _ in range(3)]
                if not header[0]:
                    break
                try:
                    width, height = map(int, header[1].split())
                    if header[0].strip() != b"P6" or int(header[2]) != 255:
                        raise ValueError
                except ValueError:
                    proc.kill()
                    raise VideoError(f"ffmpeg sent an unexpected frame header {header!r}") from None
                data = bytearray(width * height * 3)  # writable: no copy to hand on
                if proc.stdout.readinto(data) != len(data):
                    break
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
            returncode = proc.wait()
        err.seek(0)
        stderr = err.read()
    if returncode != 0:
        raise _run_error(path, stderr, what)


def _ppm_output(stream: Any) -> Any:
    quiet = ("-hide_banner", "-nostats", "-loglevel", "error")
    ppm = {"f": "image2pipe", "vcodec": "ppm", "pix_fmt": "rgb24", "fps_mode": "passthrough"}
    return stream.output("pipe:", **ppm).global_args(*quiet)


def _metadata(text: bytes) -> tuple[list[bytes], list[float], list[float]]:
    """Each printed frame's pts, time and scene score (0 where ffmpeg gave none)."""
    pts: list[bytes] = []
    times: list[float] = []
    scores: list[float] = []
    for line in text.splitlines():
        if m := _METADATA_LINE.match(line):
            pts.append(m.group(1))
            times.append(float(m.group(2)) if m.group(2) != b"NOPTS" else math.nan)
            scores.append(0.0)
        elif (m := _SCENE_LINE.match(line)) and scores:
            scores[-1] = float(m.group(1))
    return pts, times, scores


def _decode(
    path: Path, candidates: str, keep: int
) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """One strict decode of the whole file: every frame's time and scene score, and the images
    of up to ``keep`` frames that pass the ``select`` expression ``candidates``, by index.

    Decoding is strict (``-err_detect explode -xerror``): a file damaged inside its media data
    otherwise decodes "successfully" minus the damaged frames, and a sampler that skips frames
    without saying so is a hole in review. Every frame is scored and listed before the
    candidate ``select``, which computes the same score again (it sees the same frames).
    """
    with tempfile.TemporaryDirectory(prefix="wanflow-frames-") as tmp:
        every, chosen = Path(tmp) / "every.txt", Path(tmp) / "chosen.txt"
        stream = (
            ffmpeg.input(str(path), err_detect="explode")["V:0"]  # V: not cover art
            .filter("select", "1+0*isnan(scene)")  # keeps every frame, tags lavfi.scene_score
            .filter("metadata", mode="print", file=str(every))
            .filter("select", candidates)
            .filter("metadata", mode="print", file=str(chosen))
        )
        stream = _ppm_output(stream).global_args("-xerror")
        images: list[np.ndarray | None] = []
        for image in _ppm_frames(path, stream, "decoding failed"):
            images.append(image if len(images) < keep else None)  # read, but not held
        pts, times, scores = _metadata(every.read_bytes() if every.exists() else b"")
        picked = _metadata(chosen.read_bytes() if chosen.exists() else b"")[0]
    if not times:
        raise VideoError(f"{path} has a video stream but no decodable frames")
    index = {p: i for i, p in enumerate(pts)}
    kept: dict[int, np.ndarray] = {}  # matched by pts; anything ambiguous is decoded again
    matched = len(index) == len(pts) and len(picked) == len(images) and b"NOPTS" not in index
    if matched and all(p in index for p in picked):
        kept = {index[p]: im for p, im in zip(picked, images, strict=True) if im is not None}
    t = np.asarray(times, dtype=np.float64)
    if np.isnan(t).any():  # frames without timestamps: space all evenly at the known pace
        steps = np.diff(t[~np.isnan(t)])
        t = np.arange(len(t)) * (float(np.median(steps)) if len(steps) else 1 / 25)
    t = np.maximum.accumulate(t)  # the grid search needs times in order, even from odd files
    return t - t[0], np.asarray(scores, dtype=np.float64), kept


def _candidates(rate: float, scene_threshold: float, fps: float, count: int) -> str:
    """A ``select`` expression for every frame :func:`_choose` can pick, and a few more: the
    ends, cuts, and each frame within half a frame of a grid tick. It relies on the header's
    frame rate and count; a frame it misses is decoded again, never skipped."""
    terms = ["eq(n,0)", f"gt(scene,{scene_threshold!r})"]
    if count > 1:
        terms.append(f"eq(n,{count - 1})")
    if fps > 0:
        phase = f"(t-start_t)*{rate!r}"
        terms.append(f"lte(abs({phase}-round({phase})),{rate * (0.5 / fps + 1e-4)!r})")
    return "+".join(terms)


def _any_of(indices: Sequence[int]) -> str:
    """A ``select`` expression true on ``indices``: runs as ``between``, summed as a balanced
    tree, since ffmpeg refuses a long flat ``a+b+c+…`` chain (about 200 terms) as too deep."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    terms = [f"eq(n,{a})" if a == b else f"between(n,{a},{b})" for a, b in runs] or ["0"]
    while len(terms) > 1:
        pairs = zip(terms[::2], terms[1::2], strict=False)
        terms = [f"({a}+{b})" for a, b in pairs] + (terms[-1:] if len(terms) % 2 else [])
    return terms[0]


def _extract(path: Path, indices: Sequence[int]) -> list[np.ndarray]:
    """Decode once more and keep only ``indices`` (decode order, as counted by ``_decode``)."""
    expr = _any_of(indices)
    stream = _ppm_output(ffmpeg.input(str(path))["V:0"].filter("select", expr))
    images = list(_ppm_frames(path, stream, "extracting frames failed"))
    if len(images) != len(indices):
        raise VideoError(
            f"ffmpeg returned {len(images)} of the {len(indices)} frames selected from {path}"
        )
    return images


def sample_frames(
    path: Path,
    *,
    rate: float = 1.0,
    scene_threshold: float = 0.3,
    max_frames: int = 200,
    max_pixels: int = MAX_PIXELS,
    max_seconds: float | None = None,
) -> list[Frame]:
    """Frames of the video at ``path`` for visual review, sorted by time, each index once.

    Chosen: the first and last frame; every frame whose ffmpeg scene score (see the module
    docstring) exceeds ``scene_threshold``; and the frame nearest each multiple of ``1 / rate``
    seconds. A frame that qualifies twice keeps the stronger reason: first/last, then scene,
    then rate. ``max_frames`` (≥ 2) caps the list for long videos: ends are always kept, then the
    strongest cuts, and the regular frames are thinned evenly across the clip.

    One ffmpeg decode scores every frame (``scene`` in ``select``: C on every frame, no frames
    shipped to Python) and returns only the frames that can be chosen (:func:`_candidates`); a
    chosen frame it missed is decoded again, and a clip that needs thinning is scanned first,
    which bounds memory to about ``max_frames`` full-size images (200 of 720p: about 550 MB).
    ``index`` is the position in decoder output order; ``time_s`` counts from the first frame.

    Raises ``wanflow.video.VideoError`` when ``path`` is missing, is not a video, has no
    decodable video frames, or is damaged inside its media data; ``ValueError`` for bad options;
    :class:`ClipTooLarge` (before decoding) for frames over ``max_pixels`` or a clip over
    ``max_seconds``.
    """
    _check_options(rate, scene_threshold, max_frames)
    path = Path(path)
    _, _, seconds, fps, count = check_clip(path, max_pixels=max_pixels, max_seconds=max_seconds)
    fits = seconds * rate + 3 <= max_frames  # no thinning expected: every candidate may be kept
    candidates = _candidates(rate, scene_threshold, fps, count) if fits else "0"
    times, scores, images = _decode(path, candidates, keep=max_frames + _SPARE)
    _check_length(float(times[-1]), max_seconds)
    picks = _choose(times, scores, rate, scene_threshold, max_frames)
    missing = [i for i, _ in picks if i not in images]
    if missing:
        images.update(zip(missing, _extract(path, missing), strict=True))
    return [
        Frame(index=i, time_s=float(times[i]), image=images[i], reason=reason)
        for i, reason in picks
    ]


def _grey_small(image: np.ndarray) -> np.ndarray:
    """BT.709 luma in [0, 1], box-averaged to at most ~64 px a side: cuts show, noise averages."""
    luma = image.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32) / 255.0
    kh, kw = (max(1, math.ceil(side / _SCENE_SIDE)) for side in luma.shape)
    h, w = luma.shape[0] // kh * kh, luma.shape[1] // kw * kw
    return luma[:h, :w].reshape(h // kh, kh, w // kw, kw).mean(axis=(1, 3))


def frames_from_array(
    frames: np.ndarray,
    fps: float,
    *,
    rate: float = 1.0,
    scene_threshold: float = 0.3,
    max_frames: int = 200,
) -> list[Frame]:
    """The same selection as :func:`sample_frames` for frames already in memory (e.g. the
    generator's float output), so review needs no encode and tests need no file.

    ``frames`` is (F, H, W, C) or (1, F, H, W, C), anything :func:`as_uint8` accepts per frame;
    frame ``i`` is at ``i / fps`` seconds. The scene score is ffmpeg's rule applied to the mean
    absolute difference of downscaled grayscale frames (see the module docstring), so
    ``scene_threshold`` means the same here as for a file (the values differ a little: ffmpeg
    compares all YUV planes of the encoded frames).
    """
    _check_options(rate, scene_threshold, max_frames)
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    x = np.asarray(frames)
    if x.ndim == 5 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(
            f"frames must be a non-empty stack (F, H, W, C) or (1, F, H, W, C), got shape {x.shape}"
        )
    count = x.shape[0]
    scores = np.zeros(count)
    previous: np.ndarray | None = None
    prev_mafd = 0.0
    for i in range(count):  # one frame at a time: a float copy of a whole 720p clip is GBs
        grey = _grey_small(as_uint8(x[i]))
        if previous is not None:
            if grey.shape != previous.shape:
                raise ValueError(f"frame {i} is {grey.shape}, frame {i - 1} {previous.shape}")
            mafd = float(np.abs(grey - previous).mean())
            scores[i] = min(mafd, abs(mafd - prev_mafd))
            prev_mafd = mafd
        previous = grey
    times = np.arange(count) / fps
    picks = _choose(times, scores, rate, scene_threshold, max_frames)
    return [
        Frame(index=i, time_s=float(times[i]), image=as_uint8(x[i]), reason=reason)
        for i, reason in picks
    ]
