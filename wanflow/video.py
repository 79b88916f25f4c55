"""Generated frames → MP4 (H.264, yuv420p) and PNG, and an exact probe of what was written.

Frames reach ffmpeg as raw rgb24 on stdin, so no intermediate image files are written and the
frame rate is whatever the caller says (a rawvideo input has no timestamps of its own). Files are
written beside their target and renamed into place, so a reader never sees half a video.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import ffmpeg
import imageio_ffmpeg
import numpy as np
from PIL import Image

_STDERR_LINES = 15


class VideoError(RuntimeError):
    """ffmpeg failed, or a file is not a video we can read; carries ffmpeg's own last words."""


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str
    duration_s: float


# The binary an entry point chose from the settings it read (the ``ffmpeg`` setting,
# ``WANFLOW_FFMPEG``); encoding, frame sampling and post-production all run it.
_CHOSEN: ContextVar[str | None] = ContextVar("wanflow_ffmpeg", default=None)


@functools.cache
def bundled_ffmpeg() -> str:
    """imageio-ffmpeg's static build (machines have no system ffmpeg); read once per process, so
    ``IMAGEIO_FFMPEG_EXE`` must be set before the first call."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_exe() -> str:
    """The one place every ffmpeg run asks which binary to start: the block's
    :func:`using_ffmpeg` choice, else imageio-ffmpeg's."""
    return _CHOSEN.get() or bundled_ffmpeg()


@contextmanager
def using_ffmpeg(binary: str | None) -> Iterator[str]:
    """Run this block's ffmpeg commands with ``binary`` (None: imageio-ffmpeg's). The caller
    passes the ``ffmpeg`` setting it holds, so no library code reads settings of its own."""
    token = _CHOSEN.set(binary or None)
    try:
        yield ffmpeg_exe()
    finally:
        _CHOSEN.reset(token)


def to_uint8(frames: object) -> np.ndarray:
    """Normalise pipeline output to what ffmpeg's rgb24 input expects, refusing anything that
    would encode as garbage instead (NaN from a diverged sampler would silently become black)."""
    x = np.asarray(frames)
    if x.ndim == 5 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 4 or x.shape[-1] != 3 or 0 in x.shape:
        raise ValueError(f"frames must be (F, H, W, 3) or (1, F, H, W, 3), got shape {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"frames must be float in [0, 1] or uint8, got dtype {x.dtype}")
    lo, hi = x.min(), x.max()  # NaN and ±inf propagate, without a full-size boolean mask
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"frames of shape {x.shape} contain NaN or infinite values")
    out = np.empty(x.shape, dtype=np.uint8)
    for i, frame in enumerate(x):  # one frame at a time: a float copy of a 720p clip is GBs
        out[i] = np.round(np.clip(frame.astype(np.float32), 0.0, 1.0) * 255.0)
    return out


def temp_beside(path: Path) -> Path:
    """Same directory, so ``os.replace`` is an atomic rename; hidden and unique, so concurrent
    writers and directory listings never pick it up."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")


def commit_file(tmp: Path, path: Path) -> None:
    """fsync before rename: otherwise a power cut can leave an empty file under the final name."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _threads() -> int:
    """x264's default is 1.5 × the cores it sees, and in a container it sees the host's; the
    cores this process may run on (2 on the compose box) keep it from crowding other stages."""
    return max(1, min(len(os.sched_getaffinity(0)), 16))


def write_mp4(
    frames: object, path: Path, fps: float, *, crf: int = 18, preset: str = "medium"
) -> Path:
    """Encode so that the file has exactly one frame per input frame at exactly ``fps``, tagged
    BT.709 so players (which assume 709 for HD) show the colours Wan made."""
    data = to_uint8(frames)
    count, height, width, _ = data.shape
    if width % 2 or height % 2:
        raise ValueError(
            f"yuv420p needs even width and height, got {width}x{height} "
            "(Wan sizes are multiples of 16: an odd size is a bug upstream)"
        )
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not 0 <= crf <= 51:  # x264 silently clamps crf=99 to 51 and exits 0: refuse it here
        raise ValueError(f"crf must be 0–51 for 8-bit x264, got {crf!r}")
    rate = Fraction(fps).limit_denominator(1001)  # 24000/1001 survives the trip through float
    path = Path(path)
    tmp = temp_beside(path)
    # Exact frames: raw input has no timestamps, so -framerate stamps frame i at i/fps; the encoder
    # inherits that rate, and fps_mode passthrough forbids the muxer to dup or drop frames to meet
    # any other rate. Colour: scale converts with the BT.709 matrix and the output options tag it
    # (ffmpeg ≥ 7.1 negotiates either from the other; older binaries need both).
    stream = (
        ffmpeg.input("pipe:", f="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=rate)
        .filter("scale", out_color_matrix="bt709", out_range="tv")
        .output(
            str(tmp),
            f="mp4",
            vcodec="libx264",
            pix_fmt="yuv420p",
            crf=crf,
            preset=preset,
            threads=_threads(),
            fps_mode="passthrough",
            colorspace="bt709",
            color_primaries="bt709",
            color_trc="bt709",
            color_range="tv",
            movflags="+faststart",
            an=None,
        )
        .global_args("-hide_banner", "-nostats", "-loglevel", "warning")
        .overwrite_output()
    )
    try:
        try:
            # A flat byte view of the array: subprocess writes it to ffmpeg without a copy.
            ffmpeg.run(
                stream, cmd=ffmpeg_exe(), input=memoryview(data).cast("B"), capture_stderr=True
            )
        except ffmpeg.Error as exc:
            lines = (exc.stderr or b"").decode(errors="replace").splitlines()
            tail = "\n".join(lines[-_STDERR_LINES:])
            raise VideoError(f"ffmpeg failed to write {path}:\n{tail}") from exc
        except OSError as exc:
            raise VideoError(f"cannot run ffmpeg ({ffmpeg_exe()}): {exc}") from exc
        written = _count_packets(tmp)
        if written != count:
            raise VideoError(f"ffmpeg wrote {written} frames to {path}, expected {count}")
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_png(frame: object, path: Path) -> Path:
    """Keyframes and review stills are lossless, so what a reviewer sees is what Wan produced."""
    x = np.asarray(frame)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"a frame must be (H, W, 3), got shape {x.shape}")
    image = Image.fromarray(to_uint8(x[None])[0])
    path = Path(path)
    tmp = temp_beside(path)
    try:
        image.save(tmp, format="PNG")
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def _video_stream(path: Path) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """One place that turns PyAV's many error types into VideoError naming the file."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield container, stream
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path} is not a readable video: {exc}") from exc


def _count_packets(path: Path) -> int:
    """Demuxing is enough to count an H.264 MP4's frames (one packet each) and costs no decode."""
    with _video_stream(path) as (container, stream):
        return sum(1 for p in container.demux(stream) if p.size)


def probe(path: Path) -> VideoInfo:
    """Frames are counted by decoding: container headers estimate, and off-by-one is the bug
    this guards against."""
    with _video_stream(path) as (container, stream):
        frames = sum(1 for _ in container.decode(stream))
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:  # containers without per-stream durations (raw streams, some WebMs)
            duration = (container.duration or 0) / av.time_base
    if frames == 0:
        raise VideoError(f"{path} has a video stream but no decodable frames")
    return VideoInfo(
        frames=frames,
        fps=float(rate) if rate else 0.0,
        width=ctx.width,
        height=ctx.height,
        codec=ctx.name,
        pix_fmt=ctx.pix_fmt or "",
        duration_s=duration,
    )


def read_frames(path: Path) -> np.ndarray:
    """Decoded RGB in stream order; PyAV converts with the file's own colour tags (BT.709 here),
    so a round trip through write_mp4 comes back as the colours that went in."""
    with _video_stream(path) as (container, stream):
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not decoded:
        raise VideoError(f"{path} has a video stream but no decodable frames")
    return np.stack(decoded)
