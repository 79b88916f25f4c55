"""One ffmpeg binary for the whole of a run: the ``ffmpeg`` setting (``WANFLOW_FFMPEG``), handed
down by whoever read the settings, is what video encoding and post-production both start."""

from __future__ import annotations

import numpy as np
import pytest

from postprocess.compose import compose, options_from
from postprocess.runner import FFmpegError
from wanflow.settings import Settings
from wanflow.video import VideoError, bundled_ffmpeg, ffmpeg_exe, using_ffmpeg, write_mp4


@pytest.fixture
def chosen(tmp_path, monkeypatch) -> Settings:
    """Settings naming a binary that is not there: a run that starts it fails, naming it."""
    monkeypatch.setenv("WANFLOW_FFMPEG", str(tmp_path / "operators-ffmpeg"))
    return Settings()


def _frames() -> np.ndarray:
    return np.full((5, 32, 48, 3), 90, np.uint8)


def test_video_encoding_runs_the_configured_binary(tmp_path, chosen):
    with using_ffmpeg(chosen.ffmpeg) as binary:
        assert binary == ffmpeg_exe() == str(tmp_path / "operators-ffmpeg")
        with pytest.raises(VideoError, match=r"cannot run ffmpeg .*operators-ffmpeg"):
            write_mp4(_frames(), tmp_path / "clip.mp4", 16)
    assert ffmpeg_exe() == bundled_ffmpeg()  # outside the block: imageio-ffmpeg's again
    assert write_mp4(_frames(), tmp_path / "clip.mp4", 16).exists()


def test_post_production_runs_the_configured_binary(tmp_path, chosen):
    clip = write_mp4(_frames(), tmp_path / "clip.mp4", 16)
    options = options_from(chosen, lang="zh", music=None)
    assert options.ffmpeg == str(tmp_path / "operators-ffmpeg")
    with pytest.raises(FFmpegError, match=r"cannot run ffmpeg .*operators-ffmpeg"):
        compose([clip], [None], [], tmp_path / "out.mp4", [], tmp_path / "work", options)
    assert ffmpeg_exe() == bundled_ffmpeg()


def test_unset_means_imageio_ffmpegs_binary(monkeypatch):
    monkeypatch.delenv("WANFLOW_FFMPEG", raising=False)
    with using_ffmpeg(Settings().ffmpeg) as binary:
        assert binary == bundled_ffmpeg()
