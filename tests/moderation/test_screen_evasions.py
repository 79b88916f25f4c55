"""Evasions folding alone cannot see: display order, leetspeak, stretched letters, CamelCase,
close variants, pinyin; and the ordinary text each of those readings must leave alone."""

from __future__ import annotations

import pytest

from moderation import Screener
from moderation.lists import default_blacklist
from moderation.pinyin import shipped, table


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build(["kill"])  # "kill" is left to operators; it shows the leet i/l cases


def found(screener: Screener, text: str) -> list[tuple[str, str]]:
    result = screener.screen(text)
    for m in result.matches:
        assert text[m.start : m.end] == m.matched
    return [(m.term, m.matched) for m in result.matches]


@pytest.mark.parametrize(
    ("text", "term", "matched"),
    [
        ("\u202eepar", "rape", "epar"),  # stored backwards, displayed as "rape"
        ("a \u202eepar\u202c scene", "rape", "epar"),
        ("\u202e\u2066pe\u2069\u2066ra\u2069\u202c", "rape", "pe\u2069\u2066ra"),  # isolates swap
        ("\u202e杀屠", "屠杀", "杀屠"),
        ("ra\u2800pe", "rape", "ra\u2800pe"),  # braille blank
        ("r\u2800a\u2800p\u2800e", "rape", "r\u2800a\u2800p\u2800e"),
        ("RapeScene", "rape", "Rape"),  # CamelCase join
        ("watch PornHub", "porn", "Porn"),
        ("r4pe", "rape", "r4pe"),
        ("s3x tape", "sex", "s3x"),
        ("p0rn", "porn", "p0rn"),
        ("k!ll them", "kill", "k!ll"),
        ("ki11", "kill", "ki11"),
        ("$ex", "sex", "$ex"),
        ("h3r0in", "heroin", "h3r0in"),
        ("n@ked woman", "naked woman", "n@ked woman"),
        ("raaape", "rape", "raaape"),  # stretched letters
        ("rrrape", "rape", "rrrape"),
        ("kkkkkk rally", "kkk", "kkkkkk"),
        ("roofffie", "roofie", "roofffie"),
        ("suiiicide", "suicide", "suiiicide"),
        ("a naked lady", "naked lady", "naked lady"),  # naked + a person
        ("naked teenagers", "naked teenager", "naked teenagers"),
        ("two naked women", "naked women", "naked women"),
        ("a naked child", "naked child", "naked child"),
        ("a blood bath", "blood bath", "blood bath"),
        ("a bloodbath", "blood bath", "bloodbath"),
        ("xingjiao", "性交", "xingjiao"),  # pinyin
        ("se qing pian", "色情", "se qing"),
        ("Sha-Ren", "杀人", "Sha-Ren"),
        ("zhina", "支那", "zhina"),
    ],
)
def test_evasions_are_seen_through(screener, text, term, matched):
    assert (term, matched) in found(screener, text)


@pytest.mark.parametrize(
    "text",
    [
        "a 4K video at 60fps, 1080p HDR",
        "mp3 and mp4 files on a B2B site",
        "the 1st of May, a 3D model of H2O",
        "an F1 race, COVID-19 news, Win10",
        "$50 gift card @home",
        "an S3 bucket in the 80s, a 5-star hotel",
        "Ahhh! Zzz... Brrr, sooo good",
        "www.example.com",
        "Hello!!! world",
        "an iPhone at McDonald's",
        "a GoreTex jacket",  # CamelCase of an allowlisted phrase
        "the naked eye and a naked flame",
        "Baotou steel city",  # 包头 is the common reading of "baotou", not 爆头
        "bingdu",  # 病毒 (virus) before 冰毒
        "Shiren and Zijin mountain",
        "a sharing session, a sequin dress",
        "Sussex, Essex, Scunthorpe, Nazareth",
        "a classic bass guitar, a therapist, an analyst",
    ],
)
def test_the_other_readings_leave_ordinary_text_alone(screener, text):
    assert found(screener, text) == []


def test_pinyin_matches_report_the_chinese_term_and_its_category(screener):
    (match,) = screener.screen("xing jiao").matches
    assert (match.term, match.category) == ("性交", "sexual")
    assert match.source.endswith("(pinyin)")


def test_operator_chinese_terms_are_matched_in_pinyin_too():
    screener = Screener.build(["竞品甲"], defaults=False)
    assert [m.term for m in screener.screen("jing pin jia").matches] == ["竞品甲"]


def test_the_shipped_pinyin_table_is_current():
    terms = sorted({t.text for t in default_blacklist()})
    from pathlib import Path

    import moderation

    path = Path(moderation.__file__).parent / "data" / "pinyin.txt"
    assert path.read_text(encoding="utf-8") == table(terms), (
        "run: python -m moderation.pinyin > moderation/data/pinyin.txt"
    )
    assert shipped()["性交"] == ("xing jiao",)
    assert shipped()["冰毒"] == ()


def test_readings_exist_only_where_there_is_something_to_undo():
    from moderation.views import display_view, leet_views, stretch_views

    assert display_view("a \u202bquiet\u202c lake") is None  # an embedding reverses no letters
    shown = display_view("\u202eab\ncd")  # an override ends at the line's end
    assert shown is not None and shown.text == "ba\ncd"
    assert leet_views("2026年, 16:9, 4:3") == []
    assert [v.text for v in leet_views("k1ll")] == ["kill", "klll"]
    assert stretch_views("a killer bee") == []
    assert [v.text for v in stretch_views("raaape")] == ["rape", "raape", "raaape"]
