"""Prompt screening: blacklisted terms found in a text, evasions undone, spans in the original.

One Aho-Corasick automaton holds the skeleton (see ``moderation.normalise``) of every blacklist
term, with its English inflections and, for a Chinese term, its pinyin (``moderation.pinyin``),
and of every allowlist phrase. ``Screener.screen`` reads a text as written and, where it has
something to undo, in display order, with leetspeak read as letters and with stretched letters
cut (``moderation.views``); each reading is folded with one ``str.translate`` and run through the
automaton. The automaton also holds every tripled Latin letter, so for a clean text, the usual
case, one fold, one pass and a search for leetspeak or a bidi override are the whole cost; a
leet word in a text whose fold holds no key ("4K") is settled by looking up pieces of keys around
what its reading changes, its readings never built (``views.leet_adds``). ``screen_every_reading``
skips no reading, and tests hold the two to the same verdicts.
Only a reading with a candidate takes the exact path, which maps skeleton positions back to the
original text and keeps a match when

* a Latin end of the term sits on a word boundary ("rape" in "r.a.p.e", "我要rape" and
  "RapeScene", not in "grape" or "therapist");
* a Chinese end sits on a word boundary of the segmented text, or one word holds the whole match
  (强奸犯), or the match is padded by a symbol, an invisible or a repeated character: 做爱 is no
  match in 叫做爱丽丝 but is in 做*爱 (``moderation.words``);
* whitespace inside the match is in the term ("blow job"), or separates single letters
  ("r a p e"): ordinary words run together ("go red" → "gored") do not match, while any other
  separator may split a term anywhere ("ra.pe", "ra😀pe", "屠 杀");
* no allowlisted phrase covers it where that phrase is the reading of the text: on Latin word
  boundaries, and breaking no common Chinese word (血腥玛丽 exempts its own 血腥 in 一杯血腥玛丽;
  中性交 exempts nothing in 在家中性交, where it would break 家中).

Of matches of one category starting at one place only the longest is reported; terms of other
categories, and terms that overlap without starting together (血腥 and 屠杀 in 血腥屠杀), all are.

A ``Screener`` is immutable after ``build``, cheap to call, and picklable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from moderation import pinyin
from moderation.lists import (
    CATEGORIES,
    Kind,
    ListError,
    Term,
    category_id,
    check_term,
    default_allowlist,
    default_blacklist,
    inflections,
    load_list,
    parse_list,
    term_skeleton,
)
from moderation.normalise import LATIN, Marks, Skeleton, fold, marks
from moderation.verdict import Match, ScreenResult
from moderation.verdict import allowed as _allowed
from moderation.views import (
    LEET_CHARACTER,
    TRIPLES,
    LeetKeys,
    View,
    display_view,
    leet_adds,
    leet_keys,
    leet_place,
    leet_views,
    place_adds,
    readings,
    stretch_views,
)
from moderation.words import Words, aligned, is_chinese, run_around, worded

__all__ = [
    "ListError",
    "Match",
    "ScreenResult",
    "Screener",
    "Term",
    "inflections",
    "load_list",
    "parse_list",
]

_TRIPLES = frozenset(TRIPLES)
_new_tuple = tuple.__new__  # a named tuple without the call to its ``__new__``
_leet_character = LEET_CHARACTER.search
_RLO = "\u202e"  # a right-to-left override: the display order differs


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A list entry as the automaton knows it."""

    term: str
    category: str | None  # None: an allowlist phrase
    source: str
    gaps: frozenset[int]  # skeleton offsets where the term itself has a separator
    check_start: bool  # the term starts with a Latin letter/digit: needs a word boundary
    check_end: bool
    chinese_start: bool = False  # the term starts with a Chinese character: a segmenter word
    chinese_end: bool = False

    def fits(self, skeleton: Marks | Skeleton, start: int, end: int) -> bool:
        """Whether the match of skeleton characters [start, end) keeps to the Latin rules above."""
        flag, latin = skeleton.flag, skeleton.latin
        if (self.check_start and not flag(start)) or (self.check_end and not flag(end)):
            return False
        for j in skeleton.spaces(start, end):
            if (
                j - start not in self.gaps
                and latin(j - 1)
                and latin(j)
                and not (flag(j - 1) and flag(j + 1))
            ):
                return False
        return True


ListSource = Term | str | os.PathLike[str]


def _terms(items: Iterable[ListSource], kind: Kind) -> list[Term]:
    terms: list[Term] = []
    for item in items:
        if isinstance(item, Term):
            check_term(item.text, item.source)
            if kind == "blacklist" and category_id(item.category or "custom") is None:
                raise ListError(
                    f"{item.source}: unknown category {item.category!r} for {item.text!r}; "
                    f"use one of {', '.join(CATEGORIES)}"
                )
            terms.append(item)
        elif isinstance(item, str):
            check_term(item, f"<{kind} term>")
            terms.append(Term(item, "custom" if kind == "blacklist" else None))
        elif isinstance(item, os.PathLike):
            terms += load_list(item, kind)
        else:
            raise TypeError(f"a {kind} entry must be a Term, a term (str) or a path, not {item!r}")
    return terms


def _pattern(term: Term, allow: bool, spelled: str | None = None) -> tuple[str, _Pattern]:
    """The automaton key and pattern of a term, or of one pinyin ``spelled`` form of it."""
    skeleton = term_skeleton(spelled or term.text)
    key, flags, classes = skeleton.text, skeleton.flags, skeleton.classes
    pattern = _Pattern(
        term=term.text,
        category=None if allow else category_id(term.category or "custom"),
        source=f"{term.source} (pinyin)" if spelled else term.source,
        gaps=frozenset(k for k in range(1, len(key)) if flags[k] >= 2),
        check_start=classes[0] == LATIN,
        check_end=classes[-1] == LATIN,
        chinese_start=is_chinese(key[0]),
        chinese_end=is_chinese(key[-1]),
    )
    return key, pattern


def _forms(key: str, gaps: frozenset[int]) -> set[str]:
    """The key and its inflections when it ends in an English word of two letters or more."""
    start = max(gaps, default=0)
    word_start = len(key)
    while word_start > start and "a" <= key[word_start - 1] <= "z":
        word_start -= 1
    word = key[word_start:]
    if len(word) < 2:
        return {key}
    return {key} | {key[:word_start] + form for form in inflections(word)}


@dataclass(frozen=True)
class Screener:
    """Screens texts against blacklists and allowlists; build once with ``build``, call often."""

    automaton: Any = field(repr=False)
    blacklisted: int = 0  # terms, before inflection
    allowlisted: int = 0
    leet: LeetKeys | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if getattr(self.automaton, "kind", None) != ahocorasick.AHOCORASICK:
            raise ValueError("a Screener needs a finished automaton: make one with Screener.build")

    @classmethod
    def build(
        cls,
        blacklists: Iterable[ListSource] = (),
        allowlists: Iterable[ListSource] = (),
        *,
        defaults: bool = True,
    ) -> Screener:
        """A screener for the shipped lists (unless ``defaults=False``) plus the given ones.

        Each entry is a ``Term``, a term as a plain ``str`` (category ``custom``), or a path
        (``pathlib.Path``) to a list file. Raises ``ListError`` for a bad file or term.
        """
        black = (list(default_blacklist()) if defaults else []) + _terms(blacklists, "blacklist")
        allow = (list(default_allowlist()) if defaults else []) + _terms(allowlists, "allowlist")
        table: dict[str, dict[_Pattern, None]] = {}
        for terms, is_allow in ((black, False), (allow, True)):
            for term in terms:
                key, pattern = _pattern(term, is_allow)
                for form in _forms(key, pattern.gaps):
                    table.setdefault(form, {})[pattern] = None
                if not is_allow and pattern.chinese_start:
                    for spelled in pinyin.spellings(key):
                        key, pattern = _pattern(term, False, spelled)
                        table.setdefault(key, {})[pattern] = None
        for triple in TRIPLES:  # no pattern: a sign that the text may have stretched letters
            table.setdefault(triple, {})
        automaton = ahocorasick.Automaton()
        for form, patterns in table.items():
            automaton.add_word(form, (len(form), tuple(patterns)))
        automaton.make_automaton()
        return cls(
            automaton,
            len({t.text for t in black}),
            len({t.text for t in allow}),
            leet_keys(automaton.keys()),
        )

    @classmethod
    def from_files(
        cls,
        blacklist_paths: Iterable[str | os.PathLike[str]] = (),
        allowlist_paths: Iterable[str | os.PathLike[str]] = (),
        *,
        defaults: bool = True,
    ) -> Screener:
        """A screener for list files on disk (see ``moderation.lists`` for the format)."""
        return cls.build(
            [Path(p) for p in blacklist_paths],
            [Path(p) for p in allowlist_paths],
            defaults=defaults,
        )

    def screen(self, text: str) -> ScreenResult:
        """Screen one text; matches are sorted by position, spans index ``text``."""
        automaton = self.automaton
        folded = fold(text)
        found = list(automaton.iter(folded))
        if not found and _RLO not in text:
            # The usual case, a clean text: a fold and the automaton over it find no term and no
            # tripled letter, there is no display order to undo, and no leet reading adds a key.
            leet = _leet_character(text)
            if leet is None or (
                self.leet is not None
                and not leet_adds(text, folded, automaton, self.leet, leet.start())
            ):
                return _allowed(text)
        if not found:  # only leetspeak or display order to undo: scan those readings first
            views = readings(text)
            if not views:
                return _allowed(text)
            scanned = []
            for view in views:
                view_folded = fold(view.text)
                scanned.append((view, view_folded, list(automaton.iter(view_folded))))
            if not any(view_found for _, _, view_found in scanned):
                return _allowed(text)
            return self._matches(text, scanned)
        views = [] if self._readings_add_nothing(text, folded, found) else readings(text)
        if any(folded[last - 2 : last + 1] in _TRIPLES for last, _ in found):
            views += stretch_views(text)  # a run of three letters folds to three letters
        return self._matches(text, [(View(text), folded, found), *views])

    def _readings_add_nothing(self, text: str, folded: str, found: list) -> bool:
        """Whether the text's other readings (``readings``) cannot add a match to those its own
        reading gives, for a text whose fold ``folded`` has candidates, ``found``: with no
        display order to undo, no leet word, or one leet word whose reading holds no key
        through a letter it changed (``leet_adds``) and that stands apart from every candidate.

        Apart: no candidate holds a character of the run around the word that the segmenter
        cuts as one, and at least one folded character stands between it and the word (the
        word takes in any leet symbol next to it, and one further off is in another word).
        Then every key of the reading is a candidate of the text, and every boundary, padding
        and segmentation the exact path looks at around it is the same in both readings; next
        to the word it may not be: "x4 Sex" reads "xa Sex"."""
        if _RLO in text or self.leet is None:
            return False
        if (leet := _leet_character(text)) is None:
            return True
        place = leet_place(text, folded, leet.start())
        if place is None:
            return True
        if not place or place_adds(place, folded, self.automaton, self.leet):
            return False
        word, word_start, folded_start, own = place
        word_end, folded_end = word_start + len(word), folded_start + own
        start, end = run_around(text, word_start, word_end)
        # A candidate may end where the run starts, or start where it ends, but not next to
        # the word itself in the fold: one kept character at least between them.
        before = min(folded_start - len(fold(text[start:word_start])), folded_start - 1)
        after = max(folded_end + len(fold(text[word_end:end])), folded_end + 1)
        return all(
            at + 1 <= before or at - length + 1 >= after
            for at, (length, patterns) in found
            if patterns
        )

    def screen_every_reading(self, text: str) -> ScreenResult:
        """``screen`` without its shortcuts: every reading of the text folded, scanned and, where
        the automaton finds anything, taken through the exact path. Slower, and the same verdict:
        tests hold ``screen`` to it."""
        if not text:
            return ScreenResult(text)
        views = [View(text)]
        if (shown := display_view(text)) is not None:
            views.append(shown)
        views += leet_views(text)
        views += stretch_views(text)
        return self._matches(text, views)

    def _matches(self, text: str, views: list) -> ScreenResult:
        """The verdict on ``text`` from its readings: each a ``View``, or a view with its fold
        and what the automaton found there when the caller has them."""
        best: dict[tuple[str, int], tuple[int, _Pattern]] = {}
        for item in views:
            if isinstance(item, View):
                view, folded = item, fold(item.text)
                found = list(self.automaton.iter(folded))
            else:
                view, folded, found = item
            if not found:
                continue
            for start, end, pattern in self._exact(text, view, folded, found):
                # One match per category and start, the longest: "kill.ed" is "killed", not
                # also "kill"; "killing spree" is not also "kill"; 屠杀 listed twice (屠殺) once.
                key = (pattern.category, start)
                if key not in best or best[key][0] < end:
                    best[key] = (end, pattern)
        if not best:
            return _allowed(text)
        matches = [
            _new_tuple(
                Match,
                (pattern.term, pattern.category, start, end, text[start:end], pattern.source),
            )
            for (_, start), (end, pattern) in best.items()
        ]
        if len(matches) > 1:
            matches.sort(key=lambda m: (m.start, -m.end, m.category, m.term))
        return _new_tuple(ScreenResult, (text, tuple(matches)))

    def _exact(
        self, text: str, view: View, folded: str, found: list
    ) -> list[tuple[int, int, _Pattern]]:
        """The blacklist matches in one view of ``text``, which folds to ``folded``, where the
        automaton ``found`` candidates: (start, end) in ``text``, pattern."""
        skeleton: Marks | Skeleton | None = None  # worked out for the first pattern
        words = Words(view.text)
        allowed: list[tuple[int, int]] = []
        matched: list[tuple[int, int, _Pattern]] = []
        for last, (length, patterns) in found:
            if not patterns:
                continue  # a tripled letter
            if skeleton is None:
                skeleton = marks(view.text, folded)
            start, end = last - length + 1, last + 1
            for pattern in patterns:
                if not pattern.fits(skeleton, start, end):
                    continue
                if pattern.category is None:
                    if aligned(pattern, skeleton, words, start, end):
                        allowed.append((start, end))
                elif worded(pattern, skeleton, words, start, end, view.text):
                    matched.append((start, end, pattern))
        out: list[tuple[int, int, _Pattern]] = []
        if skeleton is None:
            return out  # only tripled letters
        for start, end, pattern in matched:
            if not any(a <= start and end <= b for a, b in allowed):
                out.append((*view.span(*skeleton.span(view.text, start, end)), pattern))
        return out
