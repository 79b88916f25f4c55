"""Wanflow's own background music, synthesised from the scores in :mod:`postprocess.scores`, so
that a bucket without a music library still gets a bed under the narration, with no download and
no licence but the project's own.

``python -m postprocess.synth [FOLDER]`` renders every piece and writes the shipped library
(default ``postprocess/data/bgm/``): one Ogg Vorbis file per piece and ``index.toml``, in the
format of an operator's library (:mod:`postprocess.music`). The output is bit-exact for the
same numpy and ffmpeg builds; run it after changing a score, and commit what it wrote.

Each piece is a loop: every note, echo and reverb tail that runs past the end is added back
at the start, so the file played end to start has no seam (the mixer loops a track under a
narration longer than it).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import ffmpeg
import numpy as np

from postprocess.loudness import measure, samples
from postprocess.music import SHIPPED_DIR
from postprocess.runner import path_arg, run
from postprocess.scores import PIECES, Part, Piece

RATE = 48_000
LICENCE = "Apache-2.0, made by Wanflow's synthesiser (postprocess/synth.py), shipped with Wanflow"
# A bed, not a master: the mixer sets it under the narration, so the level only has to be sane
# and leave room; the ceiling keeps the codec's overshoot off full scale.
LEVEL_LUFS = -18.0
CEILING_DBTP = -3.0
# Ogg Vorbis, not Opus: ffmpeg skips Opus's pre-roll only on the first pass, so a looped Opus
# file drops out for 6.5 ms at every seam; a Vorbis file loops sample-exact. 48 kb/s is
# libvorbis's floor for 48 kHz stereo: about 6 KiB a second.
BITRATE = "48k"
# Partials above this are left out: soft timbres, nothing near aliasing or the codec's edge.
MAX_PARTIAL_HZ = 7_000.0

NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def hz(note: str) -> float:
    """``"A4"`` → 440.0; ``#`` and ``b`` after the letter (``"F#3"``, ``"Bb1"``)."""
    letter, accidentals, octave = note[0], note[1:-1], int(note[-1])
    semitone = NAMES[letter] + accidentals.count("#") - accidentals.count("b")
    return 440.0 * 2 ** ((12 * (octave + 1) + semitone - 69) / 12)


# ---------------------------------------------------------------- voices


def _envelope(n: int, gate: int, attack: int, release: int) -> np.ndarray:
    """Raised-cosine attack and release (no corner to click), the release starting at ``gate``."""
    env = np.ones(n)
    attack = max(1, min(attack, gate))
    env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, math.pi, attack))
    tail = n - gate
    if tail > 0:
        env[gate:] *= 0.5 + 0.5 * np.cos(np.linspace(0, math.pi, tail))
    return env


def _partials(freq: float, n: int, spec, rng: np.random.Generator) -> np.ndarray:
    """Sum of sines ``(ratio, amplitude, decay_s)``, random phases (no peaky waveform)."""
    t = np.arange(n) / RATE
    out = np.zeros(n)
    for ratio, amp, decay in spec:
        if freq * ratio > MAX_PARTIAL_HZ:
            continue
        wave = np.sin(2 * math.pi * freq * ratio * t + rng.uniform(0, 2 * math.pi))
        out += amp * (wave if decay is None else wave * np.exp(-t / decay))
    return out


def _soft(freq: float, slope: float, cutoff_hz: float) -> list[float]:
    """Harmonic amplitudes falling as ``k**-slope`` and, past ``cutoff_hz``, as a gentle
    low-pass would take them: the same brightness whatever the pitch."""
    count = max(1, int(MAX_PARTIAL_HZ // freq))
    return [k**-slope / (1 + (freq * k / cutoff_hz) ** 2) for k in range(1, count + 1)]


def _held(freq: float, n: int, amps: list[float], rng: np.random.Generator) -> np.ndarray:
    """A steady harmonic tone read from a one-cycle table (long pad notes cost one pass, not
    one per partial); ``amps[k-1]`` is the k-th harmonic's, relative to ``freq``."""
    grid = np.arange(4097) / 4096
    table = sum(
        a * np.sin(2 * math.pi * k * grid + rng.uniform(0, 2 * math.pi))
        for k, a in enumerate(amps, start=1)
    )
    phase = (freq * np.arange(n) / RATE + rng.uniform()) % 1.0
    return np.interp(phase, grid, table)


def _cents(freq: float, cents: float) -> float:
    return freq * 2 ** (cents / 1200)


def _spread(freq: float, n: int, amps: list[float], cents: float, rng) -> np.ndarray:
    """Three voices, ``cents`` apart: one in the middle, one leaning to each side."""
    centre = 0.6 * _held(freq, n, amps, rng)
    left = _held(_cents(freq, -cents), n, amps, rng)
    right = _held(_cents(freq, cents), n, amps, rng)
    return np.stack([left + centre, right + centre])


def pad(freq: float, gate_s: float, rng: np.random.Generator, tremolo_hz: float = 0.0):
    """A soft string-like pad: a filtered saw, three voices detuned apart."""
    gate, release = round(gate_s * RATE), round(1.6 * RATE)
    n = gate + release
    env = _envelope(n, gate, round(1.1 * RATE), release)
    if tremolo_hz:
        t = np.arange(n) / RATE
        env = env * (1 - 0.35 * (0.5 + 0.5 * np.sin(2 * math.pi * tremolo_hz * t)))
    return _spread(freq, n, _soft(freq, 1.0, 2600), 7, rng) * env / 2.6


def tremolo(freq: float, gate_s: float, rng: np.random.Generator):
    """A pad with a string section's tremolo: unrest without loudness."""
    return pad(freq, gate_s, rng, tremolo_hz=6.0)


def organ(freq: float, gate_s: float, rng: np.random.Generator):
    """Pipe-organ drawbars (16', 8', 4', 2 2/3', 2', 1 1/3', 1'), read as harmonics of the
    16' pipe an octave down."""
    gate, release = round(gate_s * RATE), round(0.9 * RATE)
    n = gate + release
    amps = [0.25, 1, 0, 0.5, 0, 0.25, 0, 0.2, 0, 0, 0, 0.1, 0, 0, 0, 0.07]
    amps = [a if freq / 2 * k < MAX_PARTIAL_HZ else 0 for k, a in enumerate(amps, start=1)]
    env = _envelope(n, gate, round(0.25 * RATE), release)
    return _spread(freq / 2, n, amps, 3, rng) * env / 2.6


def pluck(freq: float, gate_s: float, rng: np.random.Generator):
    """A harp-like string: bright at the pluck, upper partials dying first."""
    ring = min(gate_s, 3.0)
    gate, release = round(ring * RATE), round(0.3 * RATE)
    n = gate + release
    amps = _soft(freq, 1.2, 3000)
    spec = [(k, a, 1.4 / (1 + 0.5 * (k - 1))) for k, a in enumerate(amps, start=1)]
    mono = _partials(freq, n, spec, rng) * _envelope(n, gate, round(0.003 * RATE), release)
    return np.stack([mono, mono]) / 1.6


def bell(freq: float, gate_s: float, rng: np.random.Generator):
    """An electric-piano tine: a round fundamental, a short glassy strike over it."""
    ring = min(gate_s, 4.0)
    gate, release = round(ring * RATE), round(0.5 * RATE)
    n = gate + release
    spec = [(1, 1, 2.4), (2, 0.3, 0.9), (3, 0.12, 0.45), (4, 0.06, 0.3), (7.1, 0.08, 0.06)]
    env = _envelope(n, gate, round(0.004 * RATE), release)
    left = _partials(_cents(freq, -2), n, spec, rng)
    right = _partials(_cents(freq, 2), n, spec, rng)
    return np.stack([left, right]) * env / 1.3


def bass(freq: float, gate_s: float, rng: np.random.Generator):
    """A round bass: the fundamental with a little of its octave for small speakers."""
    gate, release = round(gate_s * RATE), round(0.15 * RATE)
    n = gate + release
    t = np.arange(n) / RATE
    spec = [(1, 1, None), (2, 0.3, None), (3, 0.08, None)]
    body = _partials(freq, n, spec, rng) * np.exp(-t / 2.0)
    mono = body * _envelope(n, gate, round(0.01 * RATE), release)
    return np.stack([mono, mono])


def drum(freq: float, gate_s: float, rng: np.random.Generator):
    """A soft timpani stroke: the pitch falls into place, the head's 1.5 mode fades first."""
    n = round(min(max(gate_s, 0.3), 2.5) * RATE)
    t = np.arange(n) / RATE
    glide = freq * (1 + 0.5 * np.exp(-t / 0.03))
    phase = 2 * math.pi * np.cumsum(glide) / RATE
    mono = np.sin(phase) * np.exp(-t / 0.5) + 0.3 * np.sin(1.5 * phase) * np.exp(-t / 0.2)
    mono *= _envelope(n, n - round(0.05 * RATE), round(0.002 * RATE), round(0.05 * RATE))
    return np.stack([mono, mono])


VOICES: dict[str, Callable[..., np.ndarray]] = {
    "pad": pad,
    "tremolo": tremolo,
    "organ": organ,
    "pluck": pluck,
    "bell": bell,
    "bass": bass,
    "drum": drum,
}


# ---------------------------------------------------------------- rendering


def _add(buf: np.ndarray, start: int, sound: np.ndarray) -> None:
    """Add ``sound`` at ``start``, wrapping past the end to the beginning (the loop)."""
    n = buf.shape[1]
    start %= n
    while sound.shape[1]:
        take = min(sound.shape[1], n - start)
        buf[:, start : start + take] += sound[:, :take]
        sound, start = sound[:, take:], 0


def _pan(sound: np.ndarray, pan: float) -> np.ndarray:
    angle = (pan + 1) * math.pi / 4  # constant power
    return sound * (np.array([[math.cos(angle)], [math.sin(angle)]]) * math.sqrt(2))


def _notes(piece: Piece, part: Part):
    """(start in beats, frequency, length in beats) of each note of a part, in score order."""
    bar, beat0 = 0, 0.0
    for c in piece.chords:
        span = c.bars * piece.beats_per_bar
        if part.follows == "chord":
            for name in c.voicing:
                yield beat0, hz(name) * 2**part.octave, span
        else:
            for b in range(c.bars):
                start = beat0 + b * piece.beats_per_bar
                rhythm = part.rhythm[(bar + b) % len(part.rhythm)]
                for at, which, length in rhythm:
                    if part.follows == "tones":
                        freq = hz(c.tones[which % len(c.tones)]) * 2**part.octave
                    else:
                        freq = hz(c.root) * 2 ** (part.octave + which / 12)
                    yield start + at, freq, length
        bar += c.bars
        beat0 += span


def _echo(sound: np.ndarray, delay: int, feedback: float, repeats: int = 8) -> np.ndarray:
    """Ping-pong echo, circular: each repeat one channel over, ``feedback`` quieter."""
    out = sound.copy()
    for k in range(1, repeats + 1):
        out += feedback**k * np.roll(sound[::-1] if k % 2 else sound, k * delay, axis=1)
    return out


def _reverb(sound: np.ndarray, rt60_s: float, wet: float, rng: np.random.Generator):
    """Convolution with decaying noise (a room's late tail), done circularly in the frequency
    domain so the tail of the end lands on the start; highs fade faster than lows."""
    n = sound.shape[1]
    length = min(n, round(rt60_s * 1.2 * RATE))
    t = np.arange(length) / RATE
    ir = rng.standard_normal((2, length)) * np.exp(-6.9 * t / rt60_s)
    ir[:, : round(0.02 * RATE)] = 0  # pre-delay: the dry note stays clear
    ir /= np.sqrt(np.sum(ir**2, axis=1, keepdims=True))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    damping = 1 / (1 + (freqs / 5000) ** 2)
    tail = np.fft.irfft(np.fft.rfft(sound, axis=1) * np.fft.rfft(ir, n, axis=1) * damping, n)
    return (1 - wet) * sound + wet * tail


def _tidy(sound: np.ndarray) -> np.ndarray:
    """No DC, the lowest octave thinned (a bed leaves it to the narration's speakers),
    nothing above 12 kHz: done circularly, so the loop stays exact."""
    n = sound.shape[1]
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    gain = np.clip((freqs - 30) / 50, 0, 1) * np.clip((14_000 - freqs) / 2_000, 0, 1)
    return np.fft.irfft(np.fft.rfft(sound, axis=1) * gain, n)


def render(piece: Piece) -> np.ndarray:
    """The piece as float64 stereo, shape (2, frames), one exact loop long, unnormalised."""
    rng = np.random.default_rng(zlib.crc32(piece.id.encode()))
    frames = round(piece.duration_s * RATE)
    beat_s = 60 / piece.bpm
    dry, sent = np.zeros((2, frames)), np.zeros((2, frames))
    for part in piece.parts:
        voice = VOICES[part.voice]
        gain = 10 ** (part.gain_db / 20)
        target = sent if part.echo else dry
        loose = part.follows != "chord"  # a played line is a person's, not a clock's
        for start, freq, length in _notes(piece, part):
            shift = rng.normal(0, 0.006) if loose else 0.0
            level = gain * (10 ** (rng.normal(0, 0.8) / 20) if loose else 1.0)
            sound = _pan(voice(freq, length * beat_s, rng), part.pan) * level
            _add(target, round((start * beat_s + shift) * RATE), sound)
    if piece.echo_beats:
        dry += _echo(sent, round(piece.echo_beats * beat_s * RATE), piece.echo_feedback)
    wet = _reverb(dry, piece.reverb_s, piece.reverb_wet, rng)
    return _tidy(wet)


# ---------------------------------------------------------------- the library


def _raw():
    return ffmpeg.input("pipe:", format="f32le", ar=RATE, ac=2)


def encode(audio: np.ndarray, out: Path) -> None:
    """Bring ``audio`` to :data:`LEVEL_LUFS` (lower if its peaks need it) and write Ogg Vorbis,
    bit-exact (no random stream serial, no version tag): a rebuild changes only what changed."""
    pcm = np.ascontiguousarray(audio.T, dtype="<f4").tobytes()
    with tempfile.TemporaryDirectory(prefix="wanflow-synth-") as tmp:
        wav = Path(tmp) / "piece.wav"
        run(_raw().output(path_arg(wav), acodec="pcm_f32le"), "synth wav", input=pcm)
        level = measure(wav)
    gain_db = min(LEVEL_LUFS - level.integrated_lufs, CEILING_DBTP - level.true_peak_db)
    scaled = np.ascontiguousarray((audio * 10 ** (gain_db / 20)).T, dtype="<f4").tobytes()
    output = _raw().output(
        path_arg(out),
        acodec="libvorbis",
        audio_bitrate=BITRATE,
        map_metadata=-1,
        fflags="+bitexact",
        **{"flags:a": "+bitexact"},
        format="ogg",
    )
    run(output.overwrite_output(), f"encode {out.name}", input=scaled)


def index_entry(piece: Piece, loudness_lufs: float) -> str:
    def text(value: str) -> str:  # a JSON string is a TOML basic string
        return json.dumps(value, ensure_ascii=False)

    moods = ", ".join(text(m) for m in piece.moods)
    return (
        f"[[track]]\nid = {text(piece.id)}\nfile = {text(piece.file)}\n"
        f"title = {text(piece.title)}\nmoods = [{moods}]\nlicence = {text(LICENCE)}\n"
        f"duration_s = {piece.duration_s:g}\nbpm = {piece.bpm:g}\n"
        f"loudness_lufs = {loudness_lufs:.1f}\n"
    )


def build(folder: Path = SHIPPED_DIR) -> Path:
    """Render, encode and index every piece into ``folder``; returns the index's path."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for piece in PIECES:
        out = folder / piece.file
        encode(render(piece), out)
        decoded, rate = samples(out)
        if rate != RATE or decoded.shape[1] != round(piece.duration_s * RATE):
            raise RuntimeError(f"{out}: decodes to {decoded.shape[1]} frames at {rate} Hz")
        entries.append(index_entry(piece, measure(out).integrated_lufs))
        print(f"{out}: {out.stat().st_size / 1024:.0f} KiB", file=sys.stderr)
    head = (
        "# Wanflow's own music, written by `python -m postprocess.synth` (do not edit by hand:\n"
        "# change the scores in postprocess/scores.py and run it again). Played when the bucket\n"
        "# has no config/bgm/index.toml of its own.\n\n"
    )
    index = folder / "index.toml"
    index.write_text(head + "\n".join(entries), "utf-8")
    return index


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED_DIR)
