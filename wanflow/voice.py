"""A narration voice as a manifest names it, checked at ingest so a typo is a row error.

``espeak`` or ``piper`` choose the engine; ``espeak:cmn-latn-pinyin`` or
``piper:zh_CN-huayan-medium`` also choose its voice; a bare ``en-gb`` is a voice of the
deployment's engine. A Piper voice is named, never given as a path: manifests come from outside
and may only pick among the voice files the operator installed (``WANFLOW_PIPER_VOICE_DIR``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ENGINES = ("espeak", "piper")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


@dataclass(frozen=True)
class VoiceSpec:
    engine: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        return ":".join(p for p in (self.engine, self.name) if p)


def parse_voice(text: str) -> VoiceSpec:
    """``"piper:zh_CN-huayan-medium"`` → ``VoiceSpec("piper", "zh_CN-huayan-medium")``.

    Raises ValueError naming the value and the accepted forms.
    """
    cleaned = unicodedata.normalize("NFKC", text).strip()
    engine, sep, name = cleaned.partition(":")
    if not sep:
        engine, name = (cleaned.lower(), "") if cleaned.lower() in ENGINES else ("", cleaned)
    engine = engine.strip().lower()
    name = name.strip()
    if not engine and not name:
        raise ValueError(f"{text!r} names no voice (use espeak, piper, or engine:voice)")
    if sep and engine not in ENGINES:
        raise ValueError(
            f"{text!r}: unknown TTS engine {engine!r}; use {' or '.join(ENGINES)} "
            "(e.g. espeak:cmn, piper:zh_CN-huayan-medium)"
        )
    if name and (not _NAME.match(name) or ".." in name):
        raise ValueError(
            f"{text!r}: {name!r} is not a voice name (letters, digits, '_', '-', '.', '+'; "
            "a Piper voice is named by its file name without .onnx, never by a path)"
        )
    return VoiceSpec(engine or None, name or None)


_RATE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>%|x|×|倍)?$", re.IGNORECASE)


def parse_rate(value: object) -> float:
    """A speech rate as people write it: ``1.2``, ``1.2x``, ``120%``, ``1.2倍``."""
    if isinstance(value, bool):
        raise ValueError("a speech rate is a number such as 1.2 or 120%, not true/false")
    if isinstance(value, int | float):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a speech rate (e.g. 1.2, 1.2x, 120%; 1 is normal)")
    number = float(match["num"])
    return number / 100 if match["unit"] == "%" else number


__all__ = ["ENGINES", "VoiceSpec", "parse_rate", "parse_voice"]
