"""Keyword lexicon: short ideas ("海怪从深海升起") become dense descriptions Wan2.2 renders well.

Three rules make an expansion predictable enough to review: the longest keyword at a position
wins (海怪 inside 深海怪兽 loses to a longer entry), expanded text is never expanded again (a
description that mentions 星空 stays as written), and the alternative chosen depends only on the
seed and the keyword, so every shot of one item describes its subject the same way.
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

_LATIN = re.compile(r"[A-Za-z0-9]")
_ARTICLE = re.compile(r"(?:an?|the)\s", re.IGNORECASE)


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

    def expand(self, text: str, lang: str, seed: int) -> tuple[str, list[Expansion]]:
        """Replace each keyword occurrence in one pass; returns the new text and what changed."""
        pattern = self.pattern(lang)
        if pattern is None or not text:
            return text, []
        table = self._folded.get(lang)
        if table is None:  # English keywords match in any case
            table = self._folded[lang] = {k.casefold(): v for k, v in self.entries[lang].items()}
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
