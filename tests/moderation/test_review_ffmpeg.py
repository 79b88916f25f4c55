"""Review frames are decoded by the ``ffmpeg`` setting's binary (``WANFLOW_FFMPEG``), as every
other ffmpeg run of the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.item_review import review_clip_file
from wanflow.settings import Settings
from wanflow.video import VideoError, write_mp4


def test_a_clips_review_samples_its_frames_with_the_configured_ffmpeg(tmp_path, monkeypatch):
    clip = write_mp4(np.full((5, 32, 48, 3), 90, np.uint8), tmp_path / "clip.mp4", 16)
    monkeypatch.setenv("WANFLOW_FFMPEG", str(tmp_path / "operators-ffmpeg"))
    # A binary that is not there: the review fails naming it, before any classifier loads.
    with pytest.raises(VideoError, match=r"cannot run ffmpeg .*operators-ffmpeg"):
        review_clip_file(clip, Settings())
