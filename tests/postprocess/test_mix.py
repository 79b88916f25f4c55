"""The soundtrack mix with the real ffmpeg, on signals made by ffmpeg's own sources.

"Narration" is a 2 kHz tone in 4 Hz syllables and "music" a 220 Hz tone with a slow swell, so
the level of each can be read apart from the other in the mix (``level_db`` with a band).
Tolerances: integrated loudness ±1 LU of the target; true peak at most 0.2 dB over the ceiling
(ebur128's true peak and loudnorm's 192 kHz sample peak differ by about that); duration exact
to the sample, which is well inside one 20 ms audio frame.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from postprocess.loudness import (
    Loudness,
    integrated_loudness,
    level_db,
    measure,
    samples,
    true_peak,
)
from postprocess.mix import mix
from postprocess.runner import path_arg, run

TARGET, CEILING = -16.0, -1.5
PEAK_TOLERANCE_DB = 0.2
MUSIC_BAND = (200.0, 240.0)
VOICE_BAND = (1900.0, 2100.0)
SPEECH = "0.6*sin(2*PI*2000*t)*(0.5+0.5*sin(2*PI*4*t))^2"
SONG = "0.3*sin(2*PI*220*t)*(0.8+0.2*sin(2*PI*0.7*t))"


def source(path: Path, expr: str, seconds: float, rate: int = 22050, stereo: bool = False) -> Path:
    layout = "stereo" if stereo else "mono"
    expr = f"{expr}|{expr}" if stereo else expr
    made = ffmpeg.input(f"aevalsrc={expr}:s={rate}:d={seconds}:c={layout}", format="lavfi")
    codec = {".wav": "pcm_s16le", ".mp3": "libmp3lame"}[path.suffix]
    run(ffmpeg.output(made, path_arg(path), acodec=codec), f"make {path.name}")
    return path


@pytest.fixture(scope="module")
def sounds(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sounds")
    return {
        "voice_a": source(folder / "voice_a.wav", SPEECH, 2.5),
        "voice_b": source(folder / "voice_b.wav", SPEECH, 2.0),
        "music_5s": source(folder / "music_5s.wav", SONG, 5.0, 44100, stereo=True),
        "music_20s": source(folder / "music_20s.mp3", SONG, 20.0, 44100, stereo=True),
        # Clicks on a quiet tone: a crest factor far above speech, so loudnorm alone would
        # have to go dynamic to keep the ceiling.
        "clicks": source(
            folder / "clicks.wav", "0.05*sin(2*PI*2000*t)+0.9*lt(mod(t\\,0.25)\\,0.0005)", 2.0
        ),
    }


def assert_on_target(report, path: Path) -> None:
    assert report.normalization_type == "linear"
    assert abs(report.integrated_lufs - TARGET) <= 1.0
    assert report.true_peak_db <= CEILING + PEAK_TOLERANCE_DB
    # The report is the file's, measured after writing.
    assert measure(path) == Loudness(report.integrated_lufs, report.true_peak_db, report.lra_lu)


def frames(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes(), wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


# --- narration over music ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def story(sounds, tmp_path_factory):
    """12 s: narration at 2.0–4.5 s and 8.0–10.0 s over 5 s of music looped."""
    out = tmp_path_factory.mktemp("story") / "story.wav"
    narration = [(sounds["voice_a"], 2.0), (sounds["voice_b"], 8.0)]
    return mix(narration, 12.0, out, music=sounds["music_5s"]), out


def test_the_mix_meets_loudness_and_peak_targets_linearly(story):
    report, out = story
    assert_on_target(report, out)
    assert (report.has_narration, report.has_music) == (True, True)


def test_the_mix_is_exactly_as_long_as_the_video(story):
    report, out = story
    assert frames(out) == (12 * 48000, 48000, 2, 2)
    assert report.duration_s == 12.0
    assert report.sample_rate == 48000


def test_music_ducks_under_narration(story):
    _, out = story
    under_first = level_db(out, 2.8, 4.3, band_hz=MUSIC_BAND)
    under_second = level_db(out, 8.8, 9.8, band_hz=MUSIC_BAND)
    alone = level_db(out, 5.5, 7.5, band_hz=MUSIC_BAND)  # after the release, before line two
    assert alone - under_first >= 6.0
    assert alone - under_second >= 6.0
    assert alone - under_first <= 10.5  # duck_db=10 caps the depth


def test_narration_sits_where_the_timeline_says(story):
    _, out = story
    assert level_db(out, 1.80, 1.97, band_hz=VOICE_BAND) < -80
    assert level_db(out, 2.03, 2.30, band_hz=VOICE_BAND) > -40
    assert level_db(out, 4.53, 7.97, band_hz=VOICE_BAND) < -80
    assert level_db(out, 8.03, 8.30, band_hz=VOICE_BAND) > -40
    assert level_db(out, 10.03, 12.0, band_hz=VOICE_BAND) < -80


def test_short_music_loops_and_fades_in_and_out(story):
    _, out = story
    full = level_db(out, 1.2, 1.9, band_hz=MUSIC_BAND)  # after the 1 s fade-in
    assert level_db(out, 0.0, 0.2, band_hz=MUSIC_BAND) <= full - 10
    looped = level_db(out, 5.5, 7.5, band_hz=MUSIC_BAND)  # the 5 s source is over by now
    assert abs(looped - full) <= 3.0
    assert level_db(out, 11.8, 12.0, band_hz=MUSIC_BAND) <= looped - 15  # the 2 s fade-out


# --- one of the two, or neither ---------------------------------------------------------------
def test_long_music_alone_is_cut_to_the_video_and_normalised(sounds, tmp_path):
    out = tmp_path / "music.wav"
    report = mix([], 6.0, out, music=sounds["music_20s"])
    assert_on_target(report, out)
    assert frames(out)[0] == 6 * 48000
    assert (report.has_narration, report.has_music) == (False, True)
    assert level_db(out, 0.0, 0.2) <= level_db(out, 2.0, 3.0) - 10  # faded in
    assert level_db(out, 3.0, 3.5, band_hz=MUSIC_BAND) > -30  # music, not silence, mid-way


def test_narration_alone_keeps_each_line_at_its_own_level(sounds, tmp_path):
    out = tmp_path / "narration.wav"
    # One file twice, as a cached sentence said twice would be.
    narration = [(sounds["voice_b"], 0.5), (sounds["voice_b"], 3.0)]
    report = mix(narration, 6.0, out, music=None)
    assert_on_target(report, out)
    assert frames(out)[0] == 6 * 48000
    assert (report.has_narration, report.has_music) == (True, False)
    # amix's default normalisation would give the second line up to 6 dB more, as the first
    # input drops out.
    first, second = level_db(out, 0.5, 2.5), level_db(out, 3.0, 5.0)
    assert abs(first - second) <= 0.3


def test_neither_is_silence_of_the_right_length(tmp_path):
    out = tmp_path / "silence.wav"
    report = mix([], 3.3, out, music=None)
    assert frames(out) == (round(3.3 * 48000), 48000, 2, 2)
    audio, rate = samples(out)
    assert rate == 48000 and not audio.any()
    assert report.normalization_type == "none"
    assert (report.integrated_lufs, report.true_peak_db, report.lra_lu) == (None, None, None)
    assert (report.has_narration, report.has_music) == (False, False)
    assert integrated_loudness(out) == -math.inf
    assert true_peak(out) == -math.inf


# --- peaks and range --------------------------------------------------------------------------
def test_peaky_narration_is_limited_first_and_stays_linear(sounds, tmp_path):
    out = tmp_path / "clicks.wav"
    report = mix([(sounds["clicks"], 1.0)], 4.0, out, music=None)
    assert report.limited
    assert_on_target(report, out)
    assert frames(out)[0] == 4 * 48000
    # The limiter's 5 ms look-ahead is compensated: nothing moved on the timeline.
    audio, rate = samples(out)
    assert np.argmax(np.abs(audio).max(axis=0) > 0.01) / rate == pytest.approx(1.0, abs=0.001)
    assert level_db(out, 0.0, 0.97) == -math.inf
    assert level_db(out, 1.0, 1.25, band_hz=VOICE_BAND) > -60
    assert level_db(out, 3.03, 4.0) == -math.inf


def test_a_mix_wider_than_the_allowed_range_is_normalised_dynamically_and_says_so(sounds, tmp_path):
    out = tmp_path / "wide.wav"
    narration = [(sounds["voice_a"], 2.0)]
    report = mix(narration, 6.0, out, music=sounds["music_5s"], loudness_range=1.0)
    assert report.normalization_type == "dynamic"
    assert not report.limited  # a limiter cannot narrow the range: not tried
    assert frames(out)[0] == 6 * 48000


# --- refusals ---------------------------------------------------------------------------------
def test_bad_arguments_are_refused_before_any_work(sounds, tmp_path):
    out = tmp_path / "never.wav"
    voice = sounds["voice_a"]  # 2.5 s
    cases = [
        (dict(narration=[(voice, 4.0)], duration_s=6.0), r"runs 4.000–6.500 s, past the end"),
        (dict(narration=[(voice, -0.5)]), r"narration 0 \(voice_a.wav\) starts at -0.5 s"),
        (dict(narration=[(tmp_path / "gone.wav", 0.0)]), r"narration file .*gone.wav does not"),
        (dict(music=tmp_path / "gone.mp3"), r"music file .*gone.mp3 does not exist"),
        (dict(duration_s=0.0), r"duration_s must be a positive number"),
        (dict(duck_ratio=30.0), r"duck_ratio=30.0 is out of range: use 1.0–20.0"),
        (dict(target_lufs=-3.0), r"target_lufs=-3.0 is out of range"),
        (dict(fade_in_s=math.nan), r"fade_in_s=nan is out of range"),
    ]
    for change, message in cases:
        arguments = dict(narration=[], duration_s=6.0, music=None) | change
        with pytest.raises(ValueError, match=message):
            mix(arguments.pop("narration"), arguments.pop("duration_s"), out, **arguments)
    empty = source(tmp_path / "empty.wav", "0", 0.0)
    with pytest.raises(ValueError, match=r"music file .*empty.wav holds no audio to loop"):
        mix([], 6.0, out, music=empty)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    with pytest.raises(ValueError, match=r"narration file .*notes.wav is not readable audio"):
        mix([(not_audio, 0.0)], 6.0, out, music=None)
    assert not out.exists()
    assert sorted(tmp_path.iterdir()) == [empty, not_audio]


# --- the meter ----------------------------------------------------------------------------------
def test_the_meter_reads_a_reference_tone(tmp_path):
    # BS.1770: a 1 kHz sine in both channels reads its peak level in LUFS.
    tone = source(tmp_path / "tone.wav", "0.1*sin(2*PI*1000*t)", 5.0, 48000, stereo=True)
    found = measure(tone)
    assert found.integrated_lufs == pytest.approx(-20.0, abs=0.15)
    assert found.true_peak_db == pytest.approx(-20.0, abs=0.15)
    assert level_db(tone, 1.0, 2.0) == pytest.approx(-23.0, abs=0.05)  # RMS of a sine: -3 dB
    assert level_db(tone, 1.0, 2.0, band_hz=(900, 1100)) == pytest.approx(-23.0, abs=0.1)
    assert level_db(tone, 1.0, 2.0, band_hz=(200, 240)) < -90
    with pytest.raises(ValueError, match=r"window 4.5–6.0 s is not inside"):
        level_db(tone, 4.5, 6.0)
