"""Narration text: sentences, numbers as a narrator says them, language runs, line breaking."""

from __future__ import annotations

import pytest

from postprocess.spoken import integer_zh, spoken
from postprocess.text import (
    break_text,
    display_width,
    is_cjk,
    join_sentences,
    language_runs,
    primary,
    share_sentences,
    split_sentences,
)

STORY = "安德洛墨达被锁在海边岩石上。夜空中银河横贯，仙后座高坐王座。突然，海怪破浪而出！"
MIXED = "我用iPhone 15拍了3.5小时"


# --- sentences ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "lang", "count", "shares"),
    [
        ("The cat sat. It was warm.", "en", 1, ["The cat sat. It was warm."]),
        ("The cat sat. It was warm. The end!", "en", 2, ["The cat sat.", "It was warm. The end!"]),
        ("Wait… Then? He said “go.” She went.", "en", 1, ["Wait… Then? He said “go.” She went."]),
        ("猫坐着。天很暖。", "zh", 1, ["猫坐着。天很暖。"]),
        ("“走吧。”“好。”他们走了。", "zh", 1, ["“走吧。”“好。”他们走了。"]),
        ("猫坐着。The cat sat. It was warm.", "zh", 1, ["猫坐着。The cat sat. It was warm."]),
        ("One.", "en", 2, [None, "One."]),
    ],
)
def test_sentences_shared_over_shots_keep_their_spaces(text, lang, count, shares):
    assert share_sentences(text, lang, count) == shares
    for share in filter(None, shares):  # each shot's text splits again where it was split
        assert join_sentences(split_sentences(share, lang)) == share


def test_joined_latin_sentences_are_not_glued():
    joined = join_sentences(split_sentences("The cat sat. It was warm.", "en"))
    assert joined == "The cat sat. It was warm." and "sat.It" not in joined
    assert split_sentences(joined, "en") == ["The cat sat.", "It was warm."]
    assert join_sentences(["猫坐着。", "天很暖。"]) == "猫坐着。天很暖。"


def test_chinese_sentences_keep_their_marks_and_closing_quotes():
    assert split_sentences(STORY, "zh") == [
        "安德洛墨达被锁在海边岩石上。",
        "夜空中银河横贯，仙后座高坐王座。",
        "突然，海怪破浪而出！",
    ]
    assert split_sentences("“救命！”她喊道。", "zh") == ["“救命！”", "她喊道。"]
    assert split_sentences("他犹豫了……最后还是走了。真的吗？！是的", "zh") == [
        "他犹豫了……",
        "最后还是走了。",
        "真的吗？！",
        "是的",
    ]
    assert split_sentences("先别动；等我（马上回来。）好吗", "zh") == [
        "先别动；",
        "等我（马上回来。）",
        "好吗",
    ]


def test_english_sentences_survive_decimals_abbreviations_and_ellipses():
    text = "Mr. Smith paid 3.5 coins. Orion hunts!\nThe scorpion waits… He falls?"
    assert split_sentences(text, "en") == [
        "Mr. Smith paid 3.5 coins.",
        "Orion hunts!",
        "The scorpion waits…",
        "He falls?",
    ]
    text = (
        "We saw it, e.g. the comet. Dr. Li agreed... then left. J. K. Rowling wrote it. "
        'I came; I saw. "Stop!" she cried. It cost No. 5 less.'
    )
    assert split_sentences(text, "en") == [
        "We saw it, e.g. the comet.",
        "Dr. Li agreed... then left.",
        "J. K. Rowling wrote it.",
        "I came;",
        "I saw.",
        '"Stop!" she cried.',
        "It cost No. 5 less.",
    ]


def test_line_breaks_end_sentences_and_empty_pieces_vanish():
    assert split_sentences("第一行\n\n第二行\r\n  \n第三行。", "zh") == [
        "第一行",
        "第二行",
        "第三行。",
    ]
    assert split_sentences("", "zh") == []
    assert split_sentences("  \n\t", "en") == []
    assert split_sentences("。！？……", "zh") == []
    assert split_sentences("好。。。\n！！", "zh") == ["好。。。"]


def test_mixed_sentence_is_one_sentence():
    assert split_sentences(MIXED, "zh") == [MIXED]
    assert split_sentences("Wan2.2 生成了视频。版本v1.5.0发布！", "zh") == [
        "Wan2.2 生成了视频。",
        "版本v1.5.0发布！",
    ]


def test_run_on_chinese_is_cut_at_commas_into_pieces_that_fit():
    clause = "海风呼啸着掠过礁石，远处的海面翻腾不休，乌云在天边聚集，雷声滚滚而来，"
    run_on = clause * 9 + "天亮了。"  # 319 characters, no sentence mark until the end
    pieces = split_sentences(run_on, "zh")
    assert "".join(pieces) == run_on
    assert [len(p) for p in pieces] == [55, 50, 55, 50, 55, 54]
    assert all(p.endswith(("，", "。")) for p in pieces)
    # With no pause mark at all, the cut is even and exact.
    assert [len(p) for p in split_sentences("海" * 300, "zh")] == [60] * 5
    assert [len(p) for p in split_sentences("海" * 300, "zh", max_cjk=100)] == [100] * 3


def test_run_on_english_is_cut_at_commas_then_spaces():
    sentence = ", ".join(["the tide came in and the tide went out"] * 8) + "."
    pieces = split_sentences(sentence, "en")
    assert len(pieces) == 2 and all(len(p) <= 200 for p in pieces)
    assert " ".join(pieces) == sentence and pieces[0].endswith(",")
    words = split_sentences(" ".join(["word"] * 100), "en", max_latin=50)
    assert [len(p) for p in words] == [49] * 10  # ten words a piece, never a cut word


def test_bad_language_or_limit_is_refused():
    with pytest.raises(ValueError, match="'chinese!' is not a language code"):
        split_sentences("你好。", "chinese!")
    with pytest.raises(ValueError, match="at least 2"):
        split_sentences("你好。", "zh", max_cjk=0)
    assert primary("zh_CN") == "zh" and primary("cmn") == "zh" and primary("en-US") == "en"


# --- numbers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "零"),
        (10, "十"),
        (15, "十五"),
        (110, "一百一十"),
        (200, "二百"),
        (1001, "一千零一"),
        (1010, "一千零一十"),
        (2000, "两千"),
        (10010, "一万零一十"),
        (22000, "两万二千"),
        (100000, "十万"),
        (100000001, "一亿零一"),
        (100010000, "一亿零一万"),
        (101000000, "一亿零一百万"),
        (1_0000_0000_0000, "一万亿"),
    ],
)
def test_integers_in_chinese(number, words):
    assert integer_zh(number) == words


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("圆周率约为3.14", "圆周率约为三点一四"),
        ("0.5秒", "零点五秒"),
        ("增长了50%", "增长了百分之五十"),
        ("利率3.5％", "利率百分之三点五"),
        ("跌了-2%", "跌了负百分之二"),
        ("２０２６年", "二零二六年"),
        ("2026年5月3日", "二零二六年五月三日"),
        ("2026-05-03出发", "二零二六年五月三日出发"),
        ("2020—2025年", "二零二零到二零二五年"),
        ("3年", "三年"),
        ("电话13812345678", "电话一三八一二三四五六七八"),
        ("拨打138-1234-5678", "拨打一三八 一二三四 五六七八"),
        ("编号007", "编号零零七"),
        ("奖金1000000元", "奖金一百万元"),
        ("1,000,000人", "一百万人"),
        ("共10000000", "共一千万"),
        ("气温-5度", "气温负五度"),
        ("3-5个", "三到五个"),
        ("1~2个", "一到两个"),
        ("3-5%", "百分之三到百分之五"),
        ("10:30出发", "十点三十分出发"),
        ("2:05", "两点零五分"),
        ("10:00整", "十点整"),
        ("08:30:15", "八点三十分十五秒"),
        ("比分3:2", "比分三比二"),
        ("我有2个苹果", "我有两个苹果"),
        ("第2名", "第二名"),
        ("2月", "二月"),
        ("12个", "十二个"),
        ("版本1.2.3", "版本一点二点三"),
        (MIXED, "我用iPhone 15拍了三点五小时"),
        ("3D打印和5G网络", "3D打印和5G网络"),
        ("GPT-4写的", "GPT-4写的"),
        ("没有数字。", "没有数字。"),
    ],
)
def test_chinese_numbers_are_written_out(text, said):
    assert spoken(text, "zh") == said


def test_english_symbols_are_written_out_and_numbers_left_to_the_engine():
    assert spoken("Sales rose 50% & profits 3.5 %", "en") == (
        "Sales rose 50 percent and profits 3.5 percent"
    )
    assert spoken("R&D in 2026 cost $3,000", "en-US") == "R and D in 2026 cost $3,000"
    assert spoken("50%", "fr") == "50%"  # other languages: left to the engine


# --- language runs --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sentence", "runs"),
    [
        (MIXED, [("zh", "我用"), ("en", "iPhone 15"), ("zh", "拍了3.5小时")]),
        ("I love 北京 duck.", [("en", "I love"), ("zh", "北京"), ("en", "duck.")]),
        ("他说：“Hello”。", [("zh", "他说："), ("en", "“Hello”。")]),
        ("我的3D打印机", [("zh", "我的"), ("en", "3D"), ("zh", "打印机")]),
        (
            "iOS 17和Android 14都支持",
            [("en", "iOS 17"), ("zh", "和"), ("en", "Android 14"), ("zh", "都支持")],
        ),
        ("A股涨了3%", [("en", "A"), ("zh", "股涨了3%")]),
        ("Hello, world.", [("en", "Hello, world.")]),
        ("全是中文，没有英文。", [("zh", "全是中文，没有英文。")]),
    ],
)
def test_language_runs(sentence, runs):
    assert language_runs(sentence) == runs


def test_language_runs_of_text_without_letters():
    assert language_runs("") == []
    assert language_runs("。。！") == []
    assert language_runs("2026！") == [("en", "2026！")]
    assert language_runs("2026！", default="zh") == [("zh", "2026！")]


def test_runs_then_spoken_reads_each_run_in_its_language():
    said = [(lang, spoken(text, lang)) for lang, text in language_runs(MIXED)]
    assert said == [("zh", "我用"), ("en", "iPhone 15"), ("zh", "拍了三点五小时")]


# --- widths and line breaking ---------------------------------------------------------------
def test_widths_count_chinese_columns():
    assert display_width("中文", cjk=True) == 2
    assert display_width("iPhone 15", cjk=True) == 4.5
    assert display_width("“好”", cjk=True) == 3
    assert display_width("café", cjk=False) == 4
    assert is_cjk("你好", "zh-CN") and not is_cjk("OK!", "zh") and not is_cjk("你好", "en")


def test_break_text_never_splits_a_latin_word_in_chinese():
    lines = break_text("我们用Photoshop和Illustrator处理图片", 8, cjk=True, penalty=10)
    assert lines == ["我们用Photoshop", "和Illustrator", "处理图片"]
    assert break_text("", 10, cjk=True, penalty=0) == []
    with pytest.raises(ValueError, match="width must be positive"):
        break_text("文字", 0, cjk=True, penalty=0)
