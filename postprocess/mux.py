"""The finished file: picture, soundtrack and subtitles in one MP4, and its still images.

- Video: H.264 yuv420p. A picture track that already is (what :func:`~postprocess.assemble.join`
  writes) is copied, so the mux adds no generation loss; burning subtitles in re-encodes it.
- Audio: AAC 48 kHz, padded with silence or cut to the picture's length in samples (``apad``
  then ``atrim``, not ``-shortest``, which stops at packet boundaries and can leave the two a
  frame or more apart). :func:`encode_audio` can do this ahead, while the picture is still
  being encoded: an AAC track exactly the picture's length in samples is then copied.
- Soft subtitles: an SRT as a ``mov_text`` track tagged with its ISO 639-2 language (WebVTT cannot
  go inside MP4), marked default so players show it.
- ``+faststart``: the index goes before the media data, so a browser plays while downloading.

Burned-in subtitles use libass (the ``subtitles`` filter) with a font chosen by
:mod:`postprocess.fonts`, given to libass in a folder of its own. libass with no font covering a
glyph draws nothing and exits 0, so Chinese text without a CJK font is refused before the run,
and libass's "no fallback for glyph" warning after it is an error too.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import av
import ffmpeg

from postprocess.assemble import x264_options
from postprocess.checks import video_frames
from postprocess.fonts import FontError, covers, family, find_cjk_font, font_files, needs_cjk
from postprocess.runner import path_arg, run
from postprocess.text import primary
from wanflow.video import VideoError, commit_file, temp_beside

SAMPLE_RATE = 48_000
# ISO 639-2 codes for MP4 language tags (MP4 stores the /T form: "zho", not "chi").
_ISO639_2 = {"zh": "zho", "en": "eng", "ja": "jpn", "ko": "kor", "fr": "fra", "de": "deu"}
_NO_GLYPH = "fallback with glyph"  # libass: "Failed to find any fallback with glyph 0x..."


def iso639_2(language: str) -> str:
    """``zh``, ``zh-CN``, ``cmn``, ``chi`` → ``zho``; ``en``, ``en-US``, ``eng`` → ``eng``.

    Raises ValueError for a code it does not know.
    """
    code = primary(language)
    if code in _ISO639_2:
        return _ISO639_2[code]
    if code in _ISO639_2.values():
        return code
    raise ValueError(
        f"language {language!r} has no ISO 639-2 tag here; use one of {', '.join(_ISO639_2)}"
    )


def mux(
    video: Path,
    audio: Path,
    out: Path,
    *,
    subtitles_srt: Path | None,
    language: str,
    burn_subtitles: Path | None = None,
    font: Path | None = None,
    crf: int = 18,
    preset: str = "veryfast",
    threads: int | None = None,
    audio_bitrate: str = "192k",
) -> Path:
    """Write the finished MP4 to ``out`` (atomically) and return it.

    ``audio`` is laid from the start and fitted to the picture's length. ``subtitles_srt`` becomes
    a soft ``mov_text`` track tagged ``language`` (``zh``/``en``/... or ISO 639-2). With
    ``burn_subtitles`` (an .srt or .ass) the subtitles are drawn into the picture; ``font`` is a
    font file or a folder of fonts to draw them with (default: a CJK font from fontconfig when
    the text needs one, else libass's default). Raises
    :class:`~postprocess.fonts.FontError` when the text needs CJK glyphs that no available font
    has, :class:`~postprocess.runner.FFmpegError` when ffmpeg fails.
    """
    video, audio, out = Path(video), Path(audio), Path(out)
    lang = iso639_2(language)
    frames, rate = video_frames(video)
    samples = round(frames / rate * SAMPLE_RATE)
    for path in (audio, subtitles_srt, burn_subtitles):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist")

    picture = ffmpeg.input(path_arg(video)).video
    options: dict[str, object] = {
        "metadata:s:a:0": f"language={lang}",
        "movflags": "+faststart",
        "f": "mp4",
    }
    if _aac_samples(audio) == samples:  # encode_audio's, for this picture
        sound = ffmpeg.input(path_arg(audio)).audio
        options["c:a"] = "copy"
    else:
        sound = _fitted(ffmpeg.input(path_arg(audio)).audio, samples)
        options |= {"c:a": "aac", "b:a": audio_bitrate, "ar": SAMPLE_RATE}
    with tempfile.TemporaryDirectory(prefix="wanflow-fonts-") as fonts_dir:
        if burn_subtitles is not None:
            picture = _burned(picture, Path(burn_subtitles), font, Path(fonts_dir))
            options |= x264_options(crf, preset, threads)
        elif _is_h264_yuv420p(video):
            options["c:v"] = "copy"
        else:
            options |= x264_options(crf, preset, threads)
        streams = [picture, sound]
        if subtitles_srt is not None:
            streams.append(ffmpeg.input(path_arg(Path(subtitles_srt)))["s"])
            options |= {
                "c:s": "mov_text",
                "metadata:s:s:0": f"language={lang}",
                "disposition:s:0": "default",
            }
        tmp = temp_beside(out)
        try:
            stderr = run(
                ffmpeg.output(*streams, str(tmp), **options),
                f"mux {video.name} + {audio.name} into {out}",
                loglevel="warning",
            )
            if burn_subtitles is not None and _NO_GLYPH in stderr:
                lines = [line for line in stderr.splitlines() if _NO_GLYPH in line]
                raise FontError(
                    f"burning {burn_subtitles} into {out}: libass found no font for some "
                    f"characters and drew nothing for them: {'; '.join(lines[:3])}"
                )
            commit_file(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return out


def encode_audio(audio: Path, out: Path, *, duration_s: float, bitrate: str = "192k") -> Path:
    """Encode ``audio`` as :func:`mux` would for a picture ``duration_s`` long (AAC 48 kHz,
    fitted to the sample) into ``out`` (MP4 audio); mux then copies it. Returns ``out``."""
    samples = round(duration_s * SAMPLE_RATE)
    sound = _fitted(ffmpeg.input(path_arg(Path(audio))).audio, samples)
    tmp = temp_beside(Path(out))
    try:
        output = sound.output(str(tmp), acodec="aac", ar=SAMPLE_RATE, f="mp4", **{"b:a": bitrate})
        run(output, f"encode {Path(audio).name} as AAC")
        commit_file(tmp, Path(out))
    finally:
        tmp.unlink(missing_ok=True)
    return Path(out)


def _fitted(sound, samples: int):
    return (
        sound.filter("aresample", SAMPLE_RATE)
        .filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
    )


def _aac_samples(audio: Path) -> int | None:
    """The length in samples of an AAC 48 kHz track as its container states it (what a player
    plays, priming and padding left out); ``None`` for anything else."""
    try:
        with av.open(str(audio)) as container:
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            if ctx.name != "aac" or ctx.sample_rate != SAMPLE_RATE or stream.duration is None:
                return None
            return round(stream.duration * stream.time_base * SAMPLE_RATE)
    except (av.FFmpegError, OSError, IndexError):
        return None


def thumbnail(
    video: Path, out_jpg: Path, *, at_s: float | None = None, window_s: float = 1.5
) -> Path:
    """A representative frame as JPEG: the frame at ``at_s`` seconds, or else the one ffmpeg's
    ``thumbnail`` filter finds most typical of the first ``window_s`` seconds (which keeps it
    inside the first shot, away from transitions whose blends look "typical" of two shots)."""
    video = Path(video)
    frames, rate = video_frames(video)
    duration = float(frames / rate)
    if at_s is not None:
        if not (math.isfinite(at_s) and 0 <= at_s < duration):
            raise ValueError(f"at_s must be within {video}'s 0–{duration:.3f} s, got {at_s!r}")
        stream = ffmpeg.input(path_arg(video), ss=f"{at_s:.6f}").video
    else:
        window = max(1, min(frames, round(window_s * rate)))
        stream = ffmpeg.input(path_arg(video)).video.filter("thumbnail", n=window)
    return _jpeg(stream, Path(out_jpg), f"thumbnail of {video}")


def poster(video: Path, out_jpg: Path) -> Path:
    """The first frame as JPEG (what a player shows before playing)."""
    video = Path(video)
    return _jpeg(ffmpeg.input(path_arg(video)).video, Path(out_jpg), f"poster of {video}")


def _jpeg(stream, out: Path, what: str) -> Path:
    tmp = temp_beside(out)
    try:
        # Full-range BT.601 is what JPEG means: converting here keeps colours right in viewers.
        stream = stream.filter("scale", out_range="full", out_color_matrix="bt601").filter(
            "format", "yuvj420p"
        )
        run(
            stream.output(
                str(tmp), f="image2", vcodec="mjpeg", update=1, **{"frames:v": 1, "q:v": 2}
            ),
            what,
        )
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise VideoError(f"{what}: ffmpeg wrote no image to {out}")
        commit_file(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _burned(picture, subtitles: Path, font: Path | None, fonts_dir: Path):
    """``picture`` with ``subtitles`` drawn in; the font is linked alone into ``fonts_dir`` so
    libass loads one file, not a whole system folder."""
    text = subtitles.read_text(encoding="utf-8-sig")
    chosen = _burn_font(text, subtitles, font)
    options: dict[str, str] = {}
    if chosen is not None:
        link = fonts_dir / chosen.name
        os.symlink(chosen.resolve(), link)
        options = {"fontsdir": str(fonts_dir), "force_style": f"FontName={family(chosen)}"}
    return picture.filter("subtitles", filename=path_arg(subtitles), **options)


def _burn_font(text: str, subtitles: Path, font: Path | None) -> Path | None:
    cjk = needs_cjk(text)
    if font is not None and Path(font).is_dir():
        if cjk:
            return find_cjk_font(Path(font))
        found = font_files(Path(font))
        if not found:
            raise FontError(f"font folder {font} has no .ttf/.ttc/.otf files")
        return found[0]
    if font is not None:
        if not Path(font).is_file():
            raise FontError(f"font {font} does not exist")
        if cjk and not covers(Path(font), "中文字幕"):
            raise FontError(
                f"{subtitles} has Chinese text and font {font} has no Chinese glyphs; give a CJK "
                "font (e.g. from fonts-wqy-microhei or fonts-noto-cjk)"
            )
        return Path(font)
    return find_cjk_font() if cjk else None


def _is_h264_yuv420p(video: Path) -> bool:
    try:
        with av.open(str(video)) as container:
            ctx = container.streams.video[0].codec_context
            return ctx.name == "h264" and ctx.pix_fmt == "yuv420p"
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise VideoError(f"{video} is not a readable video: {exc}") from exc
