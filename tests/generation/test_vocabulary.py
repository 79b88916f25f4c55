"""The controlled vocabulary: every control value by its Chinese name, English name and aliases."""

from __future__ import annotations

import pytest

from generation.vocabulary import UnknownValue, Vocabulary, default_vocabulary
from wanflow.manifest import Item

VOCAB = default_vocabulary()
ALL_TERMS = [
    (name, term) for name, control in VOCAB.controls.items() for term in control.terms.values()
]


@pytest.mark.parametrize(("control", "term"), ALL_TERMS, ids=lambda x: getattr(x, "id", x))
def test_every_value_resolves_by_zh_en_and_aliases(control, term):
    for spelling in (term.id, term.zh, term.en, *term.aliases):
        assert VOCAB.resolve(control, spelling) is term


def test_spelling_ignores_case_width_spaces_and_dashes():
    assert VOCAB.resolve("style", "Oil-Painting").id == "oil_painting"
    assert VOCAB.resolve("style", "ＯＩＬ　ＰＡＩＮＴＩＮＧ").id == "oil_painting"
    assert VOCAB.resolve("style", "3d卡通").id == "cartoon_3d"
    assert VOCAB.resolve("camera", " 镜头推进 ").id == "push_in"


def test_the_issue_vocabulary_is_all_there():
    styles = {
        "二次元",
        "油画",
        "水彩画",
        "像素艺术",
        "赛博朋克",
        "复古电影",
        "黑白",
        "黏土动画",
        "毛毡风格",
        "3D卡通",
    }
    assert styles <= {t.zh for t in VOCAB.terms("style")}
    assert [t.zh for t in VOCAB.terms("style_intensity")] == ["轻微", "中等", "强烈", "极致"]
    for move in (
        "推进",
        "拉远",
        "左移",
        "右移",
        "上摇",
        "下摇",
        "左摇",
        "右摇",
        "手持",
        "环绕",
        "跟随",
        "飞跃",
    ):
        VOCAB.resolve("camera", move)


def test_unknown_value_names_the_control_and_lists_what_is_accepted():
    with pytest.raises(UnknownValue) as caught:
        VOCAB.resolve("style", "油彩")
    message = str(caught.value)
    assert "style (风格)" in message and "'油彩'" in message
    assert "油画/oil painting" in message and "黏土动画/claymation" in message


def test_check_item_reports_each_bad_field():
    item = Item(id="a", prompt="x", style="油彩", camera="飞天", shot_size="特写", lens="长焦")
    problems = dict(VOCAB.check_item(item))
    assert set(problems) == {"style", "camera"}
    assert "飞天" in problems["camera"] and "推进/push in" in problems["camera"]


@pytest.mark.parametrize(
    ("value", "move", "speed"),
    [
        ("缓慢推进", "push_in", "slow"),
        ("缓缓上摇", "tilt_up", "slow"),
        ("快速环绕", "orbit", "fast"),
        ("slow push in", "push_in", "slow"),
        ("Push in slowly", "push_in", "slow"),
        ("quickly pan-left", "pan_left", "fast"),
    ],
)
def test_a_camera_move_may_carry_its_speed(value, move, speed):
    terms, problems = VOCAB.resolve_item(Item(id="a", prompt="x", camera=value))
    assert problems == []
    assert terms["camera"].id == move and terms["camera_speed"].id == speed


def test_a_camera_move_without_speed_sets_none():
    terms, _ = VOCAB.resolve_item(Item(id="a", prompt="x", camera="推进"))
    assert "camera_speed" not in terms


def test_a_speed_in_the_move_that_contradicts_the_speed_column_is_an_error():
    item = Item(id="a", prompt="x", camera="缓慢推进", camera_speed="fast")
    assert dict(VOCAB.check_item(item))["camera"].endswith("camera_speed is 'fast'")
    agreeing = Item(id="a", prompt="x", camera="缓慢推进", camera_speed="slow")
    assert VOCAB.check_item(agreeing) == []


def test_an_unknown_move_with_a_speed_is_still_refused_with_a_hint():
    problems = dict(VOCAB.check_item(Item(id="a", prompt="x", camera="缓慢飞天")))
    assert "'缓慢飞天'" in problems["camera"] and "缓慢推进" in problems["camera"]


def test_a_spelling_naming_two_values_is_refused_at_load():
    data = {
        "style": {
            "a": {"zh": "甲", "en": "alpha"},
            "b": {"zh": "乙", "en": "beta", "aliases": ["Alpha"]},
        }
    }
    with pytest.raises(ValueError, match="names both 'a' and 'b'"):
        Vocabulary(data)


def test_readme_lists_every_value():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [f"{t.zh} / {t.en}" for _, t in ALL_TERMS if f"{t.zh} / {t.en}" not in readme]
    assert not missing, f"README.md does not list: {missing}"
