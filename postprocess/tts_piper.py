"""Piper, the neural engine: natural voices, but only for languages an operator has a local voice
file for (``name.onnx`` with ``name.onnx.json`` beside it). Nothing is ever downloaded."""

from __future__ import annotations

import importlib.util
import json
import threading
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from postprocess.tts import Engine, TTSError, language

if TYPE_CHECKING:
    from piper import PiperVoice

# Piper's Chinese voices with phoneme_type "pinyin" phonemize with g2pW: these modules (piper-tts's
# [zh] extra) and a g2pW model that Piper would otherwise download into the working directory.
_PINYIN_MODULES = ("unicode_rbnf", "sentence_stream")
_G2PW_URL = "https://huggingface.co/datasets/rhasspy/piper-checkpoints/resolve/main/zh/zh_CN/_resources/g2pw.tar.gz"


class PiperEngine(Engine):
    """Piper with one voice file per language: ``{"zh": "/voices/zh_CN-huayan-medium.onnx",
    "en": ...}``. Each file is checked here (present, with its config, in the language it is
    mapped to) and loaded on first use, once per engine."""

    name = "piper"

    def __init__(self, voices: Mapping[str, Path | str]) -> None:
        if not voices:
            raise TTSError(
                "TTS engine piper has no voices: set WANFLOW_PIPER_VOICES to JSON such as "
                '{"zh": "/voices/zh_CN-huayan-medium.onnx"} (each .onnx with its .onnx.json), '
                "or use tts_engine espeak"
            )
        self.voices = {language(lang): _checked(Path(path), lang) for lang, path in voices.items()}
        if len(self.voices) < len(voices):
            raise TTSError(f"piper_voices gives one language two voices: {dict(voices)}")
        self._loaded: dict[Path, PiperVoice] = {}
        self._lock = threading.Lock()

    def languages(self) -> frozenset[str]:
        return frozenset(self.voices)

    def voice_for(self, lang: str, voice: str | None = None) -> str:
        """The voice file's absolute path; ``voice`` may name another ``.onnx`` for ``lang``."""
        if voice is not None:
            return str(_checked(Path(voice), lang))
        if not self.can_read(lang):
            raise TTSError(f"piper has no voice for {lang!r}; it has {sorted(self.voices)}")
        return str(self.voices[language(lang)])

    def _render(self, text: str, lang: str, voice: str, rate: float, out: Path) -> None:
        from piper import SynthesisConfig

        model = self._voice(Path(voice))
        # rate 1.0 keeps the voice's own pace, which its config may already scale.
        config = SynthesisConfig(length_scale=model.config.length_scale / rate)
        try:
            chunks = list(model.synthesize(text, syn_config=config))
        except Exception as exc:  # onnxruntime and the phonemizers raise anything
            raise TTSError(f"Piper voice {voice} failed on {text!r}: {exc}") from exc
        if not chunks:
            raise TTSError(f"Piper voice {voice} found nothing to say in {text!r}")
        with wave.open(str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(model.config.sample_rate)
            for chunk in chunks:
                wav.writeframes(chunk.audio_int16_bytes)

    def _voice(self, path: Path) -> PiperVoice:
        # One lock for all loads: a voice takes ~0.4 s to load, and loading it twice costs more.
        with self._lock:
            if path not in self._loaded:
                from piper import PiperVoice

                try:
                    self._loaded[path] = PiperVoice.load(
                        path, config_path=_config_path(path), download_dir=path.parent
                    )
                except Exception as exc:  # onnxruntime's errors have no common base
                    raise TTSError(f"Piper could not load voice {path}: {exc}") from exc
            return self._loaded[path]


def _config_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def _checked(model: Path, lang: str) -> Path:
    """``model`` resolved, after checking what can be checked without loading it."""
    model = model.expanduser().resolve()
    config_path = _config_path(model)
    if not model.is_file():
        raise TTSError(f"Piper voice for {lang!r}: {model} is not a file (a .onnx voice model)")
    if not config_path.is_file():
        raise TTSError(
            f"Piper voice for {lang!r}: its config {config_path} is missing (every .onnx voice "
            "ships with a .onnx.json beside it)"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TTSError(f"Piper voice config {config_path} is not readable JSON: {exc}") from exc
    declared = declared_language(config)
    if declared is not None and declared != language(lang):
        raise TTSError(
            f"Piper voice {model} reads {declared!r} (per {config_path.name}), not {lang!r}: "
            "map it to its own language in piper_voices"
        )
    if config.get("phoneme_type") == "pinyin":
        _check_pinyin(model)
    return model


def declared_language(config: Mapping) -> str | None:
    """The language a voice config declares (``language.code``, else ``espeak.voice``)."""
    code = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice")
    return language(code) if code else None


def _check_pinyin(model: Path) -> None:
    missing = [name for name in _PINYIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise TTSError(
            f"Piper voice {model} needs Chinese phonemization: install piper-tts[zh] "
            f"(missing {', '.join(missing)})"
        )
    g2pw = model.parent / "g2pW" / "g2pw.onnx"
    if not g2pw.is_file():
        raise TTSError(
            f"Piper voice {model} needs the g2pW model at {g2pw}, which Wanflow never downloads: "
            f"unpack {_G2PW_URL} into {g2pw.parent}"
        )
