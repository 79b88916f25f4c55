"""Whether a Chinese match is a word of the text, by the shared segmenter (``wanflow.segment``).

Chinese has no spaces, so the characters of a term often occur across two ordinary words: 做爱 in
叫做|爱丽丝, 口交 in 路口|交通, 性交 in 理性|交流. A Chinese end of a match therefore counts only
where the segmenter puts a word boundary, or where one word holds the whole match (强奸犯 holds
强奸, 杀人犯 holds 杀人: a compound built on a term is still that term).

Padding cannot be used to dodge this. A symbol or an invisible character between the characters
of a match (做*爱, 做\u200b爱) or a character repeated around it (做做爱爱, 强强奸) makes it a match
wherever it falls (``moderation.screening`` sees to that). Spaces and sentence punctuation end the
segmenter's runs, so 屠 杀 is two one-character words and still matches, while 十字路口，交通 keeps
路口 and 交通 whole and does not.

An allowlisted phrase is the reading of a text only where it breaks no word of it: 血腥玛丽 in
一杯|血腥|玛丽 exempts its 血腥, while 中性交 in 在|家中|性交 or 水中|性交 breaks 家中 or 水中
and exempts nothing. Words the dictionary has barely seen (玛丽和, counted twice in its corpus of
60 million) do not count: 血腥玛丽和屠杀 still reads 血腥玛丽|和|屠杀.

The segmenter is jieba's dictionary alone, shared by every screener of a process and loaded on
the first text that needs it (about a second); a text is segmented only when it has a Chinese
candidate match, and at most once per reading of it.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Protocol

from moderation.normalise import Marks, Skeleton
from wanflow.segment import _jieba, segmenter, simplified

_RARE = 50  # a dictionary word seen fewer times than this is no reading to defend


def is_chinese(ch: str) -> bool:
    """A CJK ideograph (the characters the segmenter reads)."""
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or ch >= "\U00020000"


@lru_cache(maxsize=1)
def _run_pattern() -> re.Pattern[str]:
    import jieba

    return jieba.re_han_default


def alone(ch: str) -> bool:
    """Whether the segmenter makes ``ch`` a word of its own: it is outside the runs it cuts."""
    alone = _ALONE.get(ch)
    if alone is None:
        alone = _ALONE[ch] = _run_pattern().fullmatch(simplified(ch)) is None
    return alone


def run_around(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` widened to the run of characters the segmenter cuts as one that
    holds it (no wider where its ends stand alone)."""
    while start and not alone(text[start - 1]):
        start -= 1
    while end < len(text) and not alone(text[end]):
        end += 1
    return start, end


_ALONE: dict[str, bool] = {}  # each character asked about, as ``alone`` found it
_RUNS_KEPT = 4096
_RUN_WORDS: dict[str, tuple[list[int], list[int]]] = {}  # run → its words' starts and ends


class Words:
    """The words of one text, segmented on first need, and only in the run of Chinese, Latin
    letters and digits that is asked about: the segmenter cuts each run on its own, and going
    over the whole text costs more than screening it. A run is found by looking at characters
    on either side of the position (``alone``), and the words of each run seen are kept
    (``_RUN_WORDS``): prompts repeat the same runs."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def word_at(self, position: int) -> tuple[int, int]:
        """(start, end) of the word holding the character at ``position``."""
        text = self._text
        if alone(text[position]):
            return position, position + 1  # outside every run: a word of its own
        start, end = run_around(text, position, position + 1)
        run = text[start:end]
        words = _RUN_WORDS.get(run)
        if words is None:
            spans = segmenter().spans(run)
            words = ([s for s, _ in spans], [e for _, e in spans])
            if len(_RUN_WORDS) >= _RUNS_KEPT:
                _RUN_WORDS.clear()
            _RUN_WORDS[run] = words
        starts, ends = words
        k = bisect.bisect_right(starts, position - start) - 1
        return start + starts[k], start + ends[k]

    def is_boundary(self, position: int) -> bool:
        text = self._text
        if position <= 0 or position >= len(text):
            return True
        if alone(text[position - 1]) or alone(text[position]):
            return True  # found without segmenting: the text around a term is often a space
        return self.word_at(position)[0] == position

    def holds(self, first: int, last: int, check_start: bool, check_end: bool) -> bool:
        """Whether text[first:last] is a term of the text: its checked ends on word boundaries,
        or inside one word."""
        if (not check_start or self.is_boundary(first)) and (
            not check_end or self.is_boundary(last)
        ):
            return True
        start, end = self.word_at(first)
        return start <= first and last <= end

    def aligned(self, first: int, last: int, check_start: bool, check_end: bool) -> bool:
        """Whether text[first:last] breaks no word but a rare one at its checked ends."""
        return (not check_start or self._breaks_no_word(first)) and (
            not check_end or self._breaks_no_word(last)
        )

    def _breaks_no_word(self, position: int) -> bool:
        if self.is_boundary(position):
            return True
        start, end = self.word_at(position)
        _, freq, _ = _jieba()
        return (freq.get(simplified(self._text[start:end])) or 0) < _RARE


class Ends(Protocol):
    """Which ends of a list entry are Chinese characters (``moderation.screening``'s patterns)."""

    @property
    def chinese_start(self) -> bool: ...

    @property
    def chinese_end(self) -> bool: ...


# Between two words of a sentence, these and spaces are writing, not padding: 十字路口，交通.
_SENTENCE_MARKS = frozenset(",.;:!?，。、；：！？…")


def _chinese_span(skeleton: Marks | Skeleton, start: int, end: int) -> tuple[int, int]:
    """Indices in the screened text of the first and after the last character of a match."""
    return skeleton.source[start], skeleton.source[end - 1] + 1


def worded(
    pattern: Ends, skeleton: Marks | Skeleton, words: Words, start: int, end: int, text: str
) -> bool:
    """Whether a match's Chinese ends are words of the text (see above), ``start`` and ``end``
    indexing ``skeleton``, the skeleton of ``text``."""
    if not (pattern.chinese_start or pattern.chinese_end):
        return True
    key, source = skeleton.text, skeleton.source
    if (start and key[start - 1] == key[start]) or (end < len(key) and key[end] == key[end - 1]):
        return True  # padded with a repeated character: 做做爱爱
    for k in range(start, end - 1):
        between = text[source[k] + 1 : source[k + 1]]
        if any(not ch.isspace() and ch not in _SENTENCE_MARKS for ch in between):
            return True  # padded with a symbol or an invisible character: 做*爱, 做\u200b爱
    first, last = _chinese_span(skeleton, start, end)
    return words.holds(first, last, pattern.chinese_start, pattern.chinese_end)


def aligned(pattern: Ends, skeleton: Marks | Skeleton, words: Words, start: int, end: int) -> bool:
    """Whether an allowlisted phrase is a reading of the text: it breaks none of its words."""
    if not (pattern.chinese_start or pattern.chinese_end):
        return True
    first, last = _chinese_span(skeleton, start, end)
    return words.aligned(first, last, pattern.chinese_start, pattern.chinese_end)
