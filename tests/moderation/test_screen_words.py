"""Screening against word boundaries: a term across two words is no match, padding still is,
and an allowlisted phrase exempts a term only where the phrase is the reading of the text."""

from __future__ import annotations

import random

import pytest

from benchmarks.screen import CORPORA, corpus_lines
from moderation import Screener
from moderation.lists import default_allowlist
from moderation.words import Words
from wanflow.segment import segmenter


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build()


def terms(screener: Screener, text: str) -> list[str]:
    result = screener.screen(text)
    for m in result.matches:
        assert text[m.start : m.end] == m.matched
    return [m.term for m in result.matches]


@pytest.mark.parametrize(
    "text",
    [
        "她叫做爱丽丝",  # 叫做|爱丽丝, not 做爱
        "十字路口交通繁忙",  # 路口|交通, not 口交
        "出口交易额",
        "个性爱好",  # 个性|爱好, not 性爱
        "理性交流",  # 理性|交流, not 性交
        "女性交友平台",
        "露点温度",
        "给橘子剥皮",
        "在客厅装上吊灯",  # 装|上|吊灯, not 上吊
        "跳楼机",
        "男女同学之间的异性交往",
        "十字路口，交通很乱",  # sentence punctuation between two words joins nothing
        "真是个大麻烦",
        "一杯血腥玛丽和一杯水",
        "海岸边裸露的岩层",
    ],
)
def test_chinese_terms_across_word_boundaries_do_not_match(screener, text):
    assert terms(screener, text) == []


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("他们在做爱", "做爱"),
        ("两人在水中性交", "性交"),  # 水中|性交: the allowlisted 中性交 would break 水中
        ("在家中性交", "性交"),
        ("一个强奸犯", "强奸"),  # a compound built on the term is still the term
        ("杀人犯逃走了", "杀人"),
        ("做做爱爱", "做爱"),  # padding by repetition
        ("叫做*爱", "做爱"),  # padding by a symbol
        ("叫做\u200b爱", "做爱"),  # or an invisible character
        ("屠 杀", "屠杀"),
        ("他上吊了", "上吊"),
    ],
)
def test_chinese_terms_that_are_words_or_padded_match(screener, text, term):
    assert term in terms(screener, text)


def test_an_allowlisted_phrase_exempts_only_where_it_breaks_no_word():
    screener = Screener.build(allowlists=["中性交"])
    assert terms(screener, "在家中性交") == ["性交"]  # 在|家中|性交: 中性交 would break 家中
    assert terms(screener, "两人在水中性交") == ["性交"]
    assert terms(screener, "血腥玛丽和屠杀") == ["屠杀"]  # 玛丽和 is too rare a word to defend
    assert terms(screener, "一杯血腥玛丽") == []


def test_every_shipped_allowlist_phrase_is_its_own_reading(screener):
    for term in default_allowlist():
        assert screener.screen(term.text).allowed, term.text
    assert terms(screener, "今天中性交") == ["性交"]  # 中性交 is no longer shipped


@pytest.mark.parametrize(
    "text",
    [
        "a hiker zips up a Gore-Tex jacket",
        "rain on GORE-TEX boots",
        "a sex education class",
        "a suicide prevention hotline number on screen",
        "a reading group discussing Murder on the Orient Express",
        "a murder of crows",
        "the naked eye can see Venus",
        "fields of oilseed rape in bloom",
        "taking a stab at baking bread",
    ],
)
def test_english_benign_readings_pass(screener, text):
    assert terms(screener, text) == []


def test_english_terms_next_to_an_allowlisted_phrase_still_match(screener):
    assert terms(screener, "sex education, then sex") == ["sex"]
    assert terms(screener, "tribal gore") == ["gore"]  # "al gore" must start a word


def test_only_texts_with_a_chinese_candidate_are_segmented(monkeypatch):
    import moderation.words

    screener = Screener.build()

    def refuse(*_):
        raise AssertionError("segmented a text without a Chinese candidate")

    monkeypatch.setattr(moderation.words, "segmenter", refuse)
    for text in ("星空下的猎人", "a quiet lake", "gore", "r4pe", "\u202eepar"):
        screener.screen(text)


def test_words_are_the_segmenters_cutting_one_run_at_a_time():
    # Words segments only the run holding the position asked about: the same words as the
    # whole text segmented, across punctuation, emoji, Latin runs and traditional characters.
    rng = random.Random(31)
    pool = "做爱丽丝叫血腥玛丽和屠殺杀人鲸大麻烦 ab4K.，。😀-_%\u200b"
    texts = [*corpus_lines(CORPORA / "benign-zh.txt")[:300]]
    texts += ["".join(rng.choices(pool, k=rng.randint(1, 24))) for _ in range(1500)]
    for text in texts:
        spans = segmenter().spans(text)
        words = Words(text)
        for position in rng.sample(range(len(text)), min(len(text), 6)):
            expected = next((s, e) for s, e in spans if s <= position < e)
            assert words.word_at(position) == expected, (text, position)
            assert words.is_boundary(position) == (expected[0] == position), (text, position)
