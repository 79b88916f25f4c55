"""Keyword lexicon: short ideas ("海怪从深海升起") become dense descriptions Wan2.2 renders well.

Four rules make an expansion predictable enough to review: a keyword matches whole words only
(天蝎 is not expanded inside 天蝎座, nor "cat" inside "category"), the longest keyword at a position
wins (海怪 inside 深海怪兽 loses to a longer entry), expanded text is never expanded again (a
description that mentions 星空 stays as written), and the alternative chosen depends only on the
seed and the keyword, so every shot of one item describes its subject the same way.

Chinese has no spaces, so its words come from a segmenter (``wanflow.segment``: jieba's
dictionary, plus this lexicon's keywords and the compounds below). A keyword is a word of the
prompts that use it however rare jieba's news-based counts find it (天蝎: 3), so keywords get the
weight of a common noun there: 当天蝎升起 reads 当/天蝎/升起, not 当天/蝎/升起. That weight also
outweighs the dictionary's keyword-plus-particle entries (竹林中, 的花海, 于大海: a keyword
followed by 中 is still expanded), while real compounds keep winning: of the ~500 dictionary
words that hold a shipped keyword (天蝎座, 银河系, 火山灰, 武士刀, ...), only a dozen such entries
no longer stay whole, and tests/generation/test_lexicon.py names them.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from generation.vocabulary import LANGUAGES
from wanflow.segment import Segmenter, segmenter

_LATIN = re.compile(r"[A-Za-z0-9]")
_ARTICLE = re.compile(r"(?:an?|the)\s", re.IGNORECASE)
# Languages written without spaces: their keywords match whole words of a segmentation.
_SEGMENTED = frozenset({"zh"})
# The least frequency of a keyword in the segmenter's dictionary (a count in jieba's, about 60
# million in all; 森林 and 太阳 have about 5,000). Measured on the dictionary's words that hold a
# shipped keyword: below ~4,500 jieba's entry 竹林中 (18) keeps 竹林 whole in 竹林中; above
# ~6,000 real compounds jieba counts as rare (天蝎女, 火山学, 太阳活动: 2–3) start to split.
_KEYWORD_FREQUENCY = 5000
# Words that hold a shipped keyword, are common in prompts, and are missing from jieba's
# dictionary (which has 天蝎座, 银河系, 火山灰, 武士刀, 太阳能, 大城市 and many more). They get
# jieba's suggested frequency: just enough to stay whole against their own parts.
_COMPOUNDS = (
    "仙女座星系",  # the Andromeda galaxy, not the chained princess
    "猎户座星云",
    "鲸鱼座",  # the constellation Cetus
    "神仙鱼",  # angelfish
    "灯笼鱼",  # lanternfish
    "草原狼",
    "月亮门",  # the round gateway of a Chinese garden
    "扫地机器人",
    "魔法少女",
)


class LexiconError(ValueError):
    """An operator lexicon file that cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class Expansion:
    """One keyword replaced in a text: where, by what."""

    keyword: str
    start: int
    end: int
    replacement: str


@dataclass
class Lexicon:
    """Keyword → alternatives, per language. Build with ``load``; extend with ``merged``."""

    entries: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _patterns: dict[str, re.Pattern[str] | None] = field(default_factory=dict, repr=False)
    _folded: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)
    _lengths: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)
    _segmenters: dict[str, Segmenter] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for lang in LANGUAGES:
            self.entries.setdefault(lang, {})

    def pattern(self, lang: str) -> re.Pattern[str] | None:
        """One alternation, longest keyword first, so a regex scan is leftmost-longest."""
        if lang not in self._patterns:
            words = sorted(self.entries.get(lang, {}), key=lambda w: (-len(w), w))
            parts = []
            for word in words:
                escaped = re.escape(word)
                # Latin keywords match whole words: "cat" must not expand inside "category".
                if _LATIN.match(word[0]):
                    escaped = r"(?<![A-Za-z0-9])" + escaped
                if _LATIN.match(word[-1]):
                    escaped += r"(?![A-Za-z0-9])"
                parts.append(escaped)
            # An English keyword takes its article along: alternatives bring their own.
            article = r"(?P<article>(?<![A-Za-z0-9])(?:an?|the)\s+)?" if lang == "en" else ""
            self._patterns[lang] = (
                re.compile(f"{article}(?P<keyword>{'|'.join(parts)})", re.IGNORECASE)
                if parts
                else None
            )
        return self._patterns[lang]

    def segmenter(self, lang: str) -> Segmenter:
        """The segmentation a keyword of ``lang`` must fit. Every keyword is in its dictionary, so
        one jieba does not know, or splits (未来城市: 未来/城市), is still a candidate word. Not
        those with Latin letters or digits: their Latin ends follow the Latin rule, and jieba
        would cut a Latin run at them (海怪x/yz), taking the boundary after 海怪 away."""
        if lang not in self._segmenters:
            words = dict.fromkeys(_COMPOUNDS, 0)
            keywords = (k for k in self.entries.get(lang, {}) if not _LATIN.search(k))
            words.update(dict.fromkeys(keywords, _KEYWORD_FREQUENCY))
            self._segmenters[lang] = segmenter(words)
        return self._segmenters[lang]

    def expand(self, text: str, lang: str, seed: int) -> tuple[str, list[Expansion]]:
        """Replace each keyword occurrence in one pass; returns the new text and what changed."""
        pattern = self.pattern(lang)
        if pattern is None or not text:
            return text, []
        table = self._folded.get(lang)
        if table is None:  # English keywords match in any case
            table = self._folded[lang] = {k.casefold(): v for k, v in self.entries[lang].items()}
        if lang in _SEGMENTED:
            return self._expand_words(text, lang, pattern, table, seed)
        done: list[Expansion] = []

        def substitute(match: re.Match[str]) -> str:
            keyword = match.group("keyword")
            replacement = choose(table[keyword.casefold()], seed, keyword)
            article = match.groupdict().get("article")
            if article and _ARTICLE.match(replacement):
                if article[0].isupper():
                    replacement = replacement[0].upper() + replacement[1:]
            elif article:
                replacement = article + replacement
            done.append(Expansion(keyword, match.start(), match.end(), replacement))
            return replacement

        return pattern.sub(substitute, text), done

    def _expand_words(
        self,
        text: str,
        lang: str,
        pattern: re.Pattern[str],
        table: dict[str, tuple[str, ...]],
        seed: int,
    ) -> tuple[str, list[Expansion]]:
        """``expand`` where a keyword must also start and end on word boundaries.

        A regex alternation cannot fall back from a keyword that fails that test to a shorter one
        at the same position (an operator's 城市中 in 城市中心, read 城市/中心, where 城市 fits), so
        the regex only finds where a keyword may start, and every keyword length is tried there,
        longest first. Text without a keyword is never segmented.
        """
        match = pattern.search(text)
        if match is None:
            return text, []
        lengths = self._lengths.get(lang)
        if lengths is None:
            lengths = self._lengths[lang] = tuple(
                sorted({len(k) for k in self.entries[lang]}, reverse=True)
            )
        bounds = self.segmenter(lang).boundaries(text)
        done: list[Expansion] = []
        pieces: list[str] = []
        pos = 0
        while match is not None:
            start = match.start()
            for length in lengths:
                end = start + length
                if end > len(text):
                    continue
                keyword = text[start:end]
                alternatives = table.get(keyword.casefold())
                if alternatives and _edges_fit(text, start, end, bounds):
                    replacement = choose(alternatives, seed, keyword)
                    done.append(Expansion(keyword, start, end, replacement))
                    pieces += [text[pos:start], replacement]
                    pos = end
                    break
            match = pattern.search(text, max(pos, start + 1))
        pieces.append(text[pos:])
        return "".join(pieces), done

    def merged(self, override: Mapping[str, Mapping[str, list[str]]]) -> Lexicon:
        """A new lexicon: ``override`` entries replace or add keywords; an empty list removes."""
        entries = {lang: dict(words) for lang, words in self.entries.items()}
        for lang, words in override.items():
            target = entries.setdefault(lang, {})
            for keyword, alternatives in words.items():
                if alternatives:
                    target[keyword] = tuple(alternatives)
                else:
                    target.pop(keyword, None)
        return Lexicon(entries)


def _edges_fit(text: str, start: int, end: int, bounds: frozenset[int]) -> bool:
    """A Latin end must not touch another letter or digit; any other end must fall on a word
    boundary of the segmentation (which puts one around every Latin run anyway)."""
    if _LATIN.match(text[start]):
        if start and _LATIN.match(text[start - 1]):
            return False
    elif start not in bounds:
        return False
    if _LATIN.match(text[end - 1]):
        return not _LATIN.match(text, end)
    return end in bounds


def choose(alternatives: tuple[str, ...], seed: int, keyword: str) -> str:
    """The same seed and keyword always pick the same alternative, in any process."""
    if len(alternatives) == 1:
        return alternatives[0]
    digest = hashlib.sha256(f"{seed}\x00{keyword.casefold()}".encode()).digest()
    return alternatives[int.from_bytes(digest[:8], "big") % len(alternatives)]


def parse(text: str, source: str) -> dict[str, dict[str, list[str]]]:
    """Read a lexicon TOML; every problem names ``source`` and the offending entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{source}: not valid TOML: {exc}") from None
    result: dict[str, dict[str, list[str]]] = {}
    for lang, words in data.items():
        if lang not in LANGUAGES:
            raise LexiconError(
                f"{source}: unknown table [{lang}]; use [{'] or ['.join(LANGUAGES)}]"
            )
        if not isinstance(words, dict):
            raise LexiconError(f"{source}: [{lang}] must be a table of keyword = [alternatives]")
        result[lang] = {}
        for keyword, alternatives in words.items():
            if isinstance(alternatives, str):
                alternatives = [alternatives]
            if not keyword.strip():
                raise LexiconError(f"{source}: [{lang}] has an empty keyword")
            if not isinstance(alternatives, list) or not all(
                isinstance(a, str) and a.strip() for a in alternatives
            ):
                raise LexiconError(
                    f"{source}: [{lang}] {keyword!r} must be a list of non-empty strings"
                )
            result[lang][keyword.strip()] = [a.strip() for a in alternatives]
    return result


def load(text: str, source: str) -> Lexicon:
    return Lexicon(
        {lang: {k: tuple(v) for k, v in w.items()} for lang, w in parse(text, source).items()}
    )


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    path = resources.files("generation").joinpath("data/lexicon.toml")
    return load(path.read_text("utf-8"), "generation/data/lexicon.toml")
