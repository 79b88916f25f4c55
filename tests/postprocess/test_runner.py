"""Every ffmpeg run: the error carries ffmpeg's words; a run that never ends is killed."""

from __future__ import annotations

import ffmpeg
import pytest

from postprocess.runner import FFmpegError, Group, in_group, run


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


def test_stopping_a_group_ends_its_runs_and_refuses_new_ones(tmp_path):
    import contextvars
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Pending

    group = Group()
    endless = ffmpeg.input("anullsrc", f="lavfi").output(str(tmp_path / "x.wav"))

    def in_background() -> str:
        in_group(group)
        return run(endless.overwrite_output(), "endless", timeout_s=120)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(contextvars.copy_context().run, in_background)
        with pytest.raises(Pending):
            running.result(timeout=1)  # still going: it would for two minutes
        group.stop()
        with pytest.raises(FFmpegError) as info:
            running.result()
    assert "ran past" not in str(info.value)  # stopped, not timed out
    with pytest.raises(FFmpegError, match="stopped before it started"):
        contextvars.copy_context().run(in_background)
    # Runs outside the group are not its to stop.
    run(ffmpeg.input("anullsrc", f="lavfi", t=0.1).output(str(tmp_path / "y.wav")), "tone")
