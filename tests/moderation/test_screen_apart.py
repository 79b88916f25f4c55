"""A text with a candidate term and one leet word apart from it ("电影感，4K画质 <term>") is
screened without its leet reading: that reading can only repeat what the text's own reading
finds. Held here to every reading screened, on texts that put the two next to each other in
every way that changes a boundary: CamelCase after a digit, a leet symbol between them, one
segmenter run holding both, separators and invisibles between them, an allowlisted phrase over
both.
"""

from __future__ import annotations

import random

import pytest

from moderation import Screener
from moderation.normalise import fold

_BLACK = ["sex", "kill", "ab", "屠杀", "做爱", "kys"]
_ALLOW = ["叫做爱丽丝", "sex ed"]
_PIECES = [
    "sex", "Sex", "SEX", "kill", "kys", "sky", "ab", "屠杀", "做爱", "叫做爱丽丝", "sex ed",
    "4K", "4k", "k1ll", "s3x", "4b", "a$", "$", "!", "@", "|", "+", "1", "x", "Ab",
    " ", " ", "，", ".", "-", "_", "\u200b", "\u0301", "ß", "é", "😀", "画质", "电影感", "的",
]  # fmt: skip


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build(_BLACK, _ALLOW, defaults=False)


def _skips(screener: Screener, text: str) -> bool | None:
    """Whether ``screen`` leaves the readings out of a text with candidates and a leet word."""
    folded = fold(text)
    found = list(screener.automaton.iter(folded))
    if not any(patterns for _, (_, patterns) in found) or not any(c.isdigit() for c in text):
        return None
    return screener._readings_add_nothing(text, folded, found)


@pytest.mark.parametrize(
    ("text", "skips"),
    [
        ("电影感，4K画质 屠杀", True),  # the usual case: the word and the term far apart
        ("sex, the 4K", True),
        ("4K画质，屠杀", True),  # the run's end: a candidate may start there
        ("4K画质屠杀", False),  # one segmenter run
        ("屠杀画4K", False),
        ("屠杀 画4K", True),
        ("4Sex", False),  # CamelCase after what the reading makes a letter
        ("x4 Sex", False),
        ("sex 4K", False),  # next to it in the fold: nothing between but a space
        ("sex, 4K", False),
        ("屠杀 4K", False),
        ("屠杀!4K", False),  # a leet symbol the reading makes a letter
        ("sex$4K", False),
        ("sex.4K", False),  # "." is inside the segmenter's runs
        ("叫做爱丽丝 4K", False),
        ("sex\u200b 4K", False),
        ("4K s3x sex", False),  # two leet words
        ("k1ll sex", False),  # a key through a letter the reading changed
    ],
)
def test_the_readings_are_left_out_only_apart_from_every_candidate(screener, text, skips):
    assert _skips(screener, text) is skips
    assert screener.screen(text) == screener.screen_every_reading(text), repr(text)


def test_screen_agrees_with_every_reading_on_texts_mixing_terms_and_leet_words(screener):
    rng = random.Random(29)
    skipped, read = 0, 0
    for _ in range(20000):
        text = "".join(rng.choices(_PIECES, k=rng.randint(2, 8)))
        assert screener.screen(text) == screener.screen_every_reading(text), repr(text)
        skips = _skips(screener, text)
        skipped += skips is True
        read += skips is False
    assert skipped > 300 and read > 2000
