"""Chinese terms written in pinyin: 性交 as "xingjiao", "xing jiao", "Xing-Jiao".

A Chinese term of two or more syllables is also listed as its toneless pinyin (pypinyin, which
reads a polyphonic character by the word it is in), with a space allowed between syllables, so it
matches as a Latin term does: whole words, any case, separators and look-alikes undone. ü is
written both v and u (nve, nue).

Pinyin drops the tones, so one spelling is often many words: "bingdu" is 冰毒 (meth) but far
more often 病毒 (virus), "baotou" the city 包头 before it is 爆头. A pinyin form is kept only when
no other word of jieba's dictionary with the same syllables is at least as common as the term (a
word the dictionary does not know counts as rare): the pinyin of a term is screened only where it
most likely means that term.

Finding homophones needs jieba's dictionary and pypinyin's (a few seconds to load), so the
spellings of the shipped terms are written once to ``moderation/data/pinyin.txt`` (``python -m
moderation.pinyin > moderation/data/pinyin.txt`` after changing a shipped list; a test checks the
file is current) and only an operator's Chinese terms are looked up when a screener is built:
the dictionaries once per process, then well under a millisecond a term.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

from moderation.words import is_chinese
from wanflow.segment import simplified

_RARE = 50  # a homophone used less than this (a count in jieba's ~60 million) is no reading


@lru_cache(maxsize=1)
def _readings() -> dict[str, frozenset[str]]:
    """Toneless syllable → every character that can be read so."""
    from pypinyin.pinyin_dict import pinyin_dict

    found: dict[str, set[str]] = {}
    for code, readings in pinyin_dict.items():
        for reading in readings.split(","):
            found.setdefault(_toneless(reading), set()).add(chr(code))
    return {syllable: frozenset(chars) for syllable, chars in found.items()}


@lru_cache(maxsize=1)
def _next_chars() -> dict[str, frozenset[str]]:
    """Each prefix of a common word of jieba's dictionary → the characters that can follow it."""
    from wanflow.segment import _jieba

    _, freq, _ = _jieba()
    found: dict[str, set[str]] = {}
    for word, count in freq.items():
        if count >= _RARE and len(word) > 1:
            for end in range(len(word)):
                found.setdefault(word[:end], set()).add(word[end])
    return {prefix: frozenset(chars) for prefix, chars in found.items()}


def _toneless(reading: str) -> str:
    text = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=65536)  # a list of 10,000 terms is built again without lookups
def syllables(term: str) -> tuple[str, ...]:
    """The toneless pinyin of a Chinese term, or ``()`` when it is not all Chinese characters."""
    text = simplified(term)
    if not text or not all(is_chinese(c) for c in text):
        return ()
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="ignore", v_to_u=False))


def _homophone_frequency(term: str, spoken: tuple[str, ...]) -> int:
    """The frequency of the commonest other dictionary word read as ``spoken``.

    Candidates come from every reading of each character, then pypinyin reads each candidate
    as a word: 之内 is not "zhi na" although 内 alone may be read na.
    """
    from pypinyin import Style, lazy_pinyin

    from wanflow.segment import _jieba

    _, freq, _ = _jieba()
    readings, following = _readings(), _next_chars()
    prefixes = [""]
    for syllable in spoken:
        chars = readings.get(syllable, frozenset())
        prefixes = [p + c for p in prefixes for c in following.get(p, frozenset()) & chars]
        if not prefixes:
            return 0
    candidates = sorted(
        ((freq[w], w) for w in prefixes if w != term and freq[w] >= _RARE), reverse=True
    )
    for count, word in candidates:
        if tuple(lazy_pinyin(word, style=Style.NORMAL, v_to_u=False)) == spoken:
            return count
    return 0


@lru_cache(maxsize=65536)  # a list of 10,000 terms is built again without lookups
def forms(term: str) -> tuple[str, ...]:
    """The pinyin spellings a term is also listed as (syllables joined by spaces), or ``()``.

    None for a single syllable (one syllable is hundreds of characters) or a spelling another
    common word shares.
    """
    spoken = syllables(term)
    if len(spoken) < 2:
        return ()
    from wanflow.segment import _jieba

    _, freq, _ = _jieba()
    key = simplified(term)
    if _homophone_frequency(key, spoken) >= max(_RARE, freq.get(key) or 0):
        return ()
    spelled = " ".join(spoken)
    return tuple(dict.fromkeys((spelled, spelled.replace("v", "u"))))


@lru_cache(maxsize=1)
def shipped() -> dict[str, tuple[str, ...]]:
    """The pinyin spellings of the shipped Chinese terms: ``moderation/data/pinyin.txt``."""
    found: dict[str, tuple[str, ...]] = {}
    text = (resources.files("moderation") / "data" / "pinyin.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            term, _, spelled = line.partition("\t")
            found[term] = tuple(s for s in spelled.split("\t") if s)
    return found


def spellings(term: str) -> tuple[str, ...]:
    """The pinyin spellings of a term: from the shipped table when it is there, else looked up."""
    table = shipped()
    if term in table:
        return table[term]
    return forms(term) if syllables(term) else ()


def table(terms: list[str]) -> str:
    """``moderation/data/pinyin.txt`` for ``terms``: one term a line, then its spellings."""
    lines = [
        "# Pinyin spellings screened for the shipped Chinese terms: term, then TAB-separated",
        "# spellings (none: a single syllable, or a spelling a commoner word shares).",
        "# Generated by `python -m moderation.pinyin > moderation/data/pinyin.txt`.",
    ]
    for term in terms:
        if syllables(term):
            lines.append("\t".join((term, *forms(term))))
    return "\n".join(lines) + "\n"


def main() -> None:
    from moderation.lists import default_blacklist

    print(table(sorted({t.text for t in default_blacklist()})), end="")


if __name__ == "__main__":
    main()
