"""``wanflow compose``: finish local clips into a narrated, subtitled video, as the flow does."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import typer

from wanflow.console import err, fail, load_settings, out

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
    text = args.narration
    if text and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    lang = args.lang or detect_language(text or "")
    settings = load_settings()
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
    engines = voice.engines
    with tempfile.TemporaryDirectory(prefix="wanflow-compose-") as work:
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
