"""EBU R128 loudness: measuring a file as a listener's meter would, and bringing one to a
target with a single gain.

Measuring: integrated loudness, true peak and loudness range from ffmpeg's ``ebur128`` filter
with ``peak=true`` (4× oversampled true peak), a different meter from the ``loudnorm`` filter
:func:`normalize` uses, so a result is checked by something other than what made it; and the
level of a stretch of a file, optionally of one frequency band (how a test tells the music
under a narration apart from the narration itself).

Normalising (:func:`normalize`): one gain for the whole file (what ``loudnorm`` with
``linear=true`` does), no pumping. The gain comes from the file's ``ebur128`` figures, metered
while the file was written (the mix is), so it costs no pass of its own; loudnorm's rule for
staying linear (``true peak + gain`` under the ceiling, loudness range under the target) is
applied to the same figures. When the peak is what stands in the way, the file is first brought
to the target through a look-ahead limiter (``alimiter``) set under the ceiling, metered as it
is written, and aimed again (``LIMITER_PASSES`` at most). The final write meters what it writes,
so the figures returned are the file's. When one gain cannot do (loudness range above the
target, or the passes run out), two-pass ``loudnorm`` normalises dynamically (``print_format=
json``, its pass 2 reporting what it did) and the caller is told ``"dynamic"``: a pumping
soundtrack is worth a reviewer's look, not a lost video.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import ffmpeg
import numpy as np

from postprocess.runner import path_arg, run

_FIGURE = {
    name: re.compile(pattern)
    for name, pattern in {
        "i": r"\bI:\s*(\S+)\s+LUFS",
        "lra": r"\bLRA:\s*(\S+)\s+LU\b",
        "tp": r"\bPeak:\s*(\S+)\s+dBFS",
    }.items()
}
# ebur128's absolute gate: anything quieter has no integrated loudness at all.
SILENCE_LUFS = -70.0
# The limiter holds sample peaks this far under the true-peak ceiling: room for the 4×
# oversampled peaks loudnorm judges by, and for the loudness the limiter takes with the peaks,
# which loudnorm's gain then gives back. Further passes aim better (see normalize).
LIMITER_MARGIN_DB = 1.0
LIMITER_PASSES = 4
_LOUDNORM_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}")

NormalizationType = Literal["linear", "dynamic", "none"]


class LoudnessError(RuntimeError):
    """A file could not be measured (no audio stream, or a meter said something unreadable)."""


@dataclass(frozen=True)
class Target:
    """Where :func:`normalize` brings a file: integrated loudness (LUFS), true-peak ceiling
    (dBTP), and the loudness range (LU) it may keep before loudnorm compresses dynamically."""

    lufs: float = -16.0
    true_peak_db: float = -1.5
    lra: float = 20.0

    def loudnorm(self) -> dict[str, float]:
        return {"I": self.lufs, "TP": self.true_peak_db, "LRA": self.lra}


@dataclass(frozen=True)
class Loudness:
    """R128 figures of a whole file. ``integrated_lufs`` is ``None`` for a file quieter than the
    −70 LUFS gate and ``true_peak_db`` is ``None`` for digital silence: neither has a level."""

    integrated_lufs: float | None
    true_peak_db: float | None
    lra_lu: float


def measure(path: Path) -> Loudness:
    """Integrated loudness (LUFS, 0.1 LU resolution), true peak (dBTP) and loudness range (LU)."""
    stream = (
        ffmpeg.input(path_arg(path))
        .audio.filter("ebur128", peak="true", framelog="verbose")
        .output("-", format="null")
    )
    stderr = run(stream, f"measure loudness of {Path(path).name}", loglevel="info")
    return read_summary(stderr, str(path))


def read_summary(stderr: str, source: str) -> Loudness:
    """The figures of the last ``ebur128`` summary in ffmpeg's stderr (run at loglevel info).
    Without ``peak=true`` there is no true peak: ``true_peak_db`` is then ``None``."""
    _, marker, summary = stderr.rpartition("Summary:")
    figures = {name: pattern.search(summary) for name, pattern in _FIGURE.items()}
    if not marker or figures["i"] is None or figures["lra"] is None:
        raise LoudnessError(f"{source}: ebur128 printed no summary:\n{stderr[-2000:]}")
    integrated = float(figures["i"][1])
    peak = float(figures["tp"][1]) if figures["tp"] else -math.inf
    return Loudness(
        integrated_lufs=integrated if integrated > SILENCE_LUFS else None,
        true_peak_db=peak if math.isfinite(peak) else None,
        lra_lu=float(figures["lra"][1]),
    )


def integrated_loudness(path: Path) -> float:
    """Integrated loudness in LUFS; ``-inf`` for a file below the −70 LUFS gate."""
    value = measure(path).integrated_lufs
    return -math.inf if value is None else value


def true_peak(path: Path) -> float:
    """True peak in dBTP; ``-inf`` for digital silence."""
    value = measure(path).true_peak_db
    return -math.inf if value is None else value


def samples(path: Path) -> tuple[np.ndarray, int]:
    """The decoded audio as float32 of shape (channels, frames) in [-1, 1], and its sample rate.
    Holds the whole file in memory: meant for clips of seconds to minutes."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise LoudnessError(f"{path} has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.rate
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
            chunks = [
                resampled.to_ndarray()
                for frame in container.decode(stream)
                for resampled in resampler.resample(frame)
            ]
            chunks += [resampled.to_ndarray() for resampled in resampler.resample(None)]
    except av.FFmpegError as exc:
        raise LoudnessError(f"{path} is not readable audio: {exc}") from exc
    if not chunks:
        return np.zeros((1, 0), np.float32), rate
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), rate


def level_db(
    path: Path, start_s: float, end_s: float, *, band_hz: tuple[float, float] | None = None
) -> float:
    """RMS level of ``[start_s, end_s)`` in dB relative to full scale (a full-scale square wave
    is 0 dB, a full-scale sine −3 dB), power averaged over the channels; ``-inf`` for silence.

    With ``band_hz=(low, high)`` only the energy between those frequencies counts (Hann-windowed
    spectrum, so a tone well outside the band leaks in below −80 dB).
    """
    audio, rate = samples(path)
    first, last = round(start_s * rate), round(end_s * rate)
    if not 0 <= first < last <= audio.shape[1]:
        raise ValueError(
            f"window {start_s}–{end_s} s is not inside {path} ({audio.shape[1] / rate:.3f} s)"
        )
    part = audio[:, first:last].astype(np.float64)
    if band_hz is None:
        power = float(np.mean(part**2))
    else:
        window = np.hanning(part.shape[1])
        spectrum = np.fft.rfft(part * window, axis=1)
        freqs = np.fft.rfftfreq(part.shape[1], 1 / rate)
        inside = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
        # Parseval for a one-sided spectrum, undoing the window's own power loss.
        band = 2 * np.sum(np.abs(spectrum[:, inside]) ** 2, axis=1) / part.shape[1] ** 2
        power = float(np.mean(band) / np.mean(window**2))
    return 10 * math.log10(power) if power > 0 else -math.inf


@dataclass(frozen=True)
class _Stats:
    """loudnorm's pass-1 figures of a stream (``-inf`` levels for silence)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float


def normalize(
    source: Path,
    out: Path,
    target: Target,
    *,
    frames: int,
    sample_rate: int,
    scratch: Path,
    measured: Loudness | None = None,
) -> tuple[NormalizationType, bool, Loudness]:
    """Write ``source`` brought to ``target`` to ``out``: WAV, PCM s16le, stereo,
    ``sample_rate``, exactly ``frames`` long. ``measured`` is ``source``'s loudness with its true
    peak when the caller metered it on the way (else it is measured here). Limited versions are
    written into ``scratch``. Returns the normalisation type (``"none"`` for silence, written as
    it is), whether a limiter ran first, and the loudness of what was written (metered as it was
    written, the figures :func:`measure` reads from ``out``)."""
    level = measure(source) if measured is None else measured
    if level.integrated_lufs is None:
        silence = ffmpeg.input(path_arg(source)).audio
        return "none", False, write_pcm(silence, out, frames, sample_rate, "silence")
    original, gain, margin = source, target.lufs - level.integrated_lufs, LIMITER_MARGIN_DB
    tried: list[tuple[float, float]] = []  # (gain into the limiter, loudness out of it)
    # A limiter only lowers peaks: a loudness range above the target it cannot help.
    while (
        not _linear_allowed(level, target)
        and level.lra_lu <= target.lra
        and len(tried) < LIMITER_PASSES
    ):
        if tried:
            # The limiter takes loudness with the peaks, more the harder it is driven: aim by
            # the last two tries' dB of loudness per dB of gain.
            slope = 1.0
            if len(tried) > 1 and tried[-1][0] != tried[-2][0]:
                slope = (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])
            gain += (target.lufs - level.integrated_lufs) / min(1.0, max(0.2, slope))
            margin += max(0.0, level.true_peak_db - (target.true_peak_db - margin))
        source = scratch / f"limited-{len(tried)}.wav"
        # Always from the original: limiting a limited file again would stack distortion.
        limited = (
            ffmpeg.input(path_arg(original))
            .audio.filter("volume", f"{gain:.3f}dB")
            .filter(
                "alimiter",
                limit=f"{_amplitude(target.true_peak_db - margin):.6f}",
                level=0,
                latency=1,
                attack=5,
                release=50,
            )
        )
        level = render_measured(limited, source, f"limit {margin:.2f} dB under the ceiling")
        if level.integrated_lufs is None:
            raise LoudnessError(f"{source}: the limiter left nothing to measure")
        tried.append((gain, level.integrated_lufs))
    if _linear_allowed(level, target):
        # One gain for the whole file: what loudnorm's linear mode does, without its 192 kHz.
        louder = ffmpeg.input(path_arg(source)).audio.filter(
            "volume", f"{target.lufs - level.integrated_lufs:.3f}dB"
        )
        return "linear", bool(tried), write_pcm(louder, out, frames, sample_rate, "gain")
    kind, written = _apply_loudnorm(
        source, _loudnorm_stats(source, target), target, out, frames, sample_rate
    )
    return kind, bool(tried), written


def render_measured(stream, dest: Path, what: str, *, peak: bool = True) -> Loudness:
    """Write ``stream`` as float WAV (nothing clips between steps) and meter it on the way
    (``peak``: with its true peak, else ``true_peak_db`` is ``None``)."""
    split = stream.filter_multi_output("asplit")
    kept = ffmpeg.output(split[0], path_arg(dest), acodec="pcm_f32le", format="wav")
    meter = split[1].filter("ebur128", framelog="verbose", **({"peak": "true"} if peak else {}))
    stderr = run(
        ffmpeg.merge_outputs(kept, ffmpeg.output(meter, "-", format="null")), what, loglevel="info"
    )
    return read_summary(stderr, what)


def write_pcm(stream, out: Path, frames: int, sample_rate: int, what: str) -> Loudness:
    """Write an ffmpeg-python stream as WAV, PCM s16le, stereo, exactly ``frames`` long
    (padded or cut); return its loudness, metered on the very samples written."""
    return _write_pcm(stream, out, frames, sample_rate, what)[0]


def _write_pcm(stream, out: Path, frames: int, sample_rate: int, what: str) -> tuple[Loudness, str]:
    written = (
        stream.filter("aresample", sample_rate)  # back from loudnorm's 192 kHz
        .filter("apad", whole_len=frames)
        .filter("atrim", end_sample=frames)
        .filter("aformat", sample_fmts="s16", channel_layouts="stereo")
        .filter_multi_output("asplit")
    )
    kept = ffmpeg.output(
        written[0], path_arg(out), acodec="pcm_s16le", ac=2, ar=sample_rate, format="wav"
    )
    meter = written[1].filter("ebur128", peak="true", framelog="verbose")
    output = ffmpeg.merge_outputs(kept, ffmpeg.output(meter, "-", format="null"))
    stderr = run(output.overwrite_output(), what, loglevel="info")
    return read_summary(stderr, what), stderr


def _linear_allowed(level: Loudness, target: Target) -> bool:
    """loudnorm's own rule (af_loudnorm.c, init) for staying linear, on ``ebur128``'s figures."""
    peak_after = level.true_peak_db + (target.lufs - level.integrated_lufs)
    return peak_after <= target.true_peak_db and level.lra_lu <= target.lra


def _apply_loudnorm(
    source: Path, stats: _Stats, target: Target, out: Path, frames: int, sample_rate: int
) -> tuple[NormalizationType, Loudness]:
    """loudnorm's pass 2 (where one gain cannot reach the target): what it did, and the
    loudness written."""
    normalized = ffmpeg.input(path_arg(source)).audio.filter(
        "loudnorm",
        **target.loudnorm(),
        measured_I=stats.input_i,
        measured_TP=stats.input_tp,
        measured_LRA=_lra(stats),
        measured_thresh=stats.input_thresh,
        offset=stats.target_offset,
        linear="true",
        print_format="json",
    )
    what = "loudnorm pass 2"
    written, stderr = _write_pcm(normalized, out, frames, sample_rate, what)
    kind = _loudnorm_json(stderr, what).get("normalization_type")
    if kind not in ("linear", "dynamic"):
        raise LoudnessError(f"{what} reported normalization_type {kind!r}")
    return kind, written


def _lra(stats: _Stats) -> float:
    # loudnorm reads measured_LRA=0 as "not measured" and then never goes linear; a steady
    # signal really measures 0.00 (it prints two decimals), so say the least it can print.
    return max(stats.input_lra, 0.01)


def _loudnorm_stats(source: Path, target: Target) -> _Stats:
    """loudnorm's pass 1: what pass 2 needs to know of ``source``."""
    meter = ffmpeg.input(path_arg(source)).audio.filter(
        "loudnorm", **target.loudnorm(), print_format="json"
    )
    what = f"loudnorm pass 1 of {source.name}"
    stderr = run(meter.output("-", format="null"), what, loglevel="info")
    found = _loudnorm_json(stderr, what)
    try:
        return _Stats(**{name: float(found[name]) for name in _Stats.__dataclass_fields__})
    except (KeyError, ValueError) as exc:
        raise LoudnessError(f"{what}: unexpected loudnorm statistics {found}") from exc


def _loudnorm_json(stderr: str, what: str) -> dict[str, str]:
    found = _LOUDNORM_JSON.findall(stderr)
    if not found:
        raise LoudnessError(f"{what}: loudnorm printed no statistics:\n{stderr[-2000:]}")
    return json.loads(found[-1])


def _amplitude(db: float) -> float:
    return 10 ** (db / 20)
