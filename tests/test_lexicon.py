"""Keyword lexicon: longest match first, no re-expansion, deterministic choice, operator files."""

from __future__ import annotations

import pytest

from generation.lexicon import Lexicon, LexiconError, choose, default_lexicon, load


def lex(zh=None, en=None) -> Lexicon:
    return Lexicon(
        {
            "zh": {k: tuple(v) for k, v in (zh or {}).items()},
            "en": {k: tuple(v) for k, v in (en or {}).items()},
        }
    )


def test_shipped_lexicon_expands_the_seed_examples():
    text, changes = default_lexicon().expand("海怪从深海升起，星空下", "zh", seed=1)
    assert [c.keyword for c in changes] == ["海怪", "深海", "星空"]
    assert "海怪从" not in text and "星空下" not in text
    assert any(word in text for word in ("利维坦", "触须", "海蛇"))


def test_longest_keyword_wins():
    lexicon = lex(zh={"海怪": ["怪A"], "深海怪兽": ["深渊之王"]})
    assert lexicon.expand("深海怪兽出现", "zh", 0)[0] == "深渊之王出现"
    assert lexicon.expand("海怪出现", "zh", 0)[0] == "怪A出现"


def test_expanded_text_is_never_expanded_again():
    lexicon = lex(zh={"星空": ["有月亮的星空"], "月亮": ["银色的月亮"]})
    text, changes = lexicon.expand("星空和月亮", "zh", 0)
    assert text == "有月亮的星空和银色的月亮"
    assert len(changes) == 2


def test_choice_is_deterministic_per_seed_and_keyword():
    alternatives = tuple(f"alt{i}" for i in range(8))
    assert choose(alternatives, 42, "海怪") == choose(alternatives, 42, "海怪")
    picks = {choose(alternatives, seed, "海怪") for seed in range(50)}
    assert len(picks) > 3  # the seed matters
    lexicon = lex(zh={"海怪": list(alternatives)})
    first = lexicon.expand("海怪，又一只海怪", "zh", 7)[0]
    assert first.count(choose(alternatives, 7, "海怪")) == 2  # same description every time


def test_english_whole_words_case_and_articles():
    lexicon = lex(en={"cat": ["a fluffy cat"], "sea monster": ["a huge sea monster"]})
    assert lexicon.expand("A cat on a catapult", "en", 0)[0] == "A fluffy cat on a catapult"
    assert lexicon.expand("the Sea Monster rises", "en", 0)[0] == "a huge sea monster rises"
    assert lexicon.expand("category", "en", 0) == ("category", [])


def test_operator_override_replaces_adds_and_removes():
    base = lex(zh={"海怪": ["旧"], "星空": ["星"]})
    override = load(
        '[zh]\n"海怪" = ["新的海怪"]\n"星空" = []\n"巨龙" = "金色巨龙"\n', "config/lexicon.toml"
    )
    merged = base.merged(override.entries)
    assert merged.expand("海怪与星空和巨龙", "zh", 0)[0] == "新的海怪与星空和金色巨龙"
    assert base.expand("海怪", "zh", 0)[0] == "旧"  # the shipped lexicon is untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[zh\n", "not valid TOML"),
        ("[fr]\n'chat' = ['x']\n", r"unknown table \[fr\]"),
        ("[zh]\n'海怪' = [1]\n", "list of non-empty strings"),
        ("[zh]\n'海怪' = ['']\n", "list of non-empty strings"),
    ],
)
def test_bad_operator_lexicon_names_file_and_entry(text, message):
    with pytest.raises(LexiconError, match=message) as caught:
        load(text, "config/lexicon.toml")
    assert "config/lexicon.toml" in str(caught.value)
