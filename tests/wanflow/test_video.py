"""wanflow.video: exact frame counts and rates, faithful colours, atomic writes, clear errors."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from wanflow import video
from wanflow.video import (
    VideoError,
    ffmpeg_exe,
    probe,
    read_frames,
    to_uint8,
    write_mp4,
    write_png,
)

F, H, W = 17, 48, 64


def gradient_clip(frames: int = F) -> np.ndarray:
    """Smooth float content that moves, with blue rising frame by frame so order is visible."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    clip = np.empty((frames, H, W, 3), dtype=np.float32)
    for i in range(frames):
        clip[i, ..., 0] = ((x + 3 * i) % W) / W * 0.6 + 0.2
        clip[i, ..., 1] = y / H * 0.6 + 0.2
        clip[i, ..., 2] = (40 + 10 * i) / 255
    return clip


@pytest.mark.parametrize("fps", [16, 24, 24000 / 1001])
def test_mp4_has_exact_frames_rate_size_and_format(tmp_path, fps):
    clip = gradient_clip()
    out = write_mp4(clip, tmp_path / "clip.mp4", fps)
    assert out == tmp_path / "clip.mp4"
    info = probe(out)
    assert info.frames == F
    assert info.fps == pytest.approx(fps, abs=1e-9)
    assert (info.width, info.height) == (W, H)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.duration_s == pytest.approx(F / fps, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temp file left


def test_decoded_frames_match_input_in_order(tmp_path):
    clip = to_uint8(gradient_clip())
    decoded = read_frames(write_mp4(clip, tmp_path / "clip.mp4", 16))
    assert decoded.shape == clip.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - clip).mean() < 6
    blue_in = clip[..., 2].mean(axis=(1, 2))
    blue_out = decoded[..., 2].mean(axis=(1, 2))
    assert np.abs(blue_out - blue_in).max() < 3  # frame i is frame i: no drop, dup or reorder


def test_saturated_colours_survive_and_are_tagged_bt709(tmp_path):
    """A matrix mismatch between encoder and tag shifts saturated colours by 20+ levels."""
    colours = np.random.default_rng(0).integers(0, 256, (F, 3), dtype=np.uint8)
    clip = np.ascontiguousarray(np.broadcast_to(colours[:, None, None, :], (F, H, W, 3)))
    path = write_mp4(clip, tmp_path / "flat.mp4", 16)
    decoded = read_frames(path)
    assert np.abs(decoded.astype(int) - clip).max() <= 4
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == (av.video.reformatter.Colorspace.ITU709, 1)


def test_batch_dim_of_one_is_accepted(tmp_path):
    clip = gradient_clip()
    assert np.array_equal(to_uint8(clip[None]), to_uint8(clip))
    assert probe(write_mp4(clip[None], tmp_path / "b.mp4", 16)).frames == F


def test_float_scaling_clipping_and_uint8_passthrough():
    x = np.array([0.0, 0.5, 1.0, -0.2, 1.3, 0.1], dtype=np.float32).reshape(1, 1, 2, 3)
    out = to_uint8(x)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    assert out.ravel().tolist() == [0, 128, 255, 0, 255, 26]
    assert to_uint8(x.astype(np.float64)).ravel().tolist() == out.ravel().tolist()
    u = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    assert np.array_equal(to_uint8(u[:, :, ::-1]), u[:, :, ::-1])
    assert to_uint8(u[:, :, ::-1]).flags.c_contiguous


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((F, 48, 64, 4), np.float32), r"\(17, 48, 64, 4\)"),
        (np.zeros((0, 48, 64, 3), np.float32), r"\(0, 48, 64, 3\)"),
        (np.zeros((48, 64, 3), np.float32), r"\(48, 64, 3\)"),
        (np.zeros((2, F, 48, 64, 3), np.float32), r"\(2, 17, 48, 64, 3\)"),
        (np.zeros((F, 48, 64, 3), np.int32), "int32"),
        (np.full((F, 48, 64, 3), np.nan, np.float32), "NaN"),
        (np.full((F, 48, 64, 3), np.inf, np.float32), "infinite"),
    ],
)
def test_bad_frames_raise_clear_value_error(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        to_uint8(frames)
    with pytest.raises(ValueError, match=message):
        write_mp4(frames, tmp_path / "x.mp4", 16)
    assert list(tmp_path.iterdir()) == []


def test_one_nan_among_valid_pixels_is_caught():
    clip = gradient_clip(3)
    clip[2, 10, 10, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(clip)


@pytest.mark.parametrize(("h", "w"), [(48, 65), (47, 64)])
def test_odd_size_is_refused_naming_it(tmp_path, h, w):
    with pytest.raises(ValueError, match=f"{w}x{h}"):
        write_mp4(np.zeros((3, h, w, 3), np.uint8), tmp_path / "odd.mp4", 16)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [0, -16, float("nan")])
def test_bad_fps_is_refused(tmp_path, fps):
    with pytest.raises(ValueError, match="fps"):
        write_mp4(gradient_clip(2), tmp_path / "x.mp4", fps)


@pytest.mark.parametrize("crf", [-1, 52, 99])
def test_crf_outside_x264_range_is_refused(tmp_path, crf):
    """x264 clamps an out-of-range crf and exits 0, so the encoder would not catch it."""
    with pytest.raises(ValueError, match=f"got {crf}"):
        write_mp4(gradient_clip(2), tmp_path / "x.mp4", 16, crf=crf)


def test_missing_directory_raises_video_error(tmp_path):
    target = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(VideoError, match="No such file or directory"):
        write_mp4(gradient_clip(2), target, 16)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_failed_encode_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"previous good video")
    with pytest.raises(VideoError, match="glacial") as caught:  # ffmpeg's stderr, quoted
        write_mp4(gradient_clip(2), target, 16, preset="glacial")
    assert str(target) in str(caught.value)
    assert target.read_bytes() == b"previous good video"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_frame_count_mismatch_is_an_error_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "_count_packets", lambda path: 16)
    with pytest.raises(VideoError, match=r"wrote 16 frames .* expected 17"):
        write_mp4(gradient_clip(), tmp_path / "clip.mp4", 16)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_exe_honours_env_and_missing_binary_is_video_error(tmp_path, monkeypatch):
    video.bundled_ffmpeg.cache_clear()
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-ffmpeg"))
    try:
        assert ffmpeg_exe() == str(tmp_path / "no-ffmpeg")
        with pytest.raises(VideoError, match="cannot run ffmpeg"):
            write_mp4(gradient_clip(2), tmp_path / "clip.mp4", 16)
    finally:
        video.bundled_ffmpeg.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_png_round_trips_exactly(tmp_path):
    frame = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    path = write_png(frame, tmp_path / "f.png")
    assert np.array_equal(np.asarray(Image.open(path)), frame)
    write_png(np.full((H, W, 3), 0.5, np.float32), path)  # replaces the first one
    assert np.asarray(Image.open(path)).max() == np.asarray(Image.open(path)).min() == 128
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


def test_png_refuses_a_clip(tmp_path):
    with pytest.raises(ValueError, match="H, W, 3"):
        write_png(gradient_clip(2), tmp_path / "f.png")


def test_probe_and_read_refuse_what_is_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    png = write_png(np.zeros((H, W, 3), np.uint8), tmp_path / "still.png")
    for path in (text, tmp_path / "missing.mp4"):
        with pytest.raises(VideoError, match=path.name):
            probe(path)
        with pytest.raises(VideoError, match=path.name):
            read_frames(path)
    assert probe(png).frames == 1  # a still image is a one-frame video to FFmpeg, not an error
