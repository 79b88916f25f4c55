"""The picture track of a story, encoded while its soundtrack is made.

A clip that already is what the video needs (:meth:`ClipInfo.fits`: its size and rate, yuv420p
BT.709 limited range, square pixels, frames evenly ``1/fps`` apart, read from its header and
packets without decoding) and needs no slowing skips :func:`~postprocess.assemble.normalise`:
join reads it as it is, holding its last frame itself and decoding it strictly, so its frames
reach the final encode unchanged and no lossless intermediate is written and decoded again.
Other clips are normalised first.

Where every shot starts and how long the video lasts follow from frame counts before anything is
encoded (:func:`~postprocess.assemble.layout`), so :func:`encoding` hands them over at once and
joins in a background thread while the caller mixes the soundtrack to those times. A join that
fails or comes out other than laid out is done again from normalised clips (which names a
corrupt one); :meth:`Picture.result` then returns that picture, whose times the caller compares.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av

from postprocess.assemble import (
    AssembleError,
    Joined,
    frame_rate,
    held_frames,
    join,
    layout,
    normalise,
)
from postprocess.runner import FFmpegError, Group, in_group
from wanflow.video import VideoError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipInfo:
    """A clip as its header and packets describe it. ``frames`` counts packets with data (one
    per frame for H.264 in MP4); ``duration_s`` is the stream's stated length."""

    frames: int
    rate: Fraction
    width: int
    height: int
    duration_s: float
    ready: bool  # yuv420p, BT.709, limited range, square pixels, frames evenly 1/rate apart

    def fits(self, width: int, height: int, fps: float) -> bool:
        """Whether :func:`normalise` would only copy this clip's frames (so it can be skipped)."""
        size_and_rate = (self.width, self.height, self.rate) == (width, height, frame_rate(fps))
        return self.ready and size_and_rate


def inspect(clip: Path) -> ClipInfo:
    """Read ``clip``'s stream header and packet timestamps (no decoding). Raises VideoError
    naming the file when it cannot be read or has no frames."""
    try:
        with av.open(str(clip)) as container:
            if not container.streams.video:
                raise VideoError(f"{clip} has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
            stamps, skipped = [], False
            for packet in container.demux(stream):
                if packet.size:
                    skipped |= packet.is_discard or packet.pts is None
                    stamps.append(packet.pts or 0)
            base = stream.time_base
            square = stream.sample_aspect_ratio in (None, 0, 1)
            colour = (ctx.pix_fmt, ctx.color_range, ctx.colorspace)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{clip} is not a readable video: {exc}") from exc
    if not rate or not stamps:
        raise VideoError(f"{clip} has a video stream with no frames or no frame rate")
    rate = Fraction(rate)
    stamps.sort()
    # Frames exactly 1/rate apart: join's fps filter then passes every one through unchanged.
    even = base is not None and all((b - a) * base == 1 / rate for a, b in pairwise(stamps))
    ready = even and not skipped and square and colour == ("yuv420p", 1, 1)
    return ClipInfo(len(stamps), rate, ctx.width, ctx.height, duration, ready)


@dataclass(frozen=True)
class Settings:
    """How the shots are joined: the video's size and rate, the encode, the transitions."""

    width: int
    height: int
    fps: float
    transition_s: float
    crf: int
    preset: str


@dataclass
class Picture:
    """A picture track being encoded. ``planned`` says where its shots start and how long it
    lasts; :meth:`result` waits for the file. ``join_s`` is how long the encode took."""

    planned: Joined
    future: Future[Joined]
    join_s: float = 0.0

    def result(self) -> Joined:
        return self.future.result()


@contextmanager
def encoding(
    clips: Sequence[Path],
    extensions: Sequence[tuple[float, float]],
    transitions: Sequence[str | None],
    work: Path,
    settings: Settings,
    infos: Sequence[ClipInfo],
) -> Iterator[Picture]:
    """Normalise the clips that need it (slowed by ``extensions[i][0]``, held
    ``extensions[i][1]`` seconds), then join them into ``work/picture.mp4`` in a background
    thread; the block runs meanwhile, and its end waits for the join to finish (stopping it
    first when the block raised)."""
    direct = [
        slow == 1 and info.fits(settings.width, settings.height, settings.fps)
        for info, (slow, _) in zip(infos, extensions, strict=True)
    ]
    plan = _shots(clips, extensions, direct, work, settings)
    planned = layout(
        [path for path, _ in plan],
        [t or "cut" for t in transitions],
        work / "picture.mp4",
        fps=settings.fps,
        transition_s=settings.transition_s,
        holds=[hold or 0 for _, hold in plan],
    )
    group = Group()
    with ThreadPoolExecutor(1, thread_name_prefix="join") as pool:
        picture = Picture(planned, Future())
        # The thread runs in this context: the ffmpeg binary chosen for the block is its too.
        context = contextvars.copy_context()
        picture.future = pool.submit(
            context.run, _join_or_normalise, picture, group, plan, clips, extensions, transitions,
            work, settings,
        )  # fmt: skip
        try:
            yield picture
        except BaseException:
            group.stop()  # the block failed or was interrupted: leave no encode running
            raise


def _join_or_normalise(
    picture: Picture,
    group: Group,
    plan: list[tuple[Path, int | None]],
    clips: Sequence[Path],
    extensions: Sequence[tuple[float, float]],
    transitions: Sequence[str | None],
    work: Path,
    settings: Settings,
) -> Joined:
    start = time.perf_counter()
    in_group(group)
    try:
        return _join(plan, transitions, work, settings)
    except (AssembleError, FFmpegError):
        if group.stopped or all(hold is None for _, hold in plan):
            raise
        # Something join could not read as promised: normalise every clip (which names a
        # corrupt one) and join those.
        log.warning("joining the clips as they are failed; normalising them first")
        plan = _shots(clips, extensions, [False] * len(clips), work, settings)
        return _join(plan, transitions, work, settings)
    finally:
        picture.join_s = time.perf_counter() - start


def _shots(
    clips: Sequence[Path],
    extensions: Sequence[tuple[float, float]],
    direct: Sequence[bool],
    work: Path,
    settings: Settings,
) -> list[tuple[Path, int | None]]:
    """Each shot as (file for join, frames join holds at its end): a ``direct`` clip as it is,
    with its hold; any other normalised into ``work`` with its slowing and hold (``None``:
    join reads it as the trusted intermediate it is)."""
    plan: list[tuple[Path, int | None]] = []
    for index, (clip, (slow, hold), as_is) in enumerate(
        zip(clips, extensions, direct, strict=True)
    ):
        if as_is:
            plan.append((Path(clip), held_frames(hold, settings.fps)))
            continue
        segment = normalise(
            clip,
            work / f"shot-{index + 1}.mp4",
            width=settings.width,
            height=settings.height,
            fps=settings.fps,
            hold_s=hold,
            slow_factor=slow,
        )
        plan.append((segment.path, None))
    return plan


def _join(
    plan: list[tuple[Path, int | None]],
    transitions: Sequence[str | None],
    work: Path,
    settings: Settings,
) -> Joined:
    return join(
        [path for path, _ in plan],
        [t or "cut" for t in transitions],
        work / "picture.mp4",
        fps=settings.fps,
        transition_s=settings.transition_s,
        crf=settings.crf,
        preset=settings.preset,
        holds=[hold or 0 for _, hold in plan],
        strict=any(hold is not None for _, hold in plan),
    )
