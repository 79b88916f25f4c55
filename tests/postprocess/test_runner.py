"""Every ffmpeg run: the error carries ffmpeg's words; a run that never ends is killed."""

from __future__ import annotations

import ffmpeg
import pytest

from postprocess.runner import FFmpegError, run


def test_a_failed_run_raises_with_the_stderr_tail(tmp_path):
    with pytest.raises(FFmpegError, match=r"decode: ffmpeg exited \d+:\n.*No such file") as info:
        run(ffmpeg.input(str(tmp_path / "missing.mp4")).output(str(tmp_path / "x.wav")), "decode")
    assert str(tmp_path / "x.wav") in info.value.command


def test_a_run_past_its_time_limit_is_killed(tmp_path):
    endless = ffmpeg.input("anullsrc", f="lavfi").output(str(tmp_path / "x.wav"))
    with pytest.raises(FFmpegError, match="ran past 1 s and was killed"):
        run(endless.overwrite_output(), "endless", timeout_s=1)


def test_the_ffmpeg_setting_picks_the_binary(tmp_path, monkeypatch):
    from wanflow.settings import Settings
    from wanflow.video import using_ffmpeg

    monkeypatch.setenv("WANFLOW_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with using_ffmpeg(Settings().ffmpeg), pytest.raises(FFmpegError, match="cannot run ffmpeg"):
        run(ffmpeg.input("anullsrc", f="lavfi", t=0.1).output(str(tmp_path / "x.wav")), "tone")
