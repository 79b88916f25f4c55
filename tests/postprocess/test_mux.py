"""The finished file with real ffmpeg: mux (streams, language tags, fast start, durations),
burned-in Chinese subtitles and their fonts, still images, and the output checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import ffmpeg
import numpy as np
import pytest
from PIL import Image

from postprocess.checks import OutputError, check_output
from postprocess.fonts import FontError, family, find_cjk_font, needs_cjk
from postprocess.mux import encode_audio, iso639_2, mux, poster, thumbnail
from postprocess.runner import path_arg, run
from wanflow.video import read_frames, write_mp4

FPS = 16
FRAMES = 33  # 2.0625 s
H, W = 288, 512
SRT_ZH = (
    "1\n00:00:00,000 --> 00:00:01,800\n你好，世界\n\n2\n00:00:01,800 --> 00:00:02,000\n第二句\n"
)
SRT_EN = "1\n00:00:00,000 --> 00:00:02,000\nHello, world\n"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A grey clip whose first frame is red, a 1 kHz tone (−18 dBFS peak in both channels: −18
    LUFS) longer than it and one shorter, and subtitles in Chinese and English."""
    root = tmp_path_factory.mktemp("media")
    frames = np.full((FRAMES, H, W, 3), 96, np.uint8)
    frames[:, :, :, 0] += np.arange(FRAMES, dtype=np.uint8)[:, None, None]  # every frame differs
    frames[0] = (200, 20, 20)
    video = write_mp4(frames, root / "picture.mp4", FPS, crf=23, preset="veryfast")
    tones = {}
    for name, seconds in (("long", 3.0), ("short", 1.2)):
        tones[name] = root / f"{name}.wav"
        # sine's amplitude is 1/8 (−18 dBFS); "pan" copies it to both channels, where upmixing
        # with "ac=2" would put it 3 dB down in each.
        graph = f"sine=frequency=1000:sample_rate=44100:duration={seconds},pan=stereo|c0=c0|c1=c0"
        stream = ffmpeg.input(graph, f="lavfi")
        run(stream.output(path_arg(tones[name])), "tone")
    subtitles = {}
    for lang, text in (("zh", SRT_ZH), ("en", SRT_EN)):
        subtitles[lang] = root / f"{lang}.srt"
        subtitles[lang].write_text(text, encoding="utf-8")
    return {"video": video, "tones": tones, "srt": subtitles, "root": root}


@pytest.fixture(scope="module")
def cjk_font():
    try:
        return find_cjk_font()
    except FontError as exc:
        pytest.skip(f"no CJK font installed: {exc}")


def top_level_boxes(path: Path) -> list[bytes]:
    boxes, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8])
        at += size
    return boxes


# --- mux ------------------------------------------------------------------------------------
@pytest.mark.parametrize("tone", ["long", "short"])
def test_mux_streams_language_faststart_and_durations(tmp_path, media, tone):
    out = mux(
        media["video"],
        media["tones"][tone],
        tmp_path / "final.mp4",
        subtitles_srt=media["srt"]["zh"],
        language="zh",
    )
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        subtitles = container.streams.subtitles
        assert (video.codec_context.name, video.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("aac", 48_000)
        assert [(s.codec_context.name, s.language) for s in subtitles] == [("mov_text", "zho")]
    boxes = top_level_boxes(out)
    assert boxes.index(b"moov") < boxes.index(b"mdat")
    report = check_output(out, expect_subtitles=True, target_lufs=None, language="zho")
    assert report.frames == FRAMES and report.video_s == FRAMES / FPS
    assert abs(report.audio_s - report.video_s) <= 1 / FPS
    assert report.audio_s == pytest.approx(FRAMES / FPS, abs=1 / 48_000)  # sample-exact fit
    assert np.array_equal(read_frames(out), read_frames(media["video"]))  # copied, not re-encoded


def _audio_packets(path: Path) -> list[tuple[int, int, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(p.pts, p.duration, bytes(p)) for p in container.demux(stream) if p.size]


def test_audio_encoded_ahead_for_the_picture_is_copied(tmp_path, media):
    ahead = encode_audio(media["tones"]["long"], tmp_path / "a.m4a", duration_s=FRAMES / FPS)
    out = mux(media["video"], ahead, tmp_path / "final.mp4", subtitles_srt=None, language="zh")
    assert _audio_packets(out) == _audio_packets(ahead)  # copied as it was
    report = check_output(out, expect_subtitles=False, target_lufs=-18.0)
    assert report.audio_s == pytest.approx(FRAMES / FPS, abs=1 / 48_000)  # sample-exact fit
    # The same as mux encoding the WAV itself.
    direct = mux(
        media["video"],
        media["tones"]["long"],
        tmp_path / "d.mp4",
        subtitles_srt=None,
        language="zh",
    )
    assert _audio_packets(direct) == _audio_packets(out)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].language == "zho"


def test_aac_of_another_length_is_fitted_again(tmp_path, media):
    ahead = encode_audio(media["tones"]["long"], tmp_path / "a.m4a", duration_s=1.0)
    out = mux(media["video"], ahead, tmp_path / "final.mp4", subtitles_srt=None, language="zh")
    assert _audio_packets(out) != _audio_packets(ahead)
    report = check_output(out, expect_subtitles=False, target_lufs=None)
    assert report.audio_s == pytest.approx(FRAMES / FPS, abs=1 / 48_000)


def test_english_track_is_tagged_eng(tmp_path, media):
    out = mux(
        media["video"],
        media["tones"]["long"],
        tmp_path / "en.mp4",
        subtitles_srt=media["srt"]["en"],
        language="en-US",
    )
    report = check_output(out, expect_subtitles=True, target_lufs=None, language="eng")
    assert report.subtitle_languages == ["eng"]


@pytest.mark.parametrize(
    ("code", "tag"),
    [("zh", "zho"), ("zh-CN", "zho"), ("chi", "zho"), ("cmn", "zho"), ("en", "eng")],
)
def test_language_codes_map_to_iso_639_2(code, tag):
    assert iso639_2(code) == tag


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="'xx' has no ISO 639-2 tag"):
        iso639_2("xx")


# --- burned-in subtitles and fonts ----------------------------------------------------------
def test_burned_chinese_subtitles_draw_in_the_subtitle_area(tmp_path, media, cjk_font):
    args = (media["video"], media["tones"]["long"])
    plain = read_frames(mux(*args, tmp_path / "plain.mp4", subtitles_srt=None, language="zh"))
    burned_path = mux(
        *args,
        tmp_path / "burned.mp4",
        subtitles_srt=None,
        language="zh",
        burn_subtitles=media["srt"]["zh"],
    )
    burned = read_frames(burned_path)
    diff = np.abs(burned.astype(int) - plain.astype(int)).max(axis=-1)[10]
    assert (diff[H * 2 // 3 :] > 60).sum() > 100  # glyphs in the bottom third
    assert diff[: H // 2].max() < 30  # nothing drawn above the middle


def test_burn_with_a_given_font_file_and_folder(tmp_path, media, cjk_font):
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(cjk_font, folder)
    assert find_cjk_font(folder) == folder / cjk_font.name
    assert family(cjk_font)
    for font in (cjk_font, folder):
        mux(
            media["video"],
            media["tones"]["long"],
            tmp_path / "b.mp4",
            subtitles_srt=None,
            language="zh",
            burn_subtitles=media["srt"]["zh"],
            font=font,
        )


def test_chinese_burn_with_an_empty_font_folder_is_a_font_error(tmp_path, media):
    empty = tmp_path / "fonts"
    empty.mkdir()
    out = tmp_path / "b.mp4"
    with pytest.raises(FontError, match="fonts-wqy-microhei"):
        mux(
            media["video"],
            media["tones"]["long"],
            out,
            subtitles_srt=None,
            language="zh",
            burn_subtitles=media["srt"]["zh"],
            font=empty,
        )
    assert not out.exists()


@pytest.mark.skipif(not DEJAVU.is_file(), reason="needs fonts-dejavu-core")
def test_chinese_burn_with_a_latin_font_is_a_font_error(tmp_path, media):
    with pytest.raises(FontError, match="no Chinese glyphs"):
        mux(
            media["video"],
            media["tones"]["long"],
            tmp_path / "b.mp4",
            subtitles_srt=None,
            language="zh",
            burn_subtitles=media["srt"]["zh"],
            font=DEJAVU,
        )
    with pytest.raises(FontError, match="no font with Chinese glyphs"):
        find_cjk_font(DEJAVU.parent)


def test_glyphs_libass_cannot_draw_are_an_error(tmp_path, media, cjk_font):
    """An emoji is in no CJK font: libass warns, draws nothing for it, and exits 0."""
    srt = tmp_path / "emoji.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\n你好🙂\n", encoding="utf-8")
    out = tmp_path / "b.mp4"
    with pytest.raises(FontError, match="0x1F642"):
        mux(
            media["video"],
            media["tones"]["long"],
            out,
            subtitles_srt=None,
            language="zh",
            burn_subtitles=srt,
        )
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "cjk"),
    [
        ("Hello, world", False),
        ("Café – “quoted”", False),
        ("你好", True),
        ("OK，", True),
        ("カタカナ", True),
        ("한국어", True),
    ],
)
def test_needs_cjk(text, cjk):
    assert needs_cjk(text) is cjk


# --- stills ---------------------------------------------------------------------------------
def test_poster_is_the_first_frame_and_thumbnail_a_later_one(tmp_path, media):
    first = np.asarray(Image.open(poster(media["video"], tmp_path / "poster.jpg")))
    assert first.shape == (H, W, 3)
    assert first[..., 0].mean() > 180 and first[..., 1].mean() < 50  # the red first frame
    at = np.asarray(Image.open(thumbnail(media["video"], tmp_path / "t.jpg", at_s=1.0)))
    assert abs(float(at[..., 0].mean()) - (96 + 16)) < 6  # frame 16 of the grey ramp
    typical = np.asarray(Image.open(thumbnail(media["video"], tmp_path / "auto.jpg")))
    assert typical[..., 1].mean() > 80  # the thumbnail filter passes over the odd red frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto.jpg", "poster.jpg", "t.jpg"]


def test_thumbnail_outside_the_video_is_refused(tmp_path, media):
    with pytest.raises(ValueError, match="at_s must be within"):
        thumbnail(media["video"], tmp_path / "t.jpg", at_s=5.0)


# --- checks ---------------------------------------------------------------------------------
def test_check_output_passes_a_good_file_and_measures_loudness(tmp_path, media):
    out = mux(
        media["video"],
        media["tones"]["long"],
        tmp_path / "final.mp4",
        subtitles_srt=media["srt"]["zh"],
        language="zh",
    )
    report = check_output(out, expect_subtitles=True, target_lufs=-18.0, tolerance_lu=1.0)
    assert report.failures == [] and report.faststart
    assert report.integrated_lufs == pytest.approx(-18.0, abs=1.0)


def test_check_output_lists_every_failure(tmp_path, media):
    """A file muxed by hand: audio a second short, no subtitles, index at the end, too quiet."""
    bad = tmp_path / "bad.mp4"
    picture = ffmpeg.input(path_arg(media["video"])).video
    sound = ffmpeg.input(path_arg(media["tones"]["short"])).audio.filter("volume", 0.1)
    run(ffmpeg.output(picture, sound, str(bad), vcodec="copy", acodec="aac", ar=44100), "bad")
    with pytest.raises(OutputError) as caught:
        check_output(bad, expect_subtitles=True, target_lufs=-18.0)
    failures = caught.value.report.failures
    assert len(failures) == 5, failures
    text = str(caught.value)
    for part in (
        "sample rate is 44100",
        "more than one frame",
        "no subtitle stream",
        "faststart",
        "integrated loudness is -38",
    ):
        assert part in text


def test_check_output_finds_subtitles_past_the_end(tmp_path, media):
    srt = tmp_path / "late.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:04,000\n太晚了\n", encoding="utf-8")
    out = mux(
        media["video"],
        media["tones"]["long"],
        tmp_path / "late.mp4",
        subtitles_srt=srt,
        language="zh",
    )
    with pytest.raises(OutputError, match=r"subtitles run to 4\.000 s, past the video's end"):
        check_output(out, expect_subtitles=True, target_lufs=None)


def test_check_output_of_a_file_that_is_not_a_video(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(OutputError, match="not a readable media file"):
        check_output(junk, expect_subtitles=False, target_lufs=None)
