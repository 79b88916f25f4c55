"""A clean text's leet word settled from the characters around it, remembered for the next text.

``leet_adds`` keeps a "no" that the text around its first leet character settles, and answers
a later text with the same characters there from it. Each case here screens a text that puts
such a "no" in the screener's memory, then one with the same characters around its leet word and
a difference just out of their reach: a term's start before separators, its end after them, a
second leet word, letters that make digits a leet word. The second text must get the verdict of
every reading screened whole. Separators of every length put the difference on both sides of
wherever the memory's edge lies.
"""

from __future__ import annotations

import random

import pytest

from moderation import Screener

_TERMS = ["sexa", "kasex", "ttex", "rape", "屠杀a"]


@pytest.fixture()
def screener() -> Screener:
    return Screener.build(_TERMS, defaults=False)


def _pairs() -> list[tuple[str, str]]:
    """(text that may be remembered clean, text differing out of its reach that is not)."""
    pairs = []
    for dots in range(1, 17):
        gap = "." * dots
        pairs += [
            (f"q{gap}ex4 画质", f"s{gap}ex4 画质"),  # the term starts before the separators
            (f"{gap}ex4 画质好看吗", f"s{gap}ex4 画质好看吗"),  # ... or the text starts there
            (f"q{gap}屠 杀4K", f"屠{gap}杀4K"),
            (f"k4{gap}qex", f"k4{gap}sex"),  # ... or ends after them
            (f"k4{gap}", f"k4{gap}sex"),  # ... or the text ends there
            (f"4K{gap}77 ok", f"4K{gap}77ex"),  # letters make "77" a second leet word
            (f"4K画质好看吗{gap}ok", f"4K画质好看吗{gap}r4pe"),  # a second leet word further on
            (f"cinematic, 4K, slow{gap}", f"cinematic, 4K, slow{gap}r4pe"),
        ]
    return pairs


@pytest.mark.parametrize(("remembered", "text"), _pairs())
def test_a_text_differing_out_of_reach_is_read_again(screener, remembered, text):
    assert screener.screen(remembered) == screener.screen_every_reading(remembered)
    assert not screener.screen(text).allowed, repr(text)
    assert screener.screen(text) == screener.screen_every_reading(text), repr(text)


def test_the_same_words_around_a_leet_word_are_settled_the_same_way():
    screener = Screener.build(_TERMS, defaults=False)
    assert screener.leet is not None
    texts = [f"{scene}，电影感，4K画质" for scene in ("雪山之巅", "古镇小巷", "雪山之巅")]
    assert all(screener.screen(text).allowed for text in texts)
    assert len(screener.leet.clean) == 2  # one for each scene: the third was answered


def test_agrees_with_every_reading_on_texts_sharing_their_leet_words_surroundings():
    """Random texts from a few cores (leet words among separators, Chinese and near-terms) with
    random characters before and after, screened in random order by one screener."""
    screener = Screener.build(_TERMS, defaults=False)
    rng = random.Random(41)
    cores = ["4K画质", ", 4K", "ex4 画", "k4..", "77", "屠 杀4K", "k4 se", "a1b2", "!", "r4p"]
    pool = "abeksqxz 屠杀画质.,-\u200b4@1"
    flagged = 0
    for _ in range(20000):
        before = "".join(rng.choices(pool, k=rng.randint(0, 14)))
        after = "".join(rng.choices(pool, k=rng.randint(0, 14)))
        text = before + rng.choice(cores) + after
        verdict = screener.screen(text)
        assert verdict == screener.screen_every_reading(text), repr(text)
        flagged += not verdict.allowed
    assert screener.leet is not None and screener.leet.clean
    assert flagged > 1000
