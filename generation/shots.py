"""Story → beats: narration is cut into sentences, and sentences too long for one clip into parts.

Wan2.2 renders about five seconds well (81 frames at 16 fps, 121 at 24 fps), so a story becomes
several shots joined by transitions. A beat's planned length is the time a voice needs to read it
(characters per second for Chinese, words per second for English); the narration stage replaces
it with the length of the real audio.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A sentence ends at 。！？!?；; or … (with any closing quotes/brackets after it), at a line break,
# or at ". " in Latin text (but not in "Mr. Smith" style abbreviations or "3.5").
_SENTENCE_END = re.compile(
    r"(?:[。！？!?；;]+|…+|\.{3,})[”’」』）)\"']*"
    r"|(?<![A-Z][a-z])(?<![A-Z])(?<!\d)\.(?=\s|$)[”’\"')]*"
    r"|\n+"
)
_CLAUSE_END = re.compile(r"[，,、：:—]+")
_WORD = re.compile(r"[A-Za-z0-9']+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Pacing:
    """How fast narration is read and how long a shot may be; settings override the defaults.

    4.5 characters per second is a calm Mandarin narration pace (news reading is 4–5); 2.6 words
    per second is about 155 words a minute, a documentary English pace.
    """

    max_shot_s: float = 5.0
    min_shot_s: float = 2.0
    zh_chars_per_s: float = 4.5
    en_words_per_s: float = 2.6


def split_sentences(text: str) -> list[str]:
    """Sentences in order, with their end punctuation, blank ones dropped."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        sentences.append(text[start : match.end()])
        start = match.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip(" \n\t\r。！？!?；;….,")]


def speech_seconds(text: str, pacing: Pacing) -> float:
    """How long a voice takes to read ``text``: CJK characters plus Latin words."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return cjk / pacing.zh_chars_per_s + words / pacing.en_words_per_s


def beats(narration: str, pacing: Pacing) -> list[str]:
    """One beat per sentence; a sentence longer than a shot is split at clauses, then evenly."""
    result: list[str] = []
    for sentence in split_sentences(narration):
        if speech_seconds(sentence, pacing) <= pacing.max_shot_s:
            result.append(sentence)
            continue
        result.extend(_split_long(sentence, pacing))
    return result


def _split_long(sentence: str, pacing: Pacing) -> list[str]:
    clauses, start = [], 0
    for match in _CLAUSE_END.finditer(sentence):
        clauses.append(sentence[start : match.end()])
        start = match.end()
    clauses.append(sentence[start:])
    parts: list[str] = []
    current = ""
    for clause in (c for c in clauses if c.strip()):
        if current and speech_seconds(current + clause, pacing) > pacing.max_shot_s:
            parts.append(current)
            current = ""
        current += clause
    if current:
        parts.append(current)
    out: list[str] = []
    for part in parts:  # a single clause still too long: cut it into equal pieces
        pieces = max(1, math.ceil(speech_seconds(part, pacing) / pacing.max_shot_s))
        cut = _cut_evenly(part, pieces)
        while any(speech_seconds(c, pacing) > pacing.max_shot_s for c in cut) and pieces < len(
            part
        ):
            pieces += 1  # rounding a piece up to whole characters or words can overshoot
            cut = _cut_evenly(part, pieces)
        out.extend(cut)
    return [p.strip() for p in out if p.strip()]


def _cut_evenly(text: str, pieces: int) -> list[str]:
    if pieces <= 1:
        return [text]
    if _CJK.search(text):
        size = math.ceil(len(text) / pieces)
        return [text[i : i + size] for i in range(0, len(text), size)]
    words = text.split()
    size = math.ceil(len(words) / pieces)
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def beat_durations(texts: list[str], pacing: Pacing, total_s: float | None = None) -> list[float]:
    """Planned seconds per beat: reading time clamped to the shot limits, or ``total_s`` shared
    in proportion to reading time when the item asks for a total duration."""
    reading = [max(speech_seconds(t, pacing), 0.1) for t in texts]
    if total_s is not None:
        scale = total_s / sum(reading)
        reading = [r * scale for r in reading]
    return [round(min(max(r, pacing.min_shot_s), pacing.max_shot_s), 3) for r in reading]
