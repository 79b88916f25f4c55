"""Which frames of a clip the visual classifiers and the reviewers look at.

A clip is sampled at a regular ``rate`` (frames per second), always with its first and last
frame (openings and endings are where unsafe content most easily hides from a fixed grid), and
with every frame that starts a new shot: a one-second grid can step over a half-second cut.

Every image handed on is uint8 RGB (H, W, 3). Classifiers fail silently on anything else
(NudeNet finds nothing in a float frame in [0, 1]), so :func:`as_uint8` is the one gate every
image passes through, and it refuses what it cannot convert without guessing.

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
from collections.abc import Sequence
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image

from moderation.signals import Frame, FrameReason
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
# Float images a hair outside [0, 1] (rounding, an unclamped VAE) are clipped, not refused.
_FLOAT_SLACK = 0.05
# Side of the grey thumbnails compared by frames_from_array: enough to see a cut, cheap per frame.
_SCENE_SIDE = 64
# PIL modes whose numbers are not intensities (palette indices, ink, other colour spaces).
_PIL_CONVERT = frozenset({"1", "P", "PA", "LA", "La", "CMYK", "YCbCr", "LAB", "HSV"})
_METADATA_LINE = re.compile(rb"^frame:\s*\d+\s+pts:\s*\S+\s+pts_time:\s*(\S+)")
_SCENE_LINE = re.compile(rb"^lavfi\.scene_score=(\S+)")


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


def check_clip(
    path: Path, *, max_pixels: int = MAX_PIXELS, max_seconds: float | None = None
) -> None:
    """Refuse a clip whose frames are larger than ``max_pixels`` or whose container says it
    lasts longer than ``max_seconds``, from its headers alone (the scan checks the decoded
    length again: a header can understate it)."""
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
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{path} is not a readable video: {exc}") from exc
    if width * height > max_pixels:
        raise ClipTooLarge(
            f"{width}×{height} frames are larger than review takes ({max_pixels:,} pixels, "
            "e.g. 1920×1080); scale the video down first"
        )
    _check_length(seconds, max_seconds)


def _check_length(seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise ClipTooLarge(
            f"{seconds:.1f} s is longer than review takes (WANFLOW_MAX_DURATION_S="
            f"{max_seconds:g} s)"
        )


def _run_error(path: Path, stderr: bytes, what: str) -> VideoError:
    lines = stderr.decode(errors="replace").splitlines()
    tail = "\n".join(lines[-_STDERR_LINES:])
    return VideoError(f"{path} is not a readable video ({what}):\n{tail}")


def _scan(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's time and scene score, in decode order, from one decode of the whole file.

    Decoding is strict (``-err_detect explode -xerror``): a file damaged inside its media data
    otherwise decodes "successfully" minus the damaged frames, and a sampler that skips frames
    without saying so is a hole in review.
    """
    stream = (
        ffmpeg.input(str(path), err_detect="explode")["V:0"]  # V: not cover art
        .filter("select", "1+0*isnan(scene)")  # keeps every frame, tags it lavfi.scene_score
        .filter("metadata", mode="print", file="pipe:1")
        .output("-", f="null")
        .global_args("-hide_banner", "-nostats", "-loglevel", "error", "-xerror")
    )
    try:
        out, _ = ffmpeg.run(stream, cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as exc:
        raise _run_error(path, exc.stderr or b"", "decoding failed") from exc
    except OSError as exc:
        raise VideoError(f"cannot run ffmpeg ({ffmpeg_exe()}): {exc}") from exc
    times: list[float] = []
    scores: list[float] = []
    for line in out.splitlines():
        if m := _METADATA_LINE.match(line):
            value = m.group(1)
            times.append(float(value) if value != b"NOPTS" else math.nan)
            scores.append(0.0)
        elif (m := _SCENE_LINE.match(line)) and scores:
            scores[-1] = float(m.group(1))
    if not times:
        raise VideoError(f"{path} has a video stream but no decodable frames")
    t = np.asarray(times, dtype=np.float64)
    if np.isnan(t).any():  # frames without timestamps: space all evenly at the known pace
        steps = np.diff(t[~np.isnan(t)])
        t = np.arange(len(t)) * (float(np.median(steps)) if len(steps) else 1 / 25)
    t = np.maximum.accumulate(t)  # the grid search needs times in order, even from odd files
    return t - t[0], np.asarray(scores, dtype=np.float64)


def _extract(path: Path, indices: Sequence[int]) -> list[np.ndarray]:
    """Decode once more and keep only ``indices`` (decode order, as counted by ``_scan``).

    Frames come back as PPM on a pipe: each carries its own size, so sizes after ffmpeg's
    auto-rotation need no separate probe, and the conversion to RGB is ffmpeg's own, honouring
    the file's colour tags. Frames are read one at a time, so memory holds the selection only.
    """
    expr = "+".join(f"eq(n,{i})" for i in indices)
    stream = (
        ffmpeg.input(str(path))["V:0"]
        .filter("select", expr)
        .output("pipe:", f="image2pipe", vcodec="ppm", pix_fmt="rgb24", fps_mode="passthrough")
        .global_args("-hide_banner", "-nostats", "-loglevel", "error")
    )
    images: list[np.ndarray] = []
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
                data = proc.stdout.read(width * height * 3)
                if len(data) != width * height * 3:
                    break
                images.append(np.frombuffer(data, np.uint8).reshape(height, width, 3).copy())
            returncode = proc.wait()
        err.seek(0)
        stderr = err.read()
    if returncode != 0:
        raise _run_error(path, stderr, "extracting frames failed")
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

    Two decodes by ffmpeg: one computes every frame's scene score and time (ffmpeg's ``scene``
    score in ``select``, rather than a numpy one, because it runs in C on every frame without
    shipping the frames to Python); the other returns only the chosen frames. ``index`` is the
    frame's position in the order the decoder outputs frames (presentation order); ``time_s`` is
    measured from the first frame. Images are full size: 200 frames of 720p hold about 550 MB.

    Raises ``wanflow.video.VideoError`` when ``path`` is missing, is not a video, has no
    decodable video frames, or is damaged inside its media data; ``ValueError`` for bad options;
    :class:`ClipTooLarge` (before decoding) for frames over ``max_pixels`` or a clip over
    ``max_seconds``.
    """
    _check_options(rate, scene_threshold, max_frames)
    path = Path(path)
    check_clip(path, max_pixels=max_pixels, max_seconds=max_seconds)
    times, scores = _scan(path)
    _check_length(float(times[-1]), max_seconds)
    picks = _choose(times, scores, rate, scene_threshold, max_frames)
    images = _extract(path, [i for i, _ in picks])
    return [
        Frame(index=i, time_s=float(times[i]), image=image, reason=reason)
        for (i, reason), image in zip(picks, images, strict=True)
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
