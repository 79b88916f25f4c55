"""Assembly with real ffmpeg: normalising clips (size, rate, extension, corrupt input) and joining
them with each transition, checked by counting and looking at the frames written."""

from __future__ import annotations

import numpy as np
import pytest

from postprocess.assemble import TRANSITIONS, AssembleError, join, layout, normalise
from postprocess.picture import inspect
from postprocess.runner import FFmpegError, path_arg, run
from wanflow.video import probe, read_frames, write_mp4

FPS = 16
H, W = 96, 160
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


def moving(frames: int, colour=RED, height: int = H, width: int = W) -> np.ndarray:
    """A colour with a gradient that moves, so every frame is different (and H.264 has real
    data to corrupt)."""
    y, x = np.mgrid[0:height, 0:width]
    out = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        ripple = ((x * 3 + y * 2 + i * 7) % 64).astype(np.int16) - 32
        for c, level in enumerate(colour):
            out[i, ..., c] = np.clip(level + ripple, 0, 255)
    return out


@pytest.fixture
def clip(tmp_path):
    def make(name: str, frames: int, colour=RED, height: int = H, width: int = W, fps=FPS):
        return write_mp4(moving(frames, colour, height, width), tmp_path / name, fps, crf=23)

    return make


@pytest.fixture
def segments(tmp_path, clip):
    """Three normalised shots of 17, 33 and 25 frames: red, blue, green."""
    shots = [("a", 17, RED), ("b", 33, BLUE), ("c", 25, GREEN)]
    return [
        normalise(clip(f"{n}.mp4", f, c), tmp_path / f"n{n}.mp4", width=W, height=H, fps=FPS)
        for n, f, c in shots
    ]


# --- normalise ------------------------------------------------------------------------------
def test_normalise_letterboxes_to_size_rate_and_pixel_format(tmp_path, clip):
    src = clip("wide.mp4", 17, height=96, width=160)
    seg = normalise(src, tmp_path / "n.mp4", width=128, height=128, fps=24)
    info = probe(seg.path)
    assert (info.width, info.height, info.fps, info.pix_fmt) == (128, 128, 24.0, "yuv420p")
    assert info.frames == seg.frames and seg.duration_s == seg.frames / 24
    assert abs(seg.duration_s - 17 / FPS) <= 1 / 24
    frame = read_frames(seg.path)[5].astype(int)
    # 160×96 into 128×128: scaled to 128×76 (even), black bars of 26 rows above and below.
    assert frame[:24].max() < 20 and frame[-24:].max() < 20
    assert frame[40:88, :, 0].mean() > 150  # the red picture itself


def test_hold_clones_the_last_frame_for_whole_frames(tmp_path, clip):
    seg = normalise(clip("a.mp4", 17), tmp_path / "n.mp4", width=W, height=H, fps=FPS, hold_s=0.5)
    assert seg.frames == 17 + 8 and seg.duration_s == pytest.approx(17 / FPS + 0.5)
    frames = read_frames(seg.path).astype(int)
    assert np.abs(frames[16:] - frames[16]).max() <= 2  # held: the last frame, again and again
    assert np.abs(frames[15] - frames[16]).max() > 10  # moving before it


@pytest.mark.parametrize(("slow", "hold_s"), [(1.5, 0.0), (1.25, 0.25)])
def test_slow_down_and_hold_extend_by_the_expected_amount(tmp_path, clip, slow, hold_s):
    settings = {"width": W, "height": H, "fps": FPS, "slow_factor": slow, "hold_s": hold_s}
    seg = normalise(clip("a.mp4", 17), tmp_path / "n.mp4", **settings)
    assert abs(seg.duration_s - (17 / FPS * slow + hold_s)) <= 1 / FPS
    assert probe(seg.path).frames == seg.frames


def test_corrupt_clip_is_an_error_naming_it(tmp_path, clip):
    path = clip("broken.mp4", 33)
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    middle = at + size // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    out = tmp_path / "n.mp4"
    with pytest.raises(FFmpegError, match=r"broken\.mp4"):
        normalise(path, out, width=W, height=H, fps=FPS)
    assert not out.exists() and list(tmp_path.glob(".*part")) == []


@pytest.mark.parametrize(
    "kwargs",
    [{"width": 161}, {"height": 0}, {"fps": 0}, {"slow_factor": 0.5}, {"hold_s": -1}, {"crf": 60}],
)
def test_normalise_refuses_bad_settings(tmp_path, clip, kwargs):
    settings = {"width": W, "height": H, "fps": FPS} | kwargs
    with pytest.raises(ValueError):
        normalise(clip("a.mp4", 17), tmp_path / "n.mp4", **settings)


# --- join -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [*TRANSITIONS, None])
def test_join_duration_and_starts_for_each_transition(tmp_path, segments, kind):
    joined = join([s.path for s in segments], [kind, kind], tmp_path / "j.mp4", fps=FPS)
    overlap = 0 if TRANSITIONS.get(kind) is None else 8  # 0.5 s at 16 fps
    assert joined.frames == 17 + 33 + 25 - 2 * overlap
    assert joined.total_s == pytest.approx(joined.frames / FPS)
    assert joined.starts_s == pytest.approx(
        [0, (17 - overlap) / FPS, (17 + 33 - 2 * overlap) / FPS]
    )
    info = probe(joined.path)
    assert abs(info.frames / info.fps - joined.total_s) <= 1 / FPS
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", W, H)


def test_cut_is_a_plain_concatenation(tmp_path, segments):
    joined = join([s.path for s in segments], ["cut", None], tmp_path / "j.mp4", fps=FPS)
    frames = read_frames(joined.path).astype(int)
    colours = [frames[i].mean(axis=(0, 1)) for i in (0, 16, 17, 49, 50, 74)]
    dominant = [int(np.argmax(c)) for c in colours]
    assert dominant == [0, 0, 2, 2, 1, 1]  # red up to frame 16, blue 17–49, green from 50


def test_transitions_blend_the_neighbouring_shots(tmp_path, segments):
    red, blue = segments[0].path, segments[1].path
    dissolve = read_frames(join([red, blue], ["dissolve"], tmp_path / "d.mp4", fps=FPS).path)
    fade = read_frames(join([red, blue], ["fade"], tmp_path / "f.mp4", fps=FPS).path)
    middle = 17 - 8 + 4  # halfway through the 8-frame overlap
    r, _, b = dissolve[middle].astype(float).mean(axis=(0, 1))
    assert r > 80 and b > 80  # a cross-dissolve shows both shots at once
    assert fade[middle].mean() < 0.5 * fade[0].mean()  # a fade dips to black


def test_transition_longer_than_a_clip_is_refused(tmp_path, segments):
    paths = [s.path for s in segments]
    with pytest.raises(ValueError, match=r"na\.mp4 lasts 1\.062 s"):
        join(paths[:2], ["dissolve"], tmp_path / "j.mp4", fps=FPS, transition_s=1.5)
    # 0.6 s in and 0.6 s out of a 1.06 s clip would make its two transitions overlap.
    with pytest.raises(
        ValueError,
        match=r"na\.mp4 lasts 1\.062 s \(17 frames\), shorter than its transitions \(wipe, slide",
    ):
        order = [paths[1], paths[0], paths[2]]
        join(order, ["wipe", "slide"], tmp_path / "j.mp4", fps=FPS, transition_s=0.6)
    assert not (tmp_path / "j.mp4").exists()


def test_join_refuses_unknown_transitions_wrong_counts_and_other_rates(tmp_path, segments, clip):
    paths = [s.path for s in segments]
    with pytest.raises(ValueError, match=r"\('spin'\) is not one of fade, dissolve"):
        join(paths, ["spin", None], tmp_path / "j.mp4", fps=FPS)
    with pytest.raises(ValueError, match="3 clips need 2 transitions"):
        join(paths, ["cut"], tmp_path / "j.mp4", fps=FPS)
    with pytest.raises(ValueError, match="normalise it first"):
        join([paths[0], clip("x.mp4", 17, fps=24)], ["cut"], tmp_path / "j.mp4", fps=FPS)


def test_a_short_output_is_an_error(tmp_path, segments, monkeypatch):
    """The guard against xfade's silent drop: pretend a clip is longer than it is, so the
    offset lands past the first input's end, and the written file comes out short."""
    import postprocess.assemble as assemble

    real = assemble._frames_at
    monkeypatch.setattr(assemble, "_frames_at", lambda clip, rate: real(clip, rate) + 30)
    paths = [s.path for s in segments[:2]]
    with pytest.raises(AssembleError, match="expected"):
        join(paths, ["dissolve"], tmp_path / "j.mp4", fps=FPS)
    assert not (tmp_path / "j.mp4").exists()


# --- clips that skip normalise ----------------------------------------------------------------
def test_a_clip_fits_only_a_video_of_its_own_size_rate_and_colours(tmp_path, clip):
    import ffmpeg

    info = inspect(clip("a.mp4", 17))
    assert (info.frames, info.width, info.height, info.rate) == (17, W, H, FPS)
    assert info.duration_s == pytest.approx(17 / FPS, abs=0.001)
    assert info.fits(W, H, FPS)
    assert not info.fits(128, 128, FPS) and not info.fits(W, H, 24)
    assert not inspect(clip("b.mp4", 17, fps=24)).fits(W, H, FPS)
    # Same size and rate, but BT.601 or full range: normalise converts these to BT.709.
    for name, tags in (
        ("601.mp4", {"colorspace": "smpte170m", "pix_fmt": "yuv420p"}),
        ("full.mp4", {"colorspace": "bt709", "pix_fmt": "yuvj420p"}),
    ):
        made = ffmpeg.input(f"testsrc2=s={W}x{H}:r={FPS}:d=1", f="lavfi").output(
            path_arg(tmp_path / name), vcodec="libx264", **tags
        )
        run(made, f"make {name}")
        assert not inspect(tmp_path / name).fits(W, H, FPS), name
    # One frame late (the rate on average right): the fps filter would drop or repeat one.
    uneven = ffmpeg.input(path_arg(clip("c.mp4", 17))).filter("setpts", "(N+eq(N,8)*0.5)/(16*TB)")
    run(uneven.output(path_arg(tmp_path / "gap.mp4"), fps_mode="passthrough"), "make gap.mp4")
    assert not inspect(tmp_path / "gap.mp4").fits(W, H, FPS)


def test_join_holds_a_clip_read_as_it_is_exactly_as_normalise_would(tmp_path, clip):
    """The frames of a clip that skips normalise reach the encode unchanged: the joined video is
    the one made from its lossless normalised copy, frame for frame."""
    first, second = clip("a.mp4", 17), clip("b.mp4", 25, BLUE)
    held = normalise(first, tmp_path / "na.mp4", width=W, height=H, fps=FPS, hold_s=0.5)
    plain = normalise(second, tmp_path / "nb.mp4", width=W, height=H, fps=FPS, hold_s=0.25)
    settings = {"fps": FPS, "transition_s": 0.5}
    made = join([held.path, plain.path], ["dissolve"], tmp_path / "n.mp4", **settings)
    direct = join(
        [first, second], ["dissolve"], tmp_path / "d.mp4", holds=[8, 4], strict=True, **settings
    )
    assert direct.frames == made.frames == 17 + 8 + 25 + 4 - 8
    assert (direct.starts_s, direct.total_s) == (made.starts_s, made.total_s)
    assert probe(direct.path).frames == direct.frames
    assert np.array_equal(read_frames(direct.path), read_frames(made.path))


def test_join_refuses_bad_holds(tmp_path, segments):
    paths = [s.path for s in segments[:2]]
    for holds in ([1], [0, -1], [0, 0.5]):
        with pytest.raises(ValueError, match="holds must be 2 whole numbers"):
            join(paths, ["cut"], tmp_path / "j.mp4", fps=FPS, holds=holds)


def test_a_corrupt_clip_read_strictly_by_join_is_an_error(tmp_path, clip):
    path = clip("broken.mp4", 33)
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat")
    middle = at + int.from_bytes(data[at - 4 : at], "big") // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    assert inspect(path).fits(W, H, FPS)  # its packets are whole: only decoding finds it
    with pytest.raises(FFmpegError, match="Invalid data"):
        join([path], [], tmp_path / "j.mp4", fps=FPS, strict=True)
    assert not (tmp_path / "j.mp4").exists()
    # Not strictly (an intermediate normalise wrote): the decoder conceals the damage.
    assert join([path], [], tmp_path / "j.mp4", fps=FPS).frames == 33


def test_layout_says_what_join_writes_before_it_runs(tmp_path, segments):
    paths = [s.path for s in segments]
    settings = {"fps": FPS, "transition_s": 0.5, "holds": [3, 0, 2]}
    planned = layout(paths, ["wipe", None], tmp_path / "j.mp4", **settings)
    assert not (tmp_path / "j.mp4").exists()
    assert planned.frames == 17 + 3 + 33 + 25 + 2 - 8
    assert planned.starts_s == [0.0, (17 + 3 - 8) / FPS, (17 + 3 - 8 + 33) / FPS]
    assert join(paths, ["wipe", None], tmp_path / "j.mp4", **settings) == planned
    with pytest.raises(ValueError, match="3 clips need 2 transitions"):
        layout(paths, ["cut"], tmp_path / "j.mp4", fps=FPS)
