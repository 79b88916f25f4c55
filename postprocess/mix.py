"""The soundtrack of a video: narration laid on the timeline, background music under it, the
whole brought to a loudness target.

Steps (each an ffmpeg run through :mod:`postprocess.runner`, intermediates as float WAVs in a
temporary folder, so nothing clips before the last step):

1. Narration bus: every WAV delayed to its start (``adelay``, in samples) and summed with
   ``amix normalize=0`` (amix would otherwise divide every input by the number of inputs),
   padded and cut to exactly ``duration_s``. Its loudness is measured on the way.
2. Music bus: the track looped (``-stream_loop -1``) and cut to ``duration_s``, measured.
3. Mix: music set ``music_gain_db`` LU below the narration's measured loudness (so a loud
   master and a quiet one sit alike), faded in and out, ducked under the narration with
   ``sidechaincompress`` keyed by it, summed with the narration; metered (with its true peak)
   on the way, so that normalising it needs no measuring pass of its own.
4. Loudness: :func:`postprocess.loudness.normalize`, one gain (a limiter first where the peaks
   require it), the written file metered as it is written; :class:`MixReport` says
   ``"dynamic"``, with a warning in the log, when linear was out of reach and ``loudnorm``
   normalised dynamically.

Output: WAV, PCM s16le, stereo, ``sample_rate`` (48 kHz), exactly ``round(duration_s *
sample_rate)`` frames; silence of that length when there is neither narration nor music.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import uuid
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
from pydantic import BaseModel, ConfigDict

from postprocess.loudness import (
    Loudness,
    NormalizationType,
    Target,
    normalize,
    render_measured,
    write_pcm,
)
from postprocess.runner import path_arg

log = logging.getLogger(__name__)

# The sidechain key is brought to this loudness before the compressor sees it, so that
# ``duck_threshold_db`` means "this far under the narration" whatever engine spoke it.
KEY_LUFS = -20.0
# A narration may end this much after ``duration_s`` (one 20 ms audio frame of rounding).
END_TOLERANCE_S = 0.02


class MixReport(BaseModel):
    """What was written, measured by ``ebur128`` on the very samples written to the output file.
    Levels are ``None`` for silence. ``normalization_type`` is ``"linear"`` for one gain,
    ``"dynamic"`` when loudnorm's pass 2 had to compress, ``"none"`` when there was nothing to
    normalise; ``limited`` says a limiter ran before it."""

    model_config = ConfigDict(frozen=True)

    integrated_lufs: float | None
    true_peak_db: float | None
    lra_lu: float | None
    normalization_type: NormalizationType
    limited: bool
    duration_s: float
    sample_rate: int
    has_narration: bool
    has_music: bool


@dataclass(frozen=True)
class _Job:
    """One mix's settings, passed down the steps."""

    frames: int
    rate: int
    music_gain_db: float
    duck_db: float
    duck_threshold_db: float
    duck_ratio: float
    duck_attack_ms: float
    duck_release_ms: float
    fade_in_s: float
    fade_out_s: float
    tmp: Path


def mix(
    narration: Sequence[tuple[Path, float]],
    duration_s: float,
    out: Path,
    *,
    music: Path | None,
    music_gain_db: float = -12.0,
    duck_db: float = 10.0,
    duck_threshold_db: float = -25.0,
    duck_ratio: float = 8.0,
    duck_attack_ms: float = 20.0,
    duck_release_ms: float = 500.0,
    fade_in_s: float = 1.0,
    fade_out_s: float = 2.0,
    target_lufs: float = -16.0,
    true_peak_db: float = -1.5,
    loudness_range: float = 20.0,
    sample_rate: int = 48000,
) -> MixReport:
    """Write the soundtrack of a ``duration_s`` video to ``out`` (WAV, see the module doc).

    ``narration``: (audio file, start in seconds on the video's timeline); each must end by
    ``duration_s``. ``music``: a track of any length (looped or cut), or ``None``.
    ``music_gain_db``: the music's loudness relative to the narration's when not ducked (with no
    narration the music alone is normalised). ``duck_db``: how far the music goes down under
    speech at most (the compressor's wet/dry mix caps it; 0 turns ducking off).
    ``duck_threshold_db``: how far under the narration's loudness the compressor starts;
    ``duck_ratio``, ``duck_attack_ms`` and ``duck_release_ms`` are the compressor's own (ratio
    1–20). Fades are shortened in proportion when they would not fit the duration.
    ``loudness_range``: the LRA (LU) loudnorm may keep; above it loudnorm compresses
    dynamically. Raises ``ValueError`` for an argument out of range or an unreadable, missing
    or overlong input file, :class:`~postprocess.runner.FFmpegError` when ffmpeg fails and
    :class:`~postprocess.loudness.LoudnessError` when a meter says something unreadable.
    """
    _check_numbers(locals())  # first, while the locals are the arguments
    _check_narration(narration, duration_s)
    # An empty track would loop forever (-stream_loop -1 never runs out of nothing).
    if music is not None and _audio_seconds(Path(music), "music") <= 0:
        raise ValueError(f"music file {music} holds no audio to loop")
    scale = min(1.0, duration_s / (fade_in_s + fade_out_s)) if fade_in_s + fade_out_s else 1.0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.part.wav")
    try:
        with tempfile.TemporaryDirectory(prefix="wanflow-mix-") as tmp:
            job = _Job(
                frames=round(duration_s * sample_rate),
                rate=sample_rate,
                music_gain_db=music_gain_db,
                duck_db=duck_db,
                duck_threshold_db=duck_threshold_db,
                duck_ratio=duck_ratio,
                duck_attack_ms=duck_attack_ms,
                duck_release_ms=duck_release_ms,
                fade_in_s=fade_in_s * scale,
                fade_out_s=fade_out_s * scale,
                tmp=Path(tmp),
            )
            target = Target(target_lufs, true_peak_db, loudness_range)
            kind, limited, loudness = _soundtrack(narration, music, job, target, part)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    with wave.open(str(out), "rb") as wav:
        written_s = wav.getnframes() / wav.getframerate()
    report = MixReport(
        integrated_lufs=loudness.integrated_lufs,
        true_peak_db=loudness.true_peak_db,
        lra_lu=loudness.lra_lu if loudness.integrated_lufs is not None else None,
        normalization_type=kind,
        limited=limited,
        duration_s=written_s,
        sample_rate=sample_rate,
        has_narration=bool(narration),
        has_music=music is not None,
    )
    log.info("mixed %s: %s", out.name, report.model_dump())
    if kind == "dynamic":
        log.warning("%s: loudnorm could not stay linear, the level may pump: %s", out.name, report)
    return report


def _soundtrack(
    narration: Sequence[tuple[Path, float]],
    music: Path | None,
    job: _Job,
    target: Target,
    out: Path,
) -> tuple[NormalizationType, bool, Loudness]:
    """Build the mix in ``job.tmp`` and normalise it into ``out``; return the normalisation
    type, whether a limiter ran, and the loudness written."""
    if not narration and music is None:
        silence = ffmpeg.input(f"anullsrc=r={job.rate}:cl=stereo", format="lavfi").audio
        return "none", False, write_pcm(silence, out, job.frames, job.rate, "silent soundtrack")
    voice, speech = None, None
    if narration:
        voice = job.tmp / "narration.wav"
        # Its true peak only when it is the whole soundtrack, for normalize.
        level = render_measured(
            _narration_bus(narration, job), voice, "narration", peak=music is None
        )
        speech = level.integrated_lufs
    if music is None:
        pre = voice
    else:
        bed = _music_bed(Path(music), speech, job)
        pre = job.tmp / "mix.wav"
        mixed = bed if voice is None else _ducked_mix(voice, bed, speech, job)
        level = render_measured(mixed, pre, "mix")
    return normalize(
        pre, out, target, frames=job.frames, sample_rate=job.rate, scratch=job.tmp, measured=level
    )


def _narration_bus(narration: Sequence[tuple[Path, float]], job: _Job):
    # One input per file, split as often as the file recurs (the same sentence said twice is
    # one cached WAV): ffmpeg-python merges identical inputs, and an input feeds one filter.
    paths = [path_arg(path) for path, _ in narration]
    copies = {}
    for path in dict.fromkeys(paths):
        stream = _stereo(ffmpeg.input(path).audio, job.rate)
        count = paths.count(path)
        if count > 1:
            split = stream.filter_multi_output("asplit", count)
            copies[path] = [split[i] for i in range(count)]
        else:
            copies[path] = [stream]
    placed = [
        copies[path].pop().filter("adelay", delays=f"{round(start * job.rate)}S", all=1)
        for path, (_, start) in zip(paths, narration, strict=True)
    ]
    bus = placed[0]
    if len(placed) > 1:
        bus = ffmpeg.filter(placed, "amix", inputs=len(placed), normalize=0, duration="longest")
    return bus.filter("apad", whole_len=job.frames).filter("atrim", end_sample=job.frames)


def _music_bed(music: Path, speech_lufs: float | None, job: _Job):
    """The track looped and cut to length (rendered and measured), then set ``music_gain_db``
    under the narration and faded. Without narration to follow, its level is left to loudnorm."""
    looped = _stereo(ffmpeg.input(path_arg(music), stream_loop=-1).audio, job.rate)
    bed = job.tmp / "music.wav"
    trimmed = looped.filter("atrim", end_sample=job.frames)
    loudness = render_measured(trimmed, bed, "music bed", peak=False).integrated_lufs
    gain = 0.0
    if speech_lufs is not None and loudness is not None:
        gain = speech_lufs + job.music_gain_db - loudness
    stream = ffmpeg.input(path_arg(bed)).audio.filter("volume", f"{gain:.3f}dB")
    if job.fade_in_s > 0:
        stream = stream.filter("afade", type="in", start_time=0, duration=job.fade_in_s)
    if job.fade_out_s > 0:
        start = job.frames / job.rate - job.fade_out_s
        stream = stream.filter("afade", type="out", start_time=start, duration=job.fade_out_s)
    return stream


def _ducked_mix(voice: Path, bed, speech_lufs: float | None, job: _Job):
    """Narration plus the bed pushed down under it. The compressor's ``mix`` blends dry and
    compressed music, so at least ``1 - mix`` of the music is left: the cap on ``duck_db``."""
    spoken = ffmpeg.input(path_arg(voice)).audio
    if job.duck_db > 0 and speech_lufs is not None:
        split = spoken.filter_multi_output("asplit")
        spoken, key = split[0], split[1].filter("volume", f"{KEY_LUFS - speech_lufs:.3f}dB")
        bed = ffmpeg.filter(
            [bed, key],
            "sidechaincompress",
            threshold=f"{10 ** ((KEY_LUFS + job.duck_threshold_db) / 20):.6f}",
            ratio=job.duck_ratio,
            attack=job.duck_attack_ms,
            release=job.duck_release_ms,
            mix=f"{1 - 10 ** (-job.duck_db / 20):.6f}",
        )
    return ffmpeg.filter([spoken, bed], "amix", inputs=2, normalize=0, duration="first")


def _stereo(stream, rate: int):
    return stream.filter("aresample", rate).filter(
        "aformat", sample_fmts="fltp", channel_layouts="stereo"
    )


def _audio_seconds(path: Path, role: str) -> float:
    """Length of the first audio stream; ``ValueError`` naming ``role`` when there is none."""
    if not path.is_file():
        raise ValueError(f"{role} file {path} does not exist")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{role} file {path} has no audio stream")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            return sum(frame.samples for frame in container.decode(stream)) / stream.rate
    except av.FFmpegError as exc:
        raise ValueError(f"{role} file {path} is not readable audio: {exc}") from exc


def _check_narration(narration: Sequence[tuple[Path, float]], duration_s: float) -> None:
    for index, (path, start) in enumerate(narration):
        role = f"narration {index} ({Path(path).name})"
        if not (math.isfinite(start) and 0 <= start < duration_s):
            raise ValueError(f"{role} starts at {start} s, outside the video (0–{duration_s} s)")
        length = _audio_seconds(Path(path), "narration")
        if start + length > duration_s + END_TOLERANCE_S:
            raise ValueError(
                f"{role} runs {start:.3f}–{start + length:.3f} s, past the end of the "
                f"{duration_s:.3f} s video: lengthen the video or start it earlier"
            )


_RANGES = {
    "music_gain_db": (-40.0, 12.0),
    "duck_db": (0.0, 40.0),
    "duck_threshold_db": (-40.0, 0.0),
    "duck_ratio": (1.0, 20.0),
    "duck_attack_ms": (0.01, 2000.0),
    "duck_release_ms": (0.01, 9000.0),
    "fade_in_s": (0.0, 60.0),
    "fade_out_s": (0.0, 60.0),
    "target_lufs": (-70.0, -5.0),
    "true_peak_db": (-9.0, 0.0),
    "loudness_range": (1.0, 50.0),
    "sample_rate": (8000, 192000),
}


def _check_numbers(arguments: dict[str, object]) -> None:
    duration_s = arguments["duration_s"]
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a positive number of seconds, not {duration_s}")
    for name, (low, high) in _RANGES.items():
        value = arguments[name]
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{name}={value} is out of range: use {low}–{high}")
