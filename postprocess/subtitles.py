"""Subtitle cues from timed narration sentences, written as SRT (muxed or burned) and WebVTT.

Each sentence is spoken as one WAV, so its start and end are known exactly; a sentence too long
for one cue is cut into cues whose times share the sentence's in proportion to their text (speech
runs at a roughly even pace within a sentence). Rules:

- Lines: at most ``cjk_chars`` columns in Chinese (17, a common limit for 16:9 Chinese subtitles)
  or ``latin_chars`` characters otherwise (42), ``max_lines`` lines a cue; fewest lines, breaks at
  punctuation where possible, lines of even length (:func:`postprocess.text.break_text`).
- Chinese lines lose the 。，、；： at their end, as Chinese subtitles are written (the line break
  is the pause); ？！…, quotes and everything inside a line stay. English keeps its punctuation.
- A cue shorter than ``min_cue_s`` first takes time from longer cues of the same sentence, then
  runs on into the silence after it, never past the next cue's start (nor ``end_s``).
- Times are whole milliseconds, rounded once in :func:`cues_for`; SRT and VTT print the same
  numbers. Cues never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from postprocess.text import break_text, display_width, is_cjk, speakable, trim_pauses

CJK_CHARS = 17
LATIN_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 0.8


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen from ``start_s`` to ``end_s`` (seconds, whole milliseconds)."""

    start_s: float
    end_s: float
    lines: list[str]


def wrap(
    text: str,
    lang: str,
    *,
    cjk_chars: float = CJK_CHARS,
    latin_chars: float = LATIN_CHARS,
    max_lines: int = MAX_LINES,
) -> list[list[str]]:
    """The lines of each cue ``text`` needs: ``[["line 1", "line 2"], ["line 3"]]``.

    Chinese layout applies when ``lang`` is Chinese and the text has Han characters (see
    :func:`postprocess.text.is_cjk`). Text with nothing to show gives ``[]``.
    """
    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines!r}")
    text = " ".join(text.split())
    if not speakable(text):
        return []
    cjk = is_cjk(text, lang)
    width = cjk_chars if cjk else latin_chars
    # A break off punctuation costs as much as half a line of imbalance in Chinese (a line that
    # runs across a comma reads badly) and a quarter line in English.
    lines = break_text(text, width, cjk=cjk, penalty=(width / (2 if cjk else 4)) ** 2)
    if cjk:
        lines = [line for line in map(trim_pauses, lines) if line]
    return [lines[i : i + max_lines] for i in range(0, len(lines), max_lines)]


def cues_for(
    timed: Sequence[tuple[str, float, float]],
    lang: str,
    *,
    min_cue_s: float = MIN_CUE_S,
    end_s: float | None = None,
    cjk_chars: float = CJK_CHARS,
    latin_chars: float = LATIN_CHARS,
    max_lines: int = MAX_LINES,
) -> list[Cue]:
    """Cues for ``(sentence, start_s, end_s)`` narration, in order and not overlapping.

    ``end_s`` is the end of the video: no cue runs past it. Raises ValueError for a time that is
    negative or not a number, a sentence that ends before it starts, or one that starts before
    the previous one ends.
    """
    _check(timed, min_cue_s, end_s)
    spans: list[tuple[int, int, list[str]]] = []
    for text, start, end in timed:
        chunks = wrap(text, lang, cjk_chars=cjk_chars, latin_chars=latin_chars, max_lines=max_lines)
        if not chunks:
            continue
        weights = [display_width("".join(lines), False) for lines in chunks]
        edges, at = [_ms(start)], start
        for share in _portions(end - start, weights, min_cue_s):
            at += share
            edges.append(_ms(at))
        edges[-1] = _ms(end)  # exactly the sentence's end, whatever the float sum says
        spans += [(a, b, lines) for a, b, lines in zip(edges, edges[1:], chunks, strict=False)]
    return _settle(spans, round(min_cue_s * 1000), None if end_s is None else _ms(end_s))


def _check(
    timed: Sequence[tuple[str, float, float]], min_cue_s: float, end_s: float | None
) -> None:
    if not math.isfinite(min_cue_s) or min_cue_s < 0:
        raise ValueError(f"min_cue_s must be a non-negative number of seconds, got {min_cue_s!r}")
    if end_s is not None and not (math.isfinite(end_s) and end_s >= 0):
        raise ValueError(f"end_s must be a non-negative number of seconds, got {end_s!r}")
    previous_end = 0.0
    for n, (text, start, end) in enumerate(timed, 1):
        if not all(isinstance(t, int | float) and math.isfinite(t) for t in (start, end)):
            raise ValueError(
                f"sentence {n} ({text!r}): times must be numbers, got {start!r}, {end!r}"
            )
        if start < 0 or end <= start:
            raise ValueError(
                f"sentence {n} ({text!r}) runs from {start!r} s to {end!r} s: "
                "it must start at 0 s or later and end after it starts"
            )
        if _ms(start) < _ms(previous_end):
            raise ValueError(
                f"sentence {n} ({text!r}) starts at {start!r} s, before sentence {n - 1} ends "
                f"at {previous_end!r} s: narration sentences must not overlap"
            )
        previous_end = end


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _portions(total: float, weights: list[float], floor: float) -> list[float]:
    """``total`` shared in proportion to ``weights``, each share at least ``floor`` where the
    total allows it (a share lifted to the floor is taken from the others)."""
    if floor * len(weights) > total:
        floor = 0.0
    fixed: set[int] = set()
    while True:
        free = [i for i in range(len(weights)) if i not in fixed]
        left = total - floor * len(fixed)
        weight = sum(weights[i] for i in free)
        shares = {i: left * weights[i] / weight for i in free}
        short = {i for i in free if shares[i] < floor}
        if not short:
            return [floor if i in fixed else shares[i] for i in range(len(weights))]
        fixed |= short


def _settle(spans: list[tuple[int, int, list[str]]], min_ms: int, end_ms: int | None) -> list[Cue]:
    cues = []
    for n, (start, end, lines) in enumerate(spans):
        limit = spans[n + 1][0] if n + 1 < len(spans) else end_ms
        if end - start < min_ms:
            end = start + min_ms
        if limit is not None:
            end = min(end, limit)
        if end > start:
            cues.append(Cue(start / 1000, end / 1000, lines))
    return cues


# --- files ----------------------------------------------------------------------------------
def _clock(seconds: float, separator: str) -> str:
    ms = _ms(seconds)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip: numbered blocks ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` and their lines, blank lines
    between. Text is written as is (SubRip has no escapes)."""
    blocks = [
        f"{n}\n{_clock(c.start_s, ',')} --> {_clock(c.end_s, ',')}\n" + "\n".join(c.lines)
        for n, c in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` blocks. ``&``, ``<``
    and ``>`` are escaped, so text can never open a tag or end a cue with ``-->``."""
    blocks = [
        f"{_clock(c.start_s, '.')} --> {_clock(c.end_s, '.')}\n"
        + "\n".join(_escape(line) for line in c.lines)
        for c in cues
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n" if blocks else "WEBVTT\n"


def _escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["Cue", "cues_for", "to_srt", "to_vtt", "wrap"]
