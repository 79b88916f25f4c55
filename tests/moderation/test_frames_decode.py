"""sample_frames decodes a clip once: the frames it picks, their times, reasons and pixels are
those of a full scan followed by a second decode of the chosen frames, and a frame the single
pass could not return (a header that misleads it) is decoded again rather than skipped."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from moderation import frames as frames_module
from moderation.frames import sample_frames
from tests.moderation.test_frames import CUT, FPS, cut_clip
from wanflow.video import write_mp4


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return write_mp4(cut_clip(), tmp_path_factory.mktemp("decode") / "cut.mp4", FPS)


def two_pass(path, rate, scene_threshold=0.3, max_frames=200):
    """The reference: every frame's time and score first, then only the chosen frames."""
    times, scores, kept = frames_module._decode(path, "0", keep=0)
    assert kept == {}
    picks = frames_module._choose(times, scores, rate, scene_threshold, max_frames)
    images = frames_module._extract(path, [i for i, _ in picks])
    return [
        (i, float(times[i]), reason, image)
        for (i, reason), image in zip(picks, images, strict=True)
    ]


def same(got, expected) -> bool:
    return [(f.index, f.time_s, f.reason) for f in got] == [e[:3] for e in expected] and all(
        np.array_equal(f.image, e[3]) for f, e in zip(got, expected, strict=False)
    )


@pytest.fixture
def ffmpeg_runs(monkeypatch):
    """Every ffmpeg process sample_frames starts (the real one runs)."""
    runs = []
    popen = subprocess.Popen

    def counted(args, *a, **kw):
        runs.append(args)
        return popen(args, *a, **kw)

    monkeypatch.setattr(frames_module.subprocess, "Popen", counted)
    return runs


@pytest.mark.parametrize("rate", [1.0, 0.3, 2.5, 4.0, FPS])
def test_one_decode_picks_what_a_scan_and_an_extraction_pick(clip_path, rate, ffmpeg_runs):
    expected = two_pass(clip_path, rate)
    ffmpeg_runs.clear()
    got = sample_frames(clip_path, rate=rate)
    assert len(ffmpeg_runs) == 1, "the clip was decoded more than once"
    assert same(got, expected)
    assert (CUT, "scene") in [(f.index, f.reason) for f in got]
    assert all(f.image.flags.writeable and f.image.dtype == np.uint8 for f in got)


def test_frames_the_header_hides_are_decoded_again(clip_path, ffmpeg_runs, monkeypatch):
    # No frame rate and no frame count: the single pass returns only the first frame and the
    # cut, and the grid frames and the last one must still come back, not be dropped.
    probe = frames_module._probe
    monkeypatch.setattr(frames_module, "_probe", lambda p: (*probe(p)[:3], 0.0, 0))
    expected = two_pass(clip_path, 1.0)
    ffmpeg_runs.clear()
    got = sample_frames(clip_path, rate=1.0)
    assert len(ffmpeg_runs) == 2
    assert same(got, expected)
    assert [f.reason for f in got] == ["first", "rate", "scene", "rate", "last"]


def test_a_clip_needing_thinning_holds_only_its_chosen_frames(clip_path, ffmpeg_runs):
    # Every frame qualifies at the clip's own rate; with room for 6 the grid is thinned, which
    # needs every frame's time first, so the frames come from a second, selective decode.
    got = sample_frames(clip_path, rate=FPS, max_frames=6)
    assert len(ffmpeg_runs) == 2
    assert same(got, two_pass(clip_path, FPS, max_frames=6))


def test_many_chosen_frames_make_a_valid_selection(tmp_path):
    # Hundreds of separate frame numbers once overflowed ffmpeg's expression parser.
    video = np.zeros((401, 16, 16, 3), np.uint8)
    video[::2] = 200
    path = write_mp4(video, tmp_path / "flicker.mp4", 16)
    images = frames_module._extract(path, list(range(0, 401, 2)))
    assert len(images) == 201 and all(int(image.mean()) > 150 for image in images)
