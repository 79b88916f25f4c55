"""moderation.frames: the right frames (ends, grid, cuts), in the right form (uint8 RGB)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from moderation.frames import as_uint8, frames_from_array, sample_frames
from moderation.signals import Frame
from wanflow.video import VideoError, to_uint8, write_mp4

FPS, F, H, W, CUT = 16, 48, 48, 64, 20  # 3 s; a hard cut at frame 20 (1.25 s)


def cut_clip() -> np.ndarray:
    """Float [0, 1] frames: a dark blue that brightens slowly, a hard cut, then a bright
    gradient sliding one pixel a frame. Only the cut should ever count as a scene change."""
    x = np.arange(W, dtype=np.float32)
    clip = np.empty((F, H, W, 3), dtype=np.float32)
    for i in range(F):
        if i < CUT:
            clip[i] = (0.10 + 0.004 * i, 0.10 + 0.004 * i, 0.45)
        else:
            ramp = ((x + (i - CUT)) % W) / W
            clip[i, ..., 0] = 0.85
            clip[i, ..., 1] = 0.55 + 0.4 * ramp
            clip[i, ..., 2] = 0.25 + 0.2 * ramp
    return clip


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return cut_clip()


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory, clip):
    return write_mp4(clip, tmp_path_factory.mktemp("frames") / "cut.mp4", FPS)


def picks(frames: list[Frame]) -> list[tuple[int, str]]:
    return [(f.index, f.reason) for f in frames]


def test_ends_grid_and_cut_with_reasons(clip_path):
    frames = sample_frames(clip_path)
    assert picks(frames) == [(0, "first"), (16, "rate"), (CUT, "scene"), (32, "rate"), (47, "last")]
    assert [f.time_s for f in frames] == pytest.approx([0, 1, CUT / FPS, 2, 47 / FPS], abs=1e-6)


def test_rate_sets_frames_per_second(clip_path):
    frames = sample_frames(clip_path, rate=4)
    grid = [f.time_s for f in frames if f.reason == "rate"]
    # 0.25 s steps from 0 to 2.75 s; 0 is "first" and 1.25 s is the cut.
    expected = [k / 4 for k in range(1, 12) if k != 5]
    assert grid == pytest.approx(expected, abs=1e-6)
    times = [f.time_s for f in frames]
    assert times == sorted(times) and len({f.index for f in frames}) == len(frames)


def test_cut_is_found_and_smooth_parts_are_not_scenes(clip_path):
    scenes = [f.index for f in sample_frames(clip_path, rate=0.1) if f.reason == "scene"]
    assert len(scenes) == 1 and abs(scenes[0] - CUT) <= 1
    # A lower threshold still finds nothing in the slow brightening or the sliding gradient.
    scenes = [f.index for f in sample_frames(clip_path, rate=0.1, scene_threshold=0.05)]
    assert [i for i in scenes if abs(i - CUT) > 1] == [0, 47]


def test_steady_fast_motion_is_not_a_cut(tmp_path):
    """Stripes jumping a quarter period every frame: a large but steady difference, which the
    scene score discounts. Frame 1 counts as a change because nothing precedes the first
    difference (ffmpeg's rule, mirrored by frames_from_array)."""
    x = np.arange(W)
    strobe = np.empty((32, H, W, 3), dtype=np.float32)
    for i in range(32):
        strobe[i] = (((x + 8 * i) // 16) % 2)[None, :, None] * 0.8 + 0.1
    expected = [(0, "first"), (1, "scene"), (31, "last")]
    assert picks(frames_from_array(strobe, FPS, rate=0.1)) == expected
    assert picks(sample_frames(write_mp4(strobe, tmp_path / "s.mp4", FPS), rate=0.1)) == expected


def test_images_are_uint8_rgb_with_the_written_colours(clip_path, clip):
    written = to_uint8(clip)
    frames = sample_frames(clip_path, rate=4)
    for frame in frames:
        assert frame.image.dtype == np.uint8 and frame.image.shape == (H, W, 3)
        error = np.abs(frame.image.astype(int) - written[frame.index]).mean(axis=(0, 1))
        assert error.max() < 6, (frame.index, error)  # and frame i really is frame i
    before, after = frames[0].image, next(f.image for f in frames if f.reason == "scene")
    assert before[..., 2].mean() > before[..., 0].mean() + 50  # blue
    assert after[..., 0].mean() > after[..., 2].mean() + 50  # warm


def test_max_frames_keeps_ends_and_cut_and_thins_grid_evenly(clip_path):
    frames = sample_frames(clip_path, rate=FPS, max_frames=6)  # every frame qualifies
    got = picks(frames)
    assert len(got) == 6
    assert {(0, "first"), (CUT, "scene"), (47, "last")} <= set(got)
    grid = [i for i, reason in got if reason == "rate"]
    # 45 grid frames thinned to 3, centred: one per third of the clip, not bunched at the start.
    assert len(grid) == 3 and grid[0] < 16 <= grid[1] < 32 <= grid[2]


def test_max_frames_prefers_strongest_cuts_over_grid():
    # Grey levels held for 4 frames each: 7 cuts of strength 1.0, 0.9, 0.6, 0.4, 0.65, 0.95, 0.5.
    levels = np.array([0.0, 1.0, 0.1, 0.7, 0.3, 0.95, 0.0, 0.5], dtype=np.float32)
    clip = np.broadcast_to(np.repeat(levels, 4)[:, None, None, None], (32, 16, 16, 3))
    assert [f.index for f in frames_from_array(clip, 8, rate=0.1) if f.reason == "scene"] == [
        4,
        8,
        12,
        16,
        20,
        24,
        28,
    ]
    frames = frames_from_array(clip, 8, rate=8, max_frames=5)
    assert picks(frames) == [(0, "first"), (4, "scene"), (8, "scene"), (24, "scene"), (31, "last")]


def test_bad_options_are_refused(clip_path):
    for rate in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rate"):
            sample_frames(clip_path, rate=rate)
    with pytest.raises(ValueError, match="max_frames"):
        sample_frames(clip_path, max_frames=1)
    with pytest.raises(ValueError, match="scene_threshold"):
        sample_frames(clip_path, scene_threshold=2)


def test_not_a_video_raises_video_error(tmp_path, clip_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    with pytest.raises(VideoError, match=r"notes\.mp4"):
        sample_frames(text)
    with pytest.raises(VideoError, match=r"missing\.mp4"):
        sample_frames(tmp_path / "missing.mp4")
    # A few flipped bytes inside one frame's data: ffmpeg's default decode drops or garbles that
    # frame and exits 0, so only strict decoding turns the damage into an error.
    with av.open(str(clip_path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    data = bytearray(clip_path.read_bytes())
    for n, (pos, size) in enumerate((packets[30], packets[40])):
        damaged = tmp_path / f"damaged{n}.mp4"
        at = pos + (4 if n == 0 else size // 2)  # the NAL length field, then picture data
        flipped = bytearray(data)
        flipped[at : at + 4] = bytes(b ^ 0xA5 for b in data[at : at + 4])
        damaged.write_bytes(flipped)
        with pytest.raises(VideoError, match=rf"damaged{n}\.mp4"):
            sample_frames(damaged)


def test_as_uint8_converts_floats_and_channels():
    half = as_uint8(np.full((4, 6, 3), 0.5, dtype=np.float32))
    assert half.dtype == np.uint8 and half.shape == (4, 6, 3) and int(half[0, 0, 0]) in (127, 128)
    ramp = as_uint8(np.linspace(0, 1, 12, dtype=np.float64).reshape(2, 6, 1).repeat(3, axis=2))
    assert ramp.min() == 0 and ramp.max() == 255
    assert as_uint8(np.full((2, 2, 3), 1.03)).max() == 255  # slight overshoot is clipped
    grey = as_uint8(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert grey.shape == (3, 4, 3) and (grey[..., 0] == grey[..., 2]).all() and grey[2, 3, 1] == 11
    assert as_uint8(np.zeros((3, 4, 1), np.float32)).shape == (3, 4, 3)
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red is still shown as red
    rgb = as_uint8(rgba)
    assert rgb.shape == (3, 4, 3) and (rgb[..., 0] == 200).all() and rgb.flags.c_contiguous
    assert as_uint8(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    assert as_uint8(np.full((2, 2, 3), 0x8000, np.uint16))[0, 0, 0] == 128
    assert as_uint8(np.full((2, 2, 3), 200, np.int64))[0, 0, 0] == 200
    palette = Image.new("P", (4, 3))
    palette.putpalette([0, 0, 0, 10, 200, 30])
    palette.paste(1, (0, 0, 4, 3))  # index 1 everywhere: a palette image is not grey level 1
    assert as_uint8(palette)[1, 2].tolist() == [10, 200, 30]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.full((4, 4, 3), 200.0), r"\[0, 1\]"),  # float 0..255 is refused, not guessed
        (np.full((4, 4, 3), -1.0), r"\[0, 1\]"),
        (np.full((4, 4, 3), np.nan), "NaN"),
        (np.zeros((3, 8, 10)), "channels first"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "shape"),
        (np.zeros((4, 4, 3), bool), "dtype"),
        (np.zeros((4, 4, 3), np.complex64), "dtype"),
        (np.full((4, 4, 3), 300, np.int32), "0..255"),
    ],
)
def test_as_uint8_refuses_what_it_cannot_convert(bad, message):
    with pytest.raises(ValueError, match=message):
        as_uint8(bad)


def test_frames_from_array_matches_the_file_and_gives_uint8(clip):
    assert clip.dtype == np.float32
    frames = frames_from_array(clip, FPS)
    assert picks(frames) == [(0, "first"), (16, "rate"), (CUT, "scene"), (32, "rate"), (47, "last")]
    for frame in frames:
        assert frame.image.dtype == np.uint8 and frame.image.shape == (H, W, 3)
        assert np.array_equal(frame.image, to_uint8(clip[frame.index][None])[0])
    assert frame.time_s == pytest.approx(47 / FPS)
    assert picks(frames_from_array(clip[None], FPS)) == picks(frames)  # (1, F, H, W, C)
    smooth = frames_from_array(clip, FPS, rate=0.1, scene_threshold=0.05)
    assert [f.index for f in smooth if f.reason == "scene"] == [CUT]


def test_frames_from_array_refuses_bad_input(clip):
    with pytest.raises(ValueError, match="fps"):
        frames_from_array(clip, 0)
    with pytest.raises(ValueError, match="stack"):
        frames_from_array(clip[0], FPS)  # one image is not a clip
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        frames_from_array(clip * 255, FPS)
