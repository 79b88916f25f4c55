"""espeak-ng, the engine that reads every language: robotic, but instant and always installed
(Debian's ``espeak-ng``, put there by scripts/bootstrap)."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from postprocess.tts import Engine, TTSError, language

# espeak's "cmn" reads Latin letters as English, which suits Chinese narration with brand names.
DEFAULT_VOICES = {"zh": "cmn", "en": "en-us"}
# Words per minute at rate 1.0: espeak-ng's own default, but 190 for Mandarin, whose default
# pace drags (-s 190 is a reasonable Mandarin rate, measured by ear and by sentence length).
DEFAULT_WPM = 175
WPM = {"zh": 190}
TIMEOUT_S = 60
_OTHER_LANGUAGE = re.compile(r"\(([A-Za-z0-9-]+) \d+\)")


class EspeakEngine(Engine):
    """espeak-ng through its command line. ``voices`` adds to or overrides the voice per
    language (any ``espeak-ng --voices`` name: ``cmn-latn-pinyin``, ``en-gb``); a language
    without one is passed to ``-v`` as is, which espeak-ng resolves to its voice."""

    name = "espeak"

    def __init__(self, binary: str | None = None, voices: Mapping[str, str] | None = None) -> None:
        self.binary = _find_binary(binary)
        self.voices = {**DEFAULT_VOICES, **{language(k): v for k, v in (voices or {}).items()}}
        self._languages: frozenset[str] | None = None
        self._lock = threading.Lock()

    def languages(self) -> frozenset[str]:
        with self._lock:
            if self._languages is None:
                self._languages = frozenset(self.voices) | _installed_languages(self.binary)
            return self._languages

    def voice_for(self, lang: str, voice: str | None = None) -> str:
        return voice or self.voices.get(language(lang), language(lang))

    def _render(self, text: str, lang: str, voice: str, rate: float, out: Path) -> None:
        wpm = round(WPM.get(language(lang), DEFAULT_WPM) * rate)
        # --stdin reads the text as data: a leading "-" or quotes can never become options.
        command = [self.binary, "-v", voice, "-s", str(wpm), "-b", "1", "-w", str(out), "--stdin"]
        try:
            done = subprocess.run(
                command, input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TTSError(
                f"espeak-ng ({self.binary}) could not run with voice {voice}: {exc}"
            ) from exc
        said = done.stderr.decode(errors="replace").strip()
        if done.returncode != 0 or not out.exists():
            hint = " (`espeak-ng --voices` lists the voices)" if "voice" in said.lower() else ""
            raise TTSError(
                f"espeak-ng failed with voice {voice!r} (exit {done.returncode}): {said}{hint}"
            )


def _find_binary(binary: str | None) -> str:
    found = shutil.which(binary or "espeak-ng")
    if found is None:
        where = f"{binary!r} is not an executable" if binary else "espeak-ng is not on PATH"
        raise TTSError(
            f"TTS engine espeak: {where}. Install Debian's espeak-ng (apt-get install espeak-ng; "
            "scripts/bootstrap does) or set WANFLOW_ESPEAK_PATH to the binary"
        )
    return found


def _installed_languages(binary: str) -> frozenset[str]:
    """Languages of the installed voices, from ``espeak-ng --voices`` (its own and the "other
    languages" column, so ``cmn`` also counts as ``zh``)."""
    try:
        done = subprocess.run(
            [binary, "--voices"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TTSError(f"espeak-ng ({binary}) could not list its voices: {exc}") from exc
    found = set()
    for line in done.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            found.add(language(fields[1]))
            found.update(language(code) for code in _OTHER_LANGUAGE.findall(line))
    return frozenset(found)
