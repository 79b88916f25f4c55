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


def expanded(text: str) -> list[str]:
    return [c.keyword for c in default_lexicon().expand(text, "zh", seed=1)[1]]


@pytest.mark.parametrize(
    "text",
    [
        "夏夜南方的低空，天蝎座亮起红色的心宿二",  # 天蝎 / 天蝎座
        "银河系中心",  # 银河 / 银河系
        "火山灰遮天蔽日",  # 火山 / 火山灰
        "武士刀闪着寒光",  # 武士 / 武士刀
        "森林公园",  # 森林 / 森林公园
        "一座大城市",  # 城市 / 大城市, the keyword at the end of a word
        "遥远的仙女座星系",  # 仙女座: a compound jieba lacks, added by the lexicon
        "鲸鱼座",
        "一只草原狼",
        "森林公園裡的天蠍座",  # traditional characters segment as simplified ones
    ],
)
def test_chinese_keyword_inside_a_longer_word_is_not_expanded(text):
    assert default_lexicon().expand(text, "zh", seed=1) == (text, [])


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("一群山羊", []),  # 一群/山羊, not 群山
        ("上海浪漫夜景", []),  # 上海/浪漫, not 海浪
        ("有多少女孩", []),  # 多少/女孩, not 少女
        ("巨大海浪", ["海浪"]),  # 巨大/海浪, not 大海
    ],
)
def test_chinese_keyword_across_word_boundaries_is_not_expanded(text, keywords):
    assert expanded(text) == keywords


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("海怪从深海升起", ["海怪", "深海"]),
        ("星空下", ["星空"]),  # a particle after the keyword
        ("竹林中的武士", ["竹林", "武士"]),  # though jieba's dictionary has 竹林中
        ("当天蝎升起", ["天蝎"]),  # 当/天蝎, though jieba's dictionary prefers 当天
        ("在大海上航行", ["大海"]),
        ("从此猎人与天蝎永隔星空两端", ["天蝎", "星空"]),
        ("未来城市的街道", ["未来城市"]),  # several of jieba's words (未来/城市), one keyword
        ("一只小猫cat和robot机器人", ["小猫", "机器人"]),  # Latin next to Chinese
        ("森林裡的老人", ["森林", "老人"]),
    ],
)
def test_chinese_keyword_on_word_boundaries_is_expanded(text, keywords):
    assert expanded(text) == keywords


def test_a_longer_keyword_that_does_not_fit_leaves_a_shorter_one_its_chance():
    lexicon = lex(zh={"城市": ["都市"], "城市中": ["市中"], "海怪": ["M"], "海怪x": ["X"]})
    assert lexicon.expand("城市中心", "zh", 0)[0] == "都市中心"  # 城市/中心
    assert lexicon.expand("海怪xyz", "zh", 0)[0] == "Mxyz"  # "x" inside "xyz"
    assert lexicon.expand("城市中", "zh", 0)[0] == "市中"


def test_own_keyword_for_a_compound_still_wins():
    lexicon = lex(zh={"天蝎": ["蝎"], "天蝎座": ["星座"]})
    text, changes = lexicon.expand("天蝎座和天蝎", "zh", 0)
    assert text == "星座和蝎"
    assert [(c.keyword, c.start, c.end) for c in changes] == [("天蝎座", 0, 3), ("天蝎", 4, 6)]


def test_a_keyword_spanning_several_segments_matches_on_its_ends():
    lexicon = lex(zh={"星空·银河": ["满天星河"]})
    assert lexicon.expand("夜晚的星空·银河下", "zh", 0)[0] == "夜晚的满天星河下"


def test_operator_keywords_join_the_segmentation():
    operator = load('[zh]\n"天马" = ["长着双翼的白色天马"]\n"草原狼" = ["灰色的草原狼"]\n', "op")
    merged = default_lexicon().merged(operator.entries)
    text, changes = merged.expand("一群草原狼追着天马", "zh", 0)
    assert [c.keyword for c in changes] == ["草原狼", "天马"]
    assert "灰色的草原狼" in text


def test_dictionary_words_holding_a_keyword_stay_whole():
    """Every word of jieba's dictionary that holds a shipped keyword and that jieba keeps whole
    is still whole with the keywords added, except the reviewed entries below, which are a
    keyword plus a particle or a modifier. A keyword added to the shipped lexicon that splits
    more words shows up here: add a compound to generation/lexicon.py, or the word below."""
    import jieba

    from wanflow.segment import segmenter

    keywords = default_lexicon().entries["zh"]
    with jieba.Tokenizer().get_dict_file() as dictionary:
        held = {
            word
            for line in dictionary
            if len(word := line.decode("utf-8").split(" ", 1)[0]) > 2
            and any(keyword in word for keyword in keywords)
        }
    plain, lexicon = segmenter(), default_lexicon().segmenter("zh")
    split = {
        word
        for word in held
        if plain.spans(word) == [(0, len(word))] and lexicon.spans(word) != [(0, len(word))]
    }
    assert len(held) > 400
    assert split == {
        "的花海",
        "于大海",
        "于银河",
        "竹林中",
        "大竹林",
        "小瀑布",
        "小草原",
        "中国凤凰",
        "神仙会",
        "鹊桥会",
        "星座号",
    }
