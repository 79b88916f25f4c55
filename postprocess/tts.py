"""Narration: text to one WAV per sentence, by whichever engine reads the sentence's language.

Two engines: espeak-ng (every language, robotic, instant; :mod:`postprocess.tts_espeak`) and Piper
(neural, only the languages an operator has a local voice file for; :mod:`postprocess.tts_piper`).
A list of engines is tried in order per sentence (:func:`choose`), so "Piper where there is a
voice, espeak-ng for the rest" is ``[piper, espeak]``.

Durations are measured from the written WAV, never estimated: the mixer lays narration on the
timeline by them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import wave
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from postprocess.text import speakable

MIN_RATE, MAX_RATE = 0.5, 2.0
ENGINES = ("espeak", "piper")
# Voice files and espeak-ng name Mandarin "cmn"; manifests say "zh".
_ALIASES = {"cmn": "zh", "zho": "zh", "chi": "zh", "eng": "en"}


class TTSError(RuntimeError):
    """An engine cannot speak: its binary or voice file is missing, or it failed on the text."""


@dataclass(frozen=True)
class Utterance:
    """One spoken sentence on disk. ``duration_s`` is frames / ``sample_rate`` of the file.

    ``index`` is the sentence's position in what :func:`narrate` was given (``None`` from a
    direct :meth:`Engine.synthesize`), so skipped silent sentences leave no doubt which is which.
    """

    text: str
    lang: str
    path: Path
    duration_s: float
    engine: str
    voice: str
    sample_rate: int
    index: int | None = None


def language(code: str) -> str:
    """The primary language of a BCP-47-ish code, lower case: ``zh_CN`` → ``zh``, ``cmn`` → ``zh``.

    Engines match on this alone: a zh voice reads ``zh``, ``zh-CN`` and ``zh-TW`` alike.
    """
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    if not primary:
        raise ValueError(f"{code!r} is not a language code (use zh, en, en-US, ...)")
    return _ALIASES.get(primary, primary)


def wav_info(path: Path) -> tuple[int, int]:
    """(frames, sample rate) of a PCM WAV; TTSError when it is not one."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes(), wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise TTSError(f"{path} is not a readable WAV file: {exc}") from exc


class Engine(ABC):
    """A TTS engine. Subclasses say which languages they read and render one text to a WAV;
    :meth:`synthesize` does the checks, the atomic write and the measuring for all of them."""

    name: ClassVar[str]

    @abstractmethod
    def languages(self) -> frozenset[str]:
        """Primary language codes (see :func:`language`) this engine can read."""

    def can_read(self, lang: str) -> bool:
        return language(lang) in self.languages()

    @abstractmethod
    def voice_for(self, lang: str, voice: str | None = None) -> str:
        """The voice :meth:`synthesize` would use (``voice`` when given): what the Utterance
        records and what :func:`narrate` hashes, so a changed voice is a new file."""

    @abstractmethod
    def _render(self, text: str, lang: str, voice: str, rate: float, out: Path) -> None:
        """Write ``text`` spoken by ``voice`` as a WAV to ``out`` (a temporary path)."""

    def synthesize(
        self, text: str, lang: str, out: Path, *, voice: str | None = None, rate: float = 1.0
    ) -> Utterance:
        """Speak ``text`` (language ``lang``) into the WAV ``out``, replacing it atomically.

        ``rate`` is a speed factor: 1.0 the voice's own pace, 1.2 20 % faster, within
        [0.5, 2.0]. Raises ValueError for text with nothing to say or a rate out of range,
        TTSError when this engine cannot read ``lang`` or fails.
        """
        check_rate(rate)
        if not speakable(text):
            raise ValueError(f"nothing to speak in {text!r} (only punctuation or spaces)")
        if not self.can_read(lang):
            raise TTSError(
                f"{self.name} cannot read {lang!r}; it reads {', '.join(sorted(self.languages()))}"
            )
        chosen = self.voice_for(lang, voice)
        out = Path(out).absolute()
        out.parent.mkdir(parents=True, exist_ok=True)
        # Beside the target so the rename is atomic; unique so concurrent writers never collide.
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self._render(text, lang, chosen, rate, tmp)
            frames, sample_rate = wav_info(tmp)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return Utterance(text, lang, out, frames / sample_rate, self.name, chosen, sample_rate)


def check_rate(rate: float) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(
            f"rate {rate!r} is out of range: use {MIN_RATE} to {MAX_RATE} (1.0: normal)"
        )


def engine_for(
    name: str,
    *,
    piper_voices: Mapping[str, Path | str] | None = None,
    espeak_path: str | None = None,
) -> Engine:
    """The engine named by the ``tts_engine`` setting: ``"espeak"`` or ``"piper"``.

    ``piper_voices`` maps languages to ``.onnx`` voice files (required for ``"piper"``);
    ``espeak_path`` is the espeak-ng binary (default: found on PATH).
    """
    if name == "espeak":
        from postprocess.tts_espeak import EspeakEngine

        return EspeakEngine(espeak_path)
    if name == "piper":
        from postprocess.tts_piper import PiperEngine

        return PiperEngine(piper_voices or {})
    raise ValueError(f"unknown TTS engine {name!r}: use one of {', '.join(ENGINES)}")


def choose(engines: Sequence[Engine], lang: str) -> Engine:
    """The first of ``engines`` that reads ``lang``; TTSError naming what each reads if none."""
    for engine in engines:
        if engine.can_read(lang):
            return engine
    offered = "; ".join(f"{e.name}: {', '.join(sorted(e.languages()))}" for e in engines)
    raise TTSError(
        f"no TTS engine reads {lang!r} ({offered or 'no engines given'}); "
        "give Piper a voice for it (piper_voices) or add espeak-ng"
    )


def narrate(
    sentences: Sequence[tuple[str, str]],
    engines: Sequence[Engine],
    out_dir: Path,
    *,
    voice: str | Mapping[str, str] | None = None,
    rate: float = 1.0,
) -> list[Utterance]:
    """Speak each ``(text, lang)`` into its own WAV in ``out_dir``, each by :func:`choose`.

    Files are named ``{index:03d}-{hash}.wav``, the hash covering text, language, engine, voice
    and rate: a rerun reuses a file whose name matches and speaks only what changed. Stale files
    of earlier runs are left alone (several narrations may share ``out_dir``).

    Sentences with nothing to say (only punctuation or spaces) get no Utterance: the result may
    be shorter than ``sentences``; ``Utterance.index`` says which sentence each one speaks.

    ``voice`` is one voice for every sentence, or a mapping from language to voice (needed when
    sentences in several languages share one engine). All languages are checked before anything
    is spoken, so a missing voice fails fast.
    """
    check_rate(rate)
    out_dir = Path(out_dir)
    voices = {language(k): v for k, v in voice.items()} if isinstance(voice, Mapping) else None
    plan = []
    for index, (text, lang) in enumerate(sentences):
        if not speakable(text):
            continue
        engine = choose(engines, lang)
        chosen = engine.voice_for(lang, voices.get(language(lang)) if voices is not None else voice)
        key = "\0".join((text, language(lang), engine.name, chosen, f"{rate:.4f}"))
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        plan.append((index, text, lang, engine, chosen, out_dir / f"{index:03d}-{digest}.wav"))

    utterances = []
    for index, text, lang, engine, chosen, path in plan:
        try:
            frames, sample_rate = wav_info(path)
        except TTSError:  # absent, or not a WAV: speak it (again)
            said = engine.synthesize(text, lang, path, voice=chosen, rate=rate)
            utterances.append(replace(said, index=index))
            continue
        duration_s = frames / sample_rate
        utterances.append(
            Utterance(
                text, lang, path.absolute(), duration_s, engine.name, chosen, sample_rate, index
            )
        )
    return utterances
