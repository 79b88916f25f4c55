"""``Screener.screen``'s shortcuts give the verdicts of its full path, ``screen_every_reading``.

The shortcuts: a clean text is settled by one fold and one automaton pass plus a byte-level test
for leetspeak and bidi overrides; stretched letters are read only when the fold holds a tripled
letter; leetspeak is found from the UTF-8 bytes, not a regular expression; a word boundary next
to a character the segmenter leaves alone is taken without segmenting; ``fold`` uses a list
table. Each is held here to the slow way of getting the same answer.
"""

from __future__ import annotations

import random
import re

import pytest

from benchmarks.screen import CORPORA, SEED, corpus_lines, prompts, pseudo_terms
from moderation import Screener
from moderation.lists import default_blacklist
from moderation.normalise import KEEP, fold, fold_char
from moderation.views import display_view, leet_views, readings
from moderation.words import Words
from wanflow.segment import segmenter

# Characters for every shortcut: leet digits and symbols, runs of one letter, bidi controls,
# separators, invisibles, look-alikes, full width, multi-character folds, Chinese, astral.
_POOL = (
    "aaeeiklmnoprsstxyzAERKP 013457@$!|+.,-_*\u200b\u202e\u202c\u2066\u2069\n"
    "аеоＲＡé\u0301ß㍿屠殺杀强奸做爱叫丽丝血腥玛丽和😀𝐩\U000e0041"
)


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build(["kill", "blow job", "竞品甲"])


def _same(screener: Screener, text: str) -> None:
    fast, full = screener.screen(text), screener.screen_every_reading(text)
    assert fast == full, repr(text)
    assert [m.source for m in fast.matches] == [m.source for m in full.matches], repr(text)


@pytest.mark.parametrize("name", ["evasions.txt", "benign-zh.txt", "benign-en.txt"])
def test_screen_agrees_with_every_reading_on_the_corpora(screener, name):
    lines = corpus_lines(CORPORA / name)
    for line in lines:
        _same(screener, line.partition("\t")[2] if name == "evasions.txt" else line)


def test_screen_agrees_with_every_reading_on_generated_prompts():
    rng = random.Random(SEED)
    terms = list(default_blacklist()) + pseudo_terms(rng, 300)
    screener = Screener.build(terms)
    texts = [text for text, _ in prompts(rng, 3000, terms)]
    assert sum(not screener.screen(t).allowed for t in texts) > 50  # planted terms are there
    for text in texts:
        _same(screener, text)


def test_screen_agrees_with_every_reading_on_random_mixtures(screener):
    rng = random.Random(11)
    blocked = 0
    for _ in range(4000):
        text = "".join(rng.choices(_POOL, k=rng.randint(0, 20)))
        if rng.random() < 0.3:  # plant a term to undo, in pieces
            text += rng.choice(("r4pe", "raaape", "\u202eepar", "k1ll", "rape", "屠 杀", "s3x"))
            text += "".join(rng.choices(_POOL, k=rng.randint(0, 6)))
        _same(screener, text)
        blocked += not screener.screen(text).allowed
    assert blocked > 300


@pytest.mark.parametrize(
    "text",
    ["r4pe", "raaaape", "RAAAPE", "\u202eepar", "k!ll", "ki11", "$ex", "a s3x tape", "ｒａｐｅ",
     "r.a.p.e", "r\u200bape", "rаpe", "屠😀杀", "屠殺", "a p0rn clip", "4K r4pe 8K"],
)  # fmt: skip
def test_each_evasion_is_blocked_through_the_shortcuts(screener, text):
    assert not screener.screen(text).allowed
    assert not screener.screen_every_reading(text).allowed


def _reference_leet(text: str) -> list[str]:
    """Leetspeak as it was read with regular expressions, one substitution per word."""
    table_i = str.maketrans(dict(zip("4@30$57+81!|", "aaeossttbiii", strict=True)))
    table_l = str.maketrans(dict(zip("4@30$57+81!|", "aaeossttblll", strict=True)))
    if not re.search(r"[A-Za-z][0-9@$!|+]|[0-9@$!|+][A-Za-z]", text):
        return []
    out = []
    for table in (table_i, table_l):

        def undo(word: re.Match[str], table: dict[int, str] = table) -> str:
            found = word.group()
            if not any(c.isalpha() for c in found) or found.isalpha():
                return found
            return found.translate(table)

        out.append(re.sub(r"[A-Za-z0-9@$!|+]+", undo, text))
    return out[:1] if out[1] == out[0] else out


def test_leet_views_read_as_the_regular_expressions_did():
    rng = random.Random(3)
    read = 0
    for _ in range(20000):
        text = "".join(rng.choices(_POOL + "\ud800", k=rng.randint(0, 16)))  # a lone surrogate
        assert [v.text for v in leet_views(text)] == _reference_leet(text), repr(text)
        read += bool(leet_views(text))
    assert read > 3000


def test_readings_are_the_display_and_leet_views():
    rng = random.Random(5)
    for _ in range(5000):
        text = "".join(rng.choices(_POOL, k=rng.randint(0, 16)))
        shown = display_view(text)
        expected = ([shown] if shown is not None else []) + leet_views(text)
        assert readings(text) == expected, repr(text)


def test_fold_is_every_character_folded_on_its_own():
    rng = random.Random(9)
    pool = _POOL + "".join(chr(rng.randrange(0x110000)) for _ in range(300))
    for _ in range(3000):
        text = "".join(rng.choices(pool, k=rng.randint(0, 20)))
        expected = "".join(f for f, kind in map(fold_char, text) if kind == KEEP)
        assert fold(text) == expected, repr(text)


@pytest.mark.parametrize("name", ["benign-zh.txt", "evasions.txt"])
def test_word_boundaries_found_without_segmenting_are_the_segmenters(name):
    for line in corpus_lines(CORPORA / name)[:400]:
        starts = {start for start, _ in segmenter().spans(line)}
        for position in range(1, len(line)):
            assert Words(line).is_boundary(position) == (position in starts), (line, position)


@pytest.mark.parametrize(
    "text",
    ["x 4b", "4b", "a 4b 2026", "y0", "\u5c60 4b", "k1ll", "1080p k1ll 4K", "4K", "y 4B"],
)
def test_leet_words_next_to_short_keys_are_read(text):
    # Keys of two letters; "ya" ends on the first letter of the word "4B" read as "aB".
    screener = Screener.build(["ab", "yo", "ya", "kill"], defaults=False)
    _same(screener, text)
    assert screener.screen(text).allowed == (text == "4K")


def test_a_key_ending_on_the_first_letter_of_a_leet_word_is_found():
    screener = Screener.build(["ya"], defaults=False)  # "y 4B" reads "y aB": CamelCase ends "ya"
    _same(screener, "y 4B")
    assert [m.matched for m in screener.screen("y 4B").matches] == ["y 4"]
