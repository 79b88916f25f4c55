"""A story finished end to end: real TTS, real ffmpeg, the times checked against each other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from postprocess.compose import Options, compose
from postprocess.runner import run
from postprocess.tts import engine_for
from tests.conftest import WANFLOW
from wanflow.video import VideoError, probe, read_frames, write_mp4

STORY = ["猎户座在冬夜升起。", "他带着3只猎犬追逐金牛。", "最后，天蝎座从东方出现。"]


def _clips(folder: Path, count: int = 3, frames: int = 33) -> list[Path]:
    paths = []
    for i in range(count):
        data = np.full((frames, 96, 160, 3), 40 * i + 30, np.uint8)
        paths.append(write_mp4(data, folder / f"clip-{i}.mp4", 16))
    return paths


@pytest.fixture
def music(tmp_path) -> Path:
    import ffmpeg

    path = tmp_path / "bgm.wav"
    run(ffmpeg.input("sine=frequency=220:duration=4", f="lavfi").output(str(path)), "bgm")
    return path


def test_a_narrated_story_with_music_is_timed_mixed_and_subtitled(tmp_path, music):
    clips = _clips(tmp_path)
    options = Options(lang="zh", music=music, transition_s=0.5, padding_s=0.3)
    result = compose(
        clips,
        STORY,
        ["dissolve", "cut"],
        tmp_path / "out" / "story.mp4",
        [engine_for("espeak")],
        tmp_path / "work",
        options,
    )
    assert result.check.failures == []
    assert result.check.subtitle_languages == ["zho"]
    assert abs(result.mix.integrated_lufs - -16.0) <= 1.0
    assert probe(result.video).duration_s == pytest.approx(result.duration_s, abs=1 / 16)
    # Each clip lasts 2.06 s, shorter than its sentence: every shot was extended to its speech.
    assert result.duration_s > 3 * 33 / 16
    srt = result.srt.read_text(encoding="utf-8")
    assert [c.split("\n")[2] for c in srt.strip().split("\n\n")] == [
        "猎户座在冬夜升起",
        "他带着3只猎犬追逐金牛",
        "最后，天蝎座从东方出现",
    ]
    vtt = result.vtt.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == 3
    # No sentence runs under a transition or into the next shot.
    starts = [_seconds(c.split("\n")[1].split(" --> ")[0]) for c in srt.strip().split("\n\n")]
    ends = [_seconds(c.split("\n")[1].split(" --> ")[1]) for c in srt.strip().split("\n\n")]
    shot_starts = result.shot_starts_s
    assert starts[0] == pytest.approx(0.3, abs=0.002)
    assert ends[0] <= shot_starts[1] and starts[1] >= shot_starts[1] + 0.5 - 0.002
    assert ends[1] <= shot_starts[2] and starts[2] >= shot_starts[2]
    assert result.mix.has_music and result.mix.has_narration  # ducking: test_mix.py
    assert result.thumbnail.read_bytes()[:3] == result.poster.read_bytes()[:3] == b"\xff\xd8\xff"


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))


def test_silent_shots_keep_their_length_and_no_subtitle_track_is_made(tmp_path):
    clips = _clips(tmp_path, count=2)
    result = compose(
        clips,
        [None, None],
        ["fade"],
        tmp_path / "silent.mp4",
        [engine_for("espeak")],
        tmp_path / "work",
        Options(lang="en", transition_s=0.5),
    )
    assert result.sentences == 0 and result.check.subtitle_codecs == []
    assert result.duration_s == pytest.approx(2 * 33 / 16 - 0.5, abs=1 / 16)
    assert result.mix.normalization_type == "none"


def test_a_corrupt_clip_is_an_error_naming_it(tmp_path):
    clips = _clips(tmp_path, count=2)
    data = bytearray(clips[1].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = bytes(400)
    clips[1].write_bytes(bytes(data))
    with pytest.raises((VideoError, ValueError), match="clip-1"):
        compose(
            clips,
            ["One.", "Two."],
            ["cut"],
            tmp_path / "x.mp4",
            [engine_for("espeak")],
            tmp_path / "work",
            Options(lang="en"),
        )
    assert not (tmp_path / "x.mp4").exists()


def test_clips_in_the_videos_format_skip_normalise_and_come_out_as_if_normalised(
    tmp_path, monkeypatch
):
    from postprocess.picture import ClipInfo

    clips = _clips(tmp_path, count=2)
    # Smaller than the video: letterboxed by normalise.
    clips.append(write_mp4(np.full((33, 80, 128, 3), 150, np.uint8), tmp_path / "small.mp4", 16))

    def finish(name: str):
        options = Options(lang="zh", transition_s=0.5, padding_s=0.3)
        out = tmp_path / name / "story.mp4"
        engines = [engine_for("espeak")]
        return compose(clips, STORY, ["dissolve", "cut"], out, engines, tmp_path / name, options)

    direct = finish("direct")
    assert [p.name for p in (tmp_path / "direct").glob("shot-*.mp4")] == ["shot-3.mp4"]
    monkeypatch.setattr(ClipInfo, "fits", lambda self, width, height, fps: False)
    normalised = finish("normalised")
    assert sorted(p.name for p in (tmp_path / "normalised").glob("shot-*.mp4")) == [
        "shot-1.mp4",
        "shot-2.mp4",
        "shot-3.mp4",
    ]
    # Every shot held to its sentence, to the frame, and the same picture either way.
    assert direct.duration_s == normalised.duration_s > 3 * 33 / 16
    assert direct.shot_starts_s == normalised.shot_starts_s
    assert direct.check.frames == round(direct.duration_s * 16)
    assert np.array_equal(
        read_frames(tmp_path / "direct" / "picture.mp4"),
        read_frames(tmp_path / "normalised" / "picture.mp4"),
    )


def test_inputs_that_do_not_fit_are_refused(tmp_path):
    clips = _clips(tmp_path, count=2)
    with pytest.raises(ValueError, match="2 clip"):
        compose(clips, ["a"], [], tmp_path / "x.mp4", [], tmp_path, Options())


def test_wanflow_compose_cli(tmp_path, music):
    clips = _clips(tmp_path, count=2)
    story = tmp_path / "story.txt"
    story.write_text("The hunter rises in winter. The scorpion follows him.", encoding="utf-8")
    result = subprocess.run(
        [WANFLOW, "compose", "--clips", *map(str, clips), "--narration", str(story),
         "--bgm", str(music), "--transition", "wipe", "--json", "--out",
         str(tmp_path / "final.mp4")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["sentences"] == 2 and payload["normalization"] == "linear"
    assert len(payload["shot_starts_s"]) == 2
    assert (tmp_path / "final.vtt").read_text().count(" --> ") == 2
    missing = subprocess.run(
        [WANFLOW, "compose", "--clips", str(tmp_path / "nope.mp4"), "--out", "x.mp4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "nope.mp4 is not a file" in missing.stderr


def test_wanflow_compose_cli_voice_and_rate(tmp_path):
    clips = _clips(tmp_path, count=1)

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [WANFLOW, "compose", "--clips", str(clips[0]), "--narration",
             "The hunter rises over the winter hills at night.",
             "--json", "--out", str(tmp_path / "v.mp4"), *extra],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    slow, fast = run("--voice", "espeak:en-gb", "--rate", "70%"), run("--rate", "1.6")
    assert slow.returncode == 0 and fast.returncode == 0, slow.stderr + fast.stderr
    # Same clip: the slower voice needs the longer video (the shot is held to fit the speech).
    assert json.loads(slow.stdout)["duration_s"] > json.loads(fast.stdout)["duration_s"]
    for extra, message in (
        (("--voice", "piper:nobody"), "Piper voice 'nobody' is not installed"),
        (("--rate", "3"), "rate 3.0 is out of range"),
        (("--voice", "piper:../x"), "never by a path"),
    ):
        refused = run(*extra)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
