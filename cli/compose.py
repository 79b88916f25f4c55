"""``wanflow compose``: finish local clips into a narrated, subtitled video, as the flow does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import typer

from cli.console import err, fail, load_settings, out
from wanflow.scratch import scratch
from wanflow.settings import Settings

_USAGE = (
    "wanflow compose --clips A.mp4 B.mp4 ... --narration TEXT|FILE [--bgm FILE] "
    "[--transition NAME] [--voice SPEC] [--rate R] [--burn-subtitles] [--json] --out FILE.mp4"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wanflow compose", usage=_USAGE)
    parser.add_argument("--clips", nargs="+", action="extend", required=True, type=Path)
    parser.add_argument(
        "--narration", default="", help="the text, or a file holding it; sentences are shared "
        "out across the clips in order"
    )  # fmt: skip
    parser.add_argument("--bgm", type=Path, help="background music (ducked under the voice)")
    parser.add_argument(
        "--transition", default="dissolve", help="fade, dissolve, wipe, slide, circle or cut"
    )
    parser.add_argument("--burn-subtitles", action="store_true", help="also burn them in")
    parser.add_argument("--lang", help="zh or en; default: from the narration")
    parser.add_argument(
        "--voice", help="espeak, piper, espeak:VOICE or piper:NAME (as a manifest's voice column)"
    )
    parser.add_argument("--rate", help="speech rate, 0.5 to 2 (1.2, 120%%); default the setting")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, required=True, help="the MP4 to write")
    return parser


def _narration(value: str, max_chars: int) -> str:
    """The narration (the text, or a file holding it), refused before any work when longer than
    a manifest's narration may be: a long text becomes hours of audio and gigabytes of files."""
    try:  # text that is no possible file name (too long, a NUL) is the narration itself
        path = Path(value) if value and Path(value).is_file() else None
    except (OSError, ValueError):
        path = None
    if path is not None:
        if path.stat().st_size > 4 * max_chars:  # UTF-8: at most 4 bytes a character
            raise fail(f"--narration {path}: longer than {max_chars:,} characters "
                       "(WANFLOW_MAX_NARRATION_CHARS)", 2)  # fmt: skip
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"--narration {path}: {exc}", 2) from exc
    if len(value) > max_chars:
        raise fail(f"--narration: {len(value):,} characters, more than {max_chars:,} "
                   "(WANFLOW_MAX_NARRATION_CHARS)", 2)  # fmt: skip
    return value


def _check_speech(text: str, rate: float, settings: Settings) -> None:
    """Refuse a narration whose reading would outlast the longest item allowed."""
    from generation.shots import Pacing, speech_seconds

    pacing = Pacing(zh_chars_per_s=settings.zh_chars_per_s, en_words_per_s=settings.en_words_per_s)
    seconds = speech_seconds(text, pacing) / rate
    if seconds > settings.max_duration_s:
        raise fail(f"--narration: about {seconds:,.0f} s of speech, longer than "
                   f"{settings.max_duration_s:g} s (WANFLOW_MAX_DURATION_S)", 2)  # fmt: skip


def compose(ctx: typer.Context) -> None:
    """Narrate, time, join, mix, subtitle and check local clips into one MP4 (with .srt, .vtt,
    thumbnail and poster beside it). Run with -h for the options. Exit 2 on bad input."""
    from postprocess.compose import compose as finish
    from postprocess.compose import options_from, voice_for
    from postprocess.text import share_sentences
    from postprocess.tts import TTSError, check_rate
    from wanflow.manifest import detect_language
    from wanflow.video import VideoError
    from wanflow.voice import parse_rate

    args = _parser().parse_args(ctx.args)
    for clip in [*args.clips, *([args.bgm] if args.bgm else [])]:
        if not clip.is_file():
            raise fail(f"{clip} is not a file", 2)
    settings = load_settings()
    text = _narration(args.narration, settings.max_narration_chars)
    lang = args.lang or detect_language(text or "")
    count = len(args.clips)
    shares = share_sentences(text, lang, count)
    try:
        rate = parse_rate(args.rate) if args.rate else None
        if rate is not None:
            check_rate(rate)
        voice = voice_for(settings, args.voice, rate, lang)
    except (ValueError, TTSError) as exc:
        raise fail(f"compose: {exc}", 2) from exc
    options = options_from(
        settings, lang=lang, music=args.bgm, burn=args.burn_subtitles, voice=voice
    )
    _check_speech(text, options.rate, settings)
    engines = voice.engines
    with scratch("compose-", capture_tempfile=True) as work:
        try:
            result = finish(
                args.clips,
                shares,
                [args.transition] * (count - 1),
                args.out,
                engines,
                Path(work),
                options,
            )
        except (ValueError, TTSError, VideoError, OSError) as exc:
            raise fail(f"compose: {exc}", 2) from exc
    payload = {
        "video": str(result.video),
        "subtitles": [str(result.srt), str(result.vtt)],
        "thumbnail": str(result.thumbnail),
        "poster": str(result.poster),
        "duration_s": round(result.duration_s, 3),
        "shot_starts_s": [round(s, 3) for s in result.shot_starts_s],
        "sentences": result.sentences,
        "loudness_lufs": result.mix.integrated_lufs,
        "true_peak_db": result.mix.true_peak_db,
        "normalization": result.mix.normalization_type,
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        out.print(
            f"{result.video}: {result.duration_s:.2f} s, {result.sentences} sentence(s), "
            f"{result.mix.integrated_lufs} LUFS ({result.mix.normalization_type})",
            highlight=False,
        )
        err.print(f"subtitles {result.srt.name}, {result.vtt.name}; thumbnail, poster beside it")
