"""The structured prompt formula, in Chinese and English, for every control value."""

from __future__ import annotations

import pytest

from generation.formula import AESTHETICS, WAN_NEGATIVE_PROMPT, formula_for, item_seed
from generation.lexicon import Lexicon
from generation.vocabulary import default_vocabulary
from wanflow.manifest import Item

VOCAB = default_vocabulary()
NO_LEXICON = Lexicon()
PROMPT_CONTROLS = [
    *AESTHETICS,
    "camera",
    "camera_speed",
    "motion_speed",
    "motion_intensity",
    "emotion",
    "style",
    "style_intensity",
]
CASES = [
    (control, term.id, lang)
    for control in PROMPT_CONTROLS
    for term in VOCAB.terms(control)
    for lang in ("zh", "en")
]


def compose(lang: str, **fields):
    prompt = "海怪从深海升起" if lang == "zh" else "A sea monster rises from the deep"
    item = Item(id="x", prompt=prompt, language=lang, **fields)
    return formula_for(item, VOCAB, NO_LEXICON).compose(item.prompt)


def expected_phrase(control: str, term, lang: str) -> str:
    """What the term must contribute, in the form the formula writes it."""
    if control == "camera_speed":
        return VOCAB.get("camera", "push_in").text(lang, speed=term.text(lang))
    if control == "style_intensity":
        return term.text(lang, style=VOCAB.get("style", "oil_painting").text(lang))
    if control == "motion_speed":
        speed = term.text(lang)
        return f"{speed}升起" if lang == "zh" else f"升起 {speed}"
    return term.text(lang, speed="")


@pytest.mark.parametrize(("control", "term_id", "lang"), CASES)
def test_every_control_value_shapes_the_prompt_by_either_name(control, term_id, lang):
    term = VOCAB.get(control, term_id)
    extra = {"style": "油画"} if control == "style_intensity" else {}
    extra |= {"camera": "推进"} if control == "camera_speed" else {}
    extra |= {"motion": "升起"} if control == "motion_speed" else {}
    by_zh = compose(lang, **{control: term.zh}, **extra)
    by_en = compose(lang, **{control: term.en}, **extra)
    assert by_zh.prompt == by_en.prompt  # the Chinese and English names mean the same
    assert expected_phrase(control, term, lang).lower() in by_zh.prompt.lower()
    if not (control == "style_intensity" and term_id == "medium"):  # medium is the plain style
        assert by_zh.prompt != compose(lang, **extra).prompt


def test_zh_prompt_names_every_part_in_order():
    result = compose(
        "zh",
        subject="远古海怪",
        scene="暴风雨中的海面",
        motion="破浪而出",
        motion_speed="猛烈",
        emotion="紧张",
        camera="推进",
        camera_speed="缓慢",
        time_of_day="夜晚",
        light_source="月光",
        shot_size="远景",
        camera_angle="仰拍",
        composition="中心构图",
        lens="广角",
        colour_tone="冷色调",
        style="油画",
        style_intensity="强烈",
    )
    prompt = result.prompt
    order = [
        "远古海怪",
        "海怪从深海升起",
        "暴风雨中的海面",
        "猛烈地破浪而出",
        "气氛紧张",
        "镜头缓慢推进",
        "夜晚",
        "清冷的月光",
        "冷色调",
        "远景镜头",
        "低角度仰拍",
        "中心构图",
        "广角镜头",
        "浓郁的油画风格",
    ]
    positions = [prompt.index(part) for part in order]
    assert positions == sorted(positions), prompt
    assert prompt.endswith("。") and "。。" not in prompt and "，。" not in prompt
    assert 60 <= len(prompt) <= 200  # the density of Wan's own prompt extender


def test_en_prompt_reads_as_sentences():
    result = compose(
        "en",
        camera="orbit",
        camera_speed="slow",
        time_of_day="dusk",
        style="watercolor",
        style_intensity="light",
    )
    assert result.prompt.startswith(
        "A sea monster rises from the deep. The camera slowly orbits the subject."
    )
    assert "At dusk." in result.prompt
    assert "a light touch of watercolour style" in result.prompt.lower()
    assert result.prompt.endswith(".") and ".." not in result.prompt


def test_prompt_language_follows_the_item():
    zh = Item(id="a", prompt="星空下的海")
    en = Item(id="b", prompt="Sea under the stars")
    assert formula_for(zh, VOCAB, NO_LEXICON).lang == "zh"
    assert formula_for(en, VOCAB, NO_LEXICON).lang == "en"
    forced = Item(id="c", prompt="星空下的海", language="en", camera="推进")
    assert (
        "the camera pushes in"
        in formula_for(forced, VOCAB, NO_LEXICON).compose(forced.prompt).prompt.lower()
    )


def test_negative_prompt_is_wans_default_plus_the_items_own():
    result = compose("zh", negative_prompt="水印，文字")
    assert result.negative_prompt == WAN_NEGATIVE_PROMPT + "，水印，文字"
    assert compose("en").negative_prompt == WAN_NEGATIVE_PROMPT  # Chinese for every language


def test_negative_prompt_drops_words_the_look_asks_for():
    painted = compose("zh", style="油画").negative_prompt.split("，")
    assert "画作" not in painted and "风格" not in painted and "最差质量" in painted
    grey = compose("zh", style="黑白").negative_prompt.split("，")
    assert "整体发灰" not in grey
    vivid = compose("zh", colour_tone="高饱和度").negative_prompt.split("，")
    assert "色调艳丽" not in vivid
    assert compose("zh").negative_prompt.split("，") == WAN_NEGATIVE_PROMPT.split("，")


def test_seed_is_the_items_or_stable_from_its_id():
    assert item_seed(Item(id="a", prompt="x", seed=42)) == 42
    derived = item_seed(Item(id="story-1", prompt="x"))
    assert derived == item_seed(Item(id="story-1", prompt="y")) and 0 <= derived < 2**31
    assert derived != item_seed(Item(id="story-2", prompt="x"))


def test_a_speed_written_into_the_camera_move_reaches_the_prompt():
    assert "镜头缓慢推进" in compose("zh", camera="缓慢推进").prompt
    assert "The camera slowly pushes in." in compose("en", camera="push in slowly").prompt
