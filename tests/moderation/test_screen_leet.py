"""``leet_adds``: a text whose fold holds no key is settled without building its leet readings.

It looks up pieces of keys around the characters a reading changes and scans only the folded
characters a key through one of them can reach. Held here to the readings built, folded and
scanned whole, on texts made to trip it: a term split by separators or invisibles on the far side
of a leet word, combining marks and lone surrogates next to one, a word whose fold occurs twice.
"""

from __future__ import annotations

import random

import pytest

from moderation import Screener
from moderation.normalise import fold
from moderation.views import leet_adds, leet_views

_TERMS = ["ab", "yo", "kill", "rape", "sex", "blow job", "屠杀", "eatery", "kabooms"]
_POOL = (
    "abeiklopqrstxyABEKLS 0123456789@$!|+.,-_*\u200b\u0301\u00e9\u00df\ufeff"
    "屠杀做Ｒａ😀\U000e0041\ud800"
)


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build(_TERMS, defaults=False)


def _read_whole(screener: Screener, text: str) -> bool:
    """Whether any leet reading of ``text``, folded whole, holds a key of the automaton."""
    return any(next(screener.automaton.iter(fold(v.text)), None) for v in leet_views(text))


def _check(screener: Screener, text: str) -> bool | None:
    """``leet_adds`` against the readings read whole, for a text it applies to."""
    folded = fold(text)
    if next(screener.automaton.iter(folded), None) is not None or "\u202e" in text:
        return None  # not a text leet_adds is asked about
    assert screener.leet is not None
    adds = leet_adds(text, folded, screener.automaton, screener.leet)
    whole = _read_whole(screener, text)
    assert adds or not whole, repr(text)  # never misses a key
    assert screener.screen(text) == screener.screen_every_reading(text), repr(text)
    return whole


@pytest.mark.parametrize(
    "text",
    [
        "r.a.p3",  # separators between the term's start and the leet word
        "r\u200ba\u200b\u200bp3",  # invisibles there
        "ｒａ p3",  # full width, a space
        "k\u0301i1l",  # a combining mark before the word
        "ki11\u0301 x",
        "\ud800k!ll",  # a lone surrogate before it
        "se\u200bx 4K",
        "s3 x",
        "kab00ms 4K kab",  # the word's fold "kab00ms" once, another "kab" apart
        "4b 4b",  # two leet words: left to the readings
        "y0",
        "y 0",
        "eat3ry",
        "b|ow job",
        "b1ow-job",
        "x4b",
        "a 4b",
        "aa4",  # a tripled letter made by the reading
        "4K画质",
        "屠 4杀",
    ],
)
def test_leet_words_next_to_split_terms(screener, text):
    expected = screener.screen_every_reading(text)
    assert screener.screen(text) == expected, repr(text)
    _check(screener, text)


def test_a_word_whose_fold_occurs_twice_is_placed_by_what_precedes_it():
    # "ki!l" folds to "kil", which the text holds before it too: it reads "kill" where
    # the word is, after "x" in one text and before nothing in the other.
    screener = Screener.build(["xkill"], defaults=False)
    assert _check(screener, "kil, x.ki!l") is True
    assert not screener.screen("kil, x.ki!l").allowed
    assert _check(screener, "xkil, ki!l") is False
    assert leet_adds("xkil, ki!l", "xkilkil", screener.automaton, screener.leet) is False


def test_agrees_with_the_readings_read_whole_on_random_texts(screener):
    rng = random.Random(17)
    read, added = 0, 0
    for _ in range(30000):
        text = "".join(rng.choices(_POOL, k=rng.randint(1, 14)))
        if rng.random() < 0.3:
            text += rng.choice(("r4pe", "k1ll", "s3x", "y0", "4b", "k!ll", "kab0oms", "eat3ry"))
            text += "".join(rng.choices(_POOL, k=rng.randint(0, 4)))
        whole = _check(screener, text)
        if whole is None:
            continue
        read += bool(leet_views(text))
        added += whole
    assert read > 3000 and added > 300


def test_finds_exactly_what_a_single_leet_word_adds(screener):
    # With one leet word, no more than the readings find: a clean text stays on the fast path.
    rng = random.Random(23)
    checked = 0
    for _ in range(20000):
        left = "".join(rng.choices(_POOL.replace("@", ""), k=rng.randint(0, 8)))
        right = "".join(rng.choices(_POOL.replace("@", ""), k=rng.randint(0, 8)))
        text = f"{left} {rng.choice(('4K', 'k1ll', 'r4p3', 'b10w', 'y0', '5ex'))} {right}"
        if len(_leet_word_starts(text)) != 1:
            continue
        whole = _check(screener, text)
        if whole is None:
            continue
        assert leet_adds(text, fold(text), screener.automaton, screener.leet) == whole, repr(text)
        checked += 1
    assert checked > 3000


def _leet_word_starts(text: str) -> list[int]:
    """Starts of the ASCII runs of letters, digits and leet symbols holding both kinds."""
    starts, run = [], ""
    for i, ch in enumerate(text + " "):
        if ch.isascii() and (ch.isalnum() or ch in "@$!|+"):
            run += ch
            continue
        if any(c.isalpha() for c in run) and any(not c.isalpha() for c in run):
            starts.append(i - len(run))
        run = ""
    return starts


def test_a_key_as_long_as_the_longest_reaches_back_from_the_leet_word():
    # The longest key ends on the "a" that "4" reads as: all of it lies before the leet word.
    screener = Screener.build(["屠杀屠杀屠杀a"], defaults=False)
    assert screener.leet is not None and screener.leet.longest == 7
    assert _check(screener, "屠杀屠杀屠杀4K") is True
    assert [m.matched for m in screener.screen("屠杀屠杀屠杀4K").matches] == ["屠杀屠杀屠杀4"]
