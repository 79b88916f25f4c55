"""List files: comments, TAB categories, encodings, and errors that name the file and line."""

from __future__ import annotations

import pytest

from moderation import ListError, Term, load_list, parse_list
from moderation.lists import category_id, file_category


def test_comments_blank_lines_tabs_bom_and_crlf():
    text = (
        "\ufeff# violence terms\r\n"
        "\r\n"
        "屠杀\r\n"
        "blow job\tsexual   # trailing comment\r\n"
        "  gore  \t\tViolence\r\n"
        "自残\t自残\n"
        "self harm\tSelf-Harm\n"
        "   # indented comment\n"
        "无类别\t\n"
    )
    terms = parse_list(text, "ops.txt", default_category="hate")
    assert [(t.text, t.category, t.source) for t in terms] == [
        ("屠杀", "hate", "ops.txt:3"),
        ("blow job", "sexual", "ops.txt:4"),
        ("gore", "violence", "ops.txt:5"),
        ("自残", "self_harm", "ops.txt:6"),
        ("self harm", "self_harm", "ops.txt:7"),
        ("无类别", "hate", "ops.txt:9"),
    ]


def test_bytes_from_the_bucket_are_utf8_with_or_without_bom():
    data = "\ufeff屠杀\nrape\tsexual\n".encode()
    assert [t.text for t in parse_list(data, "s3://wanflow/config/blacklist.txt")] == [
        "屠杀",
        "rape",
    ]
    assert parse_list(b"gore\n", "x.txt")[0].category == "custom"


def test_allowlist_lines_have_no_category():
    terms = parse_list("血腥玛丽\nbloody mary  # the drink\n", "allow.txt", "allowlist")
    assert terms == [
        Term("血腥玛丽", None, "allow.txt:1"),
        Term("bloody mary", None, "allow.txt:2"),
    ]
    with pytest.raises(ListError, match=r"allow\.txt:2: allowlist lines have no category.*'hate'"):
        parse_list("杀人鲸\n杀青\thate\n", "allow.txt", "allowlist")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ok\nterm\tviolance\n", r"ops\.txt:2: unknown category 'violance' for 'term'; use one of"),
        ("ok\n\u200b\u200b\n", r"ops\.txt:2: term '\\u200b\\u200b' has no letters or digits"),
        ("ok\n\n!!! ...\n", r"ops\.txt:3: term '!!! \.\.\.' has no letters or digits"),
        ("r\n", r"ops\.txt:1: term 'r' is a single Latin letter"),
        ("\tsexual\n", r"ops\.txt:1: no term before the TAB"),
    ],
)
def test_bad_lines_name_the_file_and_line(text, message):
    with pytest.raises(ListError, match=message):
        parse_list(text, "ops.txt")


def test_invalid_utf8_names_the_line():
    data = "屠杀\ngore\n".encode() + "强奸\n".encode("gbk")
    with pytest.raises(ListError, match=r"ops\.txt:3: not valid UTF-8 \(byte 0x"):
        parse_list(data, "ops.txt")


def test_single_chinese_characters_are_terms():
    assert parse_list("屌\n", "ops.txt")[0].text == "屌"


def test_files_take_their_default_category_from_the_name(tmp_path):
    for name, category in [
        ("blacklist-violence.txt", "violence"),
        ("blacklist-self_harm.txt", "self_harm"),
        ("ops-暴力.txt", "violence"),
        ("blacklist.txt", "custom"),
        ("extra-words.txt", "custom"),
    ]:
        path = tmp_path / name
        path.write_text("zorblax\n", encoding="utf-8")
        assert file_category(path) == category
        assert load_list(path)[0] == Term("zorblax", category, f"{path}:1")
    assert load_list(tmp_path / "blacklist.txt", default_category="hate")[0].category == "hate"


def test_missing_file_is_a_list_error(tmp_path):
    with pytest.raises(ListError, match=r"nope\.txt: cannot read the blacklist"):
        load_list(tmp_path / "nope.txt")


def test_category_names():
    assert category_id(" Self-Harm ") == "self_harm"
    assert category_id("ＶＩＯＬＥＮＣＥ") == "violence"
    assert category_id("色情") == "sexual"
    assert category_id("politics") is None
