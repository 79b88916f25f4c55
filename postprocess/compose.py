"""A story's clips and narration → one finished video: narration (TTS), shots held or slowed
to fit it, transitions, music ducked under the voice, subtitles (soft, optionally burned),
loudness, thumbnail and poster, and a check of the result.

The narration is spoken first, because its durations decide how long each shot lasts; the
subtitles and the mix then use the very same times, laid out from the clips' frame counts
(:func:`postprocess.assemble.layout`) and checked against the joined picture track. The picture
is joined in the background (:mod:`postprocess.picture`) while the soundtrack is mixed and
encoded, and the final mux copies both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from postprocess.assemble import Joined
from postprocess.checks import OutputReport, check_output
from postprocess.mix import MixReport, mix
from postprocess.mux import encode_audio, mux, poster, thumbnail
from postprocess.picture import Settings as PictureSettings
from postprocess.picture import encoding, inspect
from postprocess.spoken import spoken
from postprocess.subtitles import cues_for, to_srt, to_vtt
from postprocess.text import language_runs, split_sentences
from postprocess.timing import extension
from postprocess.tts import Engine, Utterance, narrate
from wanflow.settings import Settings
from wanflow.video import using_ffmpeg

log = logging.getLogger(__name__)
SENTENCE_GAP_S = 0.15  # a breath between sentences of one shot


@dataclass
class Options:
    """How to finish a story (the flow fills it from settings and the item)."""

    lang: str = "zh"
    voice: str | Mapping[str, str] | None = None  # one voice, or one per language
    rate: float = 1.0
    padding_s: float = 0.3
    transition_s: float = 0.5
    policy: str = "hold"
    music: Path | None = None
    burn_subtitles: bool = False
    font: Path | None = None
    target_lufs: float = -16.0
    true_peak_db: float = -1.5
    crf: int = 20
    preset: str = "veryfast"
    ffmpeg: str | None = None  # the binary every step runs; None: imageio-ffmpeg's


def options_from(
    settings: Settings,
    *,
    lang: str,
    music: Path | None,
    burn: bool = False,
    voice: Voice | None = None,
) -> Options:
    """The deployment's post-production settings for one story (the flow and the CLI agree);
    ``voice`` is the item's (:func:`voice_for`)."""
    return Options(
        lang=lang,
        voice=voice.voices if voice else None,
        rate=voice.rate if voice else settings.tts_rate,
        padding_s=settings.narration_padding_s,
        transition_s=settings.transition_s,
        policy=settings.extend_policy,
        music=music,
        burn_subtitles=burn or settings.burn_subtitles,
        font=settings.font_dir,
        target_lufs=settings.target_lufs,
        true_peak_db=settings.true_peak_db,
        crf=settings.video_crf,
        preset=settings.video_preset,
        ffmpeg=settings.ffmpeg,
    )


def _engines(
    settings: Settings, engine: str, piper_voices: Mapping[str, Path] | None = None
) -> list[Engine]:
    """Piper first when chosen (it reads only its voices' languages), espeak-ng always."""
    from postprocess.tts import engine_for

    engines = [engine_for("espeak", espeak_path=settings.espeak_path)]
    if engine == "piper":
        voices = settings.piper_voices if piper_voices is None else piper_voices
        engines.insert(0, engine_for("piper", piper_voices=voices))
    return engines


@dataclass(frozen=True)
class Voice:
    """An item's narration voice, resolved against the deployment: the engines to try in
    order, the voice per language they get, and the rate."""

    engines: list[Engine]
    voices: dict[str, str] | None
    rate: float
    label: str


def voice_for(settings: Settings, spec: str | None, rate: float | None, lang: str) -> Voice:
    """Resolve an item's ``voice`` (see :mod:`wanflow.voice`) and ``speech_rate``.

    The named voice is the item's language's; other languages in a mixed sentence keep their
    engine's default. Raises TTSError when a named Piper voice is not installed.
    """
    from postprocess.tts import TTSError, language
    from wanflow.voice import parse_voice

    parsed = parse_voice(spec) if spec else None
    engine = (parsed.engine if parsed else None) or settings.tts_engine
    name = parsed.name if parsed else None
    chosen_rate = settings.tts_rate if rate is None else rate
    voices = None
    if engine == "espeak":
        engines = _engines(settings, engine)
        voices = {language(lang): name} if name else None
    elif name is None:
        engines = _engines(settings, engine)
    else:
        folder = settings.piper_voice_dir
        path = folder / f"{name}.onnx" if folder else None
        if path is None or not path.is_file():
            where = f"in {folder}" if folder else "(WANFLOW_PIPER_VOICE_DIR is not set)"
            raise TTSError(f"Piper voice {name!r} is not installed {where}")
        # The item's language maps to the named file; its other languages keep theirs.
        engines = _engines(settings, engine, {**settings.piper_voices, language(lang): path})
    label = f"{engine}:{name}" if name else engine
    return Voice(engines, voices, chosen_rate, label)


@dataclass
class Spoken:
    """One sentence of a shot: shown as written, spoken as one or more language runs."""

    shot: int
    text: str
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return sum(u.duration_s for u in self.utterances)


@dataclass
class Composed:
    """A finished story's local files and what was measured of them (the compose task uploads
    them and reports them as :class:`wanflow.report.Final`)."""

    video: Path
    srt: Path
    vtt: Path
    thumbnail: Path
    poster: Path
    duration_s: float
    shot_starts_s: list[float]
    mix: MixReport
    check: OutputReport
    sentences: int
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step


@contextmanager
def _step(steps: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - start


def speak(
    narration: Sequence[str | None], engines: Sequence[Engine], work: Path, options: Options
) -> list[list[Spoken]]:
    """Each shot's narration as spoken sentences; mixed-language sentences go run by run to the
    engine that reads each language."""
    shots: list[list[Spoken]] = []
    pieces: list[tuple[str, str]] = []
    owners: list[Spoken] = []
    for index, text in enumerate(narration):
        sentences = [Spoken(index, s) for s in split_sentences(text or "", options.lang)]
        for sentence in sentences:
            for lang, run in language_runs(sentence.text, default=options.lang):
                pieces.append((spoken(run, lang), lang))
                owners.append(sentence)
        shots.append(sentences)
    for utterance in narrate(pieces, engines, work, voice=options.voice, rate=options.rate):
        owners[utterance.index].utterances.append(utterance)
    return [[s for s in sentences if s.utterances] for sentences in shots]


def speech_s(sentences: list[Spoken]) -> float:
    if not sentences:
        return 0.0
    return sum(s.duration_s for s in sentences) + SENTENCE_GAP_S * (len(sentences) - 1)


def compose(
    clips: Sequence[Path],
    narration: Sequence[str | None],
    transitions: Sequence[str | None],
    out: Path,
    engines: Sequence[Engine],
    work: Path,
    options: Options,
) -> Composed:
    """Finish one story. ``narration[i]`` is read over ``clips[i]``; ``transitions[i]`` leads
    from clip ``i`` to ``i + 1``. Writes ``out`` (MP4) and, beside it, ``.srt``, ``.vtt``,
    ``.jpg`` thumbnail and ``.poster.jpg``. Raises ValueError for inputs that do not fit.
    Every ffmpeg step runs ``options.ffmpeg``."""
    if not clips:
        raise ValueError("nothing to compose: no clips")
    if len(narration) != len(clips) or len(transitions) != len(clips) - 1:
        raise ValueError(
            f"{len(clips)} clip(s) need as many narration entries and {len(clips) - 1} "
            f"transition(s); got {len(narration)} and {len(transitions)}"
        )
    with using_ffmpeg(options.ffmpeg):
        work.mkdir(parents=True, exist_ok=True)
        steps: dict[str, float] = {}
        with _step(steps, "narrate"):
            shots = speak(narration, engines, work / "narration", options)
        infos = [inspect(clip) for clip in clips]
        fps, width, height = float(infos[0].rate), infos[0].width, infos[0].height
        extensions = [
            extension(
                info.duration_s,
                _needed_s(speech_s(shots[index]), options, index, transitions),
                round(fps),
                options.policy,
            )
            for index, info in enumerate(infos)
        ]
        settings = PictureSettings(
            width, height, fps, options.transition_s, options.crf, options.preset
        )
        srt, vtt = out.with_suffix(".srt"), out.with_suffix(".vtt")
        out.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with encoding(clips, extensions, transitions, work, settings, infos) as pending:
            steps["normalise"] = time.perf_counter() - started
            # The soundtrack is made while the picture is encoded, to the times laid out.
            sound = _soundtrack(shots, pending.planned, work, options, steps)
            picture = pending.result()
        steps["join"] = pending.join_s  # it ran beside the mix
        planned = pending.planned
        if (picture.starts_s, picture.total_s) != (planned.starts_s, planned.total_s):
            sound = _soundtrack(shots, picture, work, options, steps)  # normalised after all
        mixed, audio, timed = sound
        cues = cues_for(timed, options.lang, end_s=picture.total_s)
        srt.write_text(to_srt(cues), encoding="utf-8")
        vtt.write_text(to_vtt(cues), encoding="utf-8")
        with _step(steps, "mux"):
            mux(
                picture.path,
                audio,
                out,
                subtitles_srt=srt if cues else None,
                language=options.lang,
                burn_subtitles=srt if options.burn_subtitles and cues else None,
                font=options.font,
                crf=options.crf,
                preset=options.preset,
            )
        target = options.target_lufs if mixed.integrated_lufs is not None else None
        with _step(steps, "check"):
            report = check_output(out, expect_subtitles=bool(cues), target_lufs=target)
        with _step(steps, "thumbnail"):
            thumb = thumbnail(out, out.with_suffix(".jpg"))
            still = poster(out, out.with_suffix(".poster.jpg"))
        return Composed(
            video=out,
            srt=srt,
            vtt=vtt,
            thumbnail=thumb,
            poster=still,
            duration_s=picture.total_s,
            shot_starts_s=picture.starts_s,
            mix=mixed,
            check=report,
            sentences=len(timed),
            steps={name: round(seconds, 3) for name, seconds in steps.items()},
        )


def _soundtrack(
    shots: list[list[Spoken]],
    picture: Joined,
    work: Path,
    options: Options,
    steps: dict[str, float],
) -> tuple[MixReport, Path, list[tuple[str, float, float]]]:
    """Every sentence placed on ``picture``'s shots, mixed and encoded as the final AAC track:
    the report, the track, and each sentence's (text, start, end)."""
    placed: list[tuple[Path, float]] = []
    timed: list[tuple[str, float, float]] = []
    for index, sentences in enumerate(shots):
        incoming = picture.overlaps_s[index - 1] if index else 0.0
        at = picture.starts_s[index] + max(options.padding_s, incoming)
        for sentence in sentences:
            start = at
            for utterance in sentence.utterances:
                placed.append((utterance.path, at))
                at += utterance.duration_s
            timed.append((sentence.text, start, at))
            at += SENTENCE_GAP_S
    with _step(steps, "mix"):
        mixed = mix(
            placed,
            picture.total_s,
            work / "mix.wav",
            music=options.music,
            target_lufs=options.target_lufs,
            true_peak_db=options.true_peak_db,
        )
        audio = encode_audio(work / "mix.wav", work / "audio.m4a", duration_s=picture.total_s)
    return mixed, audio, timed


def _needed_s(
    speech: float, options: Options, index: int, transitions: Sequence[str | None]
) -> float:
    """A narrated shot lasts its speech plus the padding (or the transition, the longer) at
    each end, so that no word falls under a transition; a silent shot keeps its clip."""
    if speech == 0:
        return 0.0

    def overlap(i: int) -> float:
        inside = 0 <= i < len(transitions) and transitions[i] not in (None, "cut")
        return options.transition_s if inside else 0.0

    before = max(options.padding_s, overlap(index - 1))
    after = max(options.padding_s, overlap(index))
    return before + speech + after
