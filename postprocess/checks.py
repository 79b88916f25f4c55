"""Checks on a finished video before it is published: the file is what players and platforms
expect (H.264 yuv420p, AAC 48 kHz, soft subtitles with a language), its picture and sound end
together, and it is as loud as the mix was meant to be.

Every check runs and every failure is listed, so one look at :class:`OutputError` says all that
is wrong with a file. Durations come from the packets in the file (H.264 in MP4 has one packet
per frame; AAC packets carry their sample counts), not from container headers, which estimate.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from pydantic import BaseModel, ConfigDict

from postprocess.loudness import measure
from wanflow.video import VideoError

VIDEO_CODEC = "h264"
PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"
SAMPLE_RATE = 48_000
# How far an MP4 may read before reaching its index when it is not "fast start": the moov box
# must come before the media data for a player to start while downloading.
_BOX_SCAN = 64


class OutputReport(BaseModel):
    """What a finished file holds. Durations are in seconds; ``integrated_lufs`` is ``None``
    when it was not measured (no target) or the sound is below the −70 LUFS gate.
    ``failures`` is empty for a file that passed every check."""

    model_config = ConfigDict(frozen=True)

    path: Path
    video_codec: str | None
    pix_fmt: str | None
    width: int | None
    height: int | None
    fps: float | None
    frames: int
    video_s: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    audio_s: float | None
    subtitle_codecs: list[str]
    subtitle_languages: list[str]
    subtitles_end_s: float | None
    faststart: bool
    integrated_lufs: float | None
    failures: list[str]


class OutputError(VideoError):
    """A finished file failed checks; ``report.failures`` lists every one."""

    def __init__(self, report: OutputReport) -> None:
        lines = "\n".join(f"- {failure}" for failure in report.failures)
        super().__init__(f"{report.path} failed {len(report.failures)} check(s):\n{lines}")
        self.report = report


def video_frames(path: Path) -> tuple[int, Fraction]:
    """Frames in the first video stream (by counting its packets) and its frame rate.

    Raises VideoError naming the file when it cannot be read or has no video.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            frames = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{path} is not a readable video: {exc}") from exc
    if not rate or frames == 0:
        raise VideoError(f"{path} has a video stream with no frames or no frame rate")
    return frames, Fraction(rate)


def check_output(
    path: Path,
    *,
    expect_subtitles: bool,
    target_lufs: float | None,
    tolerance_lu: float = 1.0,
    language: str | None = None,
) -> OutputReport:
    """Check a muxed video; return its report, or raise :class:`OutputError` listing every
    failure.

    Checked: H.264 yuv420p video; AAC 48 kHz audio; audio and video durations within one frame
    (1/fps) of each other; moov before mdat (fast start); when ``expect_subtitles``, a subtitle
    stream with a language tag (equal to ``language``, an ISO 639-2 code, when given); when
    ``target_lufs`` is given, integrated loudness within ``tolerance_lu`` of it (EBU R128,
    ffmpeg ``ebur128``).
    """
    path = Path(path)
    failures: list[str] = []
    facts = _streams(path, failures)
    fps = facts.get("fps")
    video_s, audio_s = facts.get("video_s"), facts.get("audio_s")

    if "video_codec" in facts:
        if facts["video_codec"] != VIDEO_CODEC:
            failures.append(f"video codec is {facts['video_codec']}, expected {VIDEO_CODEC}")
        if facts["pix_fmt"] != PIX_FMT:
            failures.append(f"pixel format is {facts['pix_fmt']}, expected {PIX_FMT}")
    if "audio_codec" in facts:
        if facts["audio_codec"] != AUDIO_CODEC:
            failures.append(f"audio codec is {facts['audio_codec']}, expected {AUDIO_CODEC}")
        if facts["sample_rate"] != SAMPLE_RATE:
            failures.append(f"sample rate is {facts['sample_rate']} Hz, expected {SAMPLE_RATE}")
    if video_s is not None and audio_s is not None and fps and abs(video_s - audio_s) > 1 / fps:
        failures.append(
            f"audio lasts {audio_s:.3f} s and video {video_s:.3f} s: more than one frame "
            f"(1/{fps:g} s) apart"
        )
    languages = facts.get("subtitle_languages", [])
    if expect_subtitles:
        if not languages:
            failures.append("no subtitle stream, expected one")
        elif "und" in languages:
            failures.append(f"a subtitle stream has no language tag (languages: {languages})")
        elif language is not None and language not in languages:
            failures.append(f"subtitle languages are {languages}, expected {language}")
    ends = facts.get("subtitles_end_s")
    if ends is not None and video_s is not None and fps and ends > video_s + 1 / fps:
        failures.append(f"subtitles run to {ends:.3f} s, past the video's end at {video_s:.3f} s")
    faststart = _faststart(path)
    readable = "video_codec" in facts or "audio_codec" in facts
    if readable and not faststart:
        failures.append("moov box is after the media data (not muxed with +faststart)")

    lufs = None
    if target_lufs is not None and facts.get("audio_codec") is not None:
        lufs = measure(path).integrated_lufs
        if lufs is None:
            failures.append(f"audio is silent (below −70 LUFS), expected {target_lufs} LUFS")
        elif abs(lufs - target_lufs) > tolerance_lu:
            failures.append(
                f"integrated loudness is {lufs:.1f} LUFS, expected {target_lufs} ± "
                f"{tolerance_lu} LU"
            )

    report = OutputReport(
        path=path,
        video_codec=facts.get("video_codec"),
        pix_fmt=facts.get("pix_fmt"),
        width=facts.get("width"),
        height=facts.get("height"),
        fps=fps,
        frames=facts.get("frames", 0),
        video_s=video_s,
        audio_codec=facts.get("audio_codec"),
        sample_rate=facts.get("sample_rate"),
        channels=facts.get("channels"),
        audio_s=audio_s,
        subtitle_codecs=facts.get("subtitle_codecs", []),
        subtitle_languages=languages,
        subtitles_end_s=facts.get("subtitles_end_s"),
        faststart=faststart,
        integrated_lufs=lufs,
        failures=failures,
    )
    if failures:
        raise OutputError(report)
    return report


def _streams(path: Path, failures: list[str]) -> dict:
    """Facts about the first video and audio streams and every subtitle stream; what cannot be
    read is left out of the result and added to ``failures``."""
    facts: dict = {}
    try:
        with av.open(str(path)) as container:
            subtitles = container.streams.subtitles
            facts["subtitle_codecs"] = [s.codec_context.name for s in subtitles]
            facts["subtitle_languages"] = [s.language or "und" for s in subtitles]
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if video is None:
                failures.append("no video stream")
            else:
                ctx = video.codec_context
                rate = video.average_rate or video.guessed_rate
                facts |= {"video_codec": ctx.name, "pix_fmt": ctx.pix_fmt}
                facts |= {"width": ctx.width, "height": ctx.height}
                facts["fps"] = float(rate) if rate else None
            if audio is None:
                failures.append("no audio stream")
            else:
                ctx = audio.codec_context
                facts |= {"audio_codec": ctx.name, "sample_rate": ctx.sample_rate}
                facts["channels"] = ctx.channels
            wanted = [s for s in (video, audio, *subtitles) if s is not None]
            frames, ends = 0, {}
            for packet in container.demux(wanted) if wanted else ():
                if packet.stream is video:
                    frames += 1 if packet.size else 0
                elif packet.size and packet.pts is not None and packet.duration is not None:
                    # Where the last packet ends: for AAC in MP4 the muxer has trimmed the
                    # encoder's padding from its duration, and the priming before the first one
                    # has negative timestamps, so this is the length a player plays.
                    end = float((packet.pts + packet.duration) * packet.time_base)
                    kind = packet.stream.type
                    ends[kind] = max(ends.get(kind, end), end)
            if subtitles and "subtitle" in ends:
                facts["subtitles_end_s"] = ends["subtitle"]
            if video is not None:
                facts["frames"] = frames
                if facts["fps"]:
                    facts["video_s"] = frames / facts["fps"]
                else:
                    failures.append("video stream has no frame rate")
            if audio is not None:
                if "audio" not in ends:
                    failures.append("audio stream has no timed packets")
                else:
                    facts["audio_s"] = ends["audio"]
    except (av.FFmpegError, OSError, ValueError) as exc:
        failures.append(f"not a readable media file: {exc}")
    return facts


def _faststart(path: Path) -> bool:
    """Whether the top-level ``moov`` box comes before ``mdat`` (ISO BMFF box walk)."""
    try:
        with open(path, "rb") as fh:
            for _ in range(_BOX_SCAN):
                header = fh.read(8)
                if len(header) < 8:
                    return False
                size, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if kind == b"moov":
                    return True
                if kind == b"mdat":
                    return False
                header_size = 8
                if size == 1:  # a 64-bit size follows the type
                    size, header_size = int.from_bytes(fh.read(8), "big"), 16
                if size < header_size:  # 0: the box runs to the end of the file
                    return False
                fh.seek(size - header_size, 1)
    except OSError:
        return False
    return False
