"""Every text of an item that can reach the model or be published is screened."""

from __future__ import annotations

import pytest

from generation.catalogue import build_catalogue
from moderation import Screener
from tasks.prompts import screen_item
from wanflow.manifest import Item
from wanflow.settings import Settings


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(Settings())


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener.build()


def fields(catalogue, screener, **values) -> set[str]:
    item = Item(**{"id": "x1", "prompt": "湖面上的日出", **values})
    return {block.field for block in screen_item(catalogue.expand(item), screener)}


def test_a_clean_item_and_wans_default_negative_prompt_pass(catalogue, screener):
    assert fields(catalogue, screener) == set()
    assert fields(catalogue, screener, prompt="A quiet lake at dawn", language="en") == set()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("negative_prompt", "heil hitler, gas the jews"),
        ("bgm", "gas the jews march"),
        ("title", "屠杀之夜"),
        ("narration", "他们开始屠杀。然后离开。"),
        ("tags", "风景, 屠杀"),
        ("subject", "a naked woman"),
        ("scene", "blood bath"),
        ("image", "images/rape.png"),
        ("voice", "piper:porn-voice"),
    ],
)
def test_each_text_field_is_screened(catalogue, screener, name, value):
    assert name in fields(catalogue, screener, **{name: value})


def test_the_negative_prompt_reaches_the_expanded_negative_prompt_too(catalogue, screener):
    found = fields(catalogue, screener, negative_prompt="heil hitler")
    assert {"negative_prompt", "expanded_negative_prompt"} <= found


def test_every_published_text_of_the_item_is_among_the_texts(catalogue):
    """metadata.json carries the whole item: each text it holds must have been screened."""
    item = Item(
        id="x1",
        prompt="湖面上的日出",
        title="日出",
        narration="太阳升起。湖面发光。",
        negative_prompt="模糊",
        bgm="calm-piano",
        voice="espeak:en-gb",
        image="images/lake.png",
        tags=["风景", "湖"],
        scene="湖边",
    )
    texts = catalogue.expand(item).texts()
    screened = {text for _, text in texts}
    published = item.model_dump(mode="json", exclude_none=True)
    for name, value in published.items():
        if isinstance(value, str):
            assert value in screened, name
        elif isinstance(value, list):
            assert all(any(v in text for text in screened) for v in value), name
