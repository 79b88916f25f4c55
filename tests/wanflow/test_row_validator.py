"""Ingestion's row validator takes a native path for plain cells; whatever a row holds, it must
give exactly what ``Item.model_validate`` gives: the same item (values, field order, fields set)
or the same errors, word for word."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wanflow.manifest import Item, Limits
from wanflow.row_validator import RowValidator

BASE = {"id": "r1", "prompt": "海怪从深海升起", "duration": "5", "seed": "42", "tags": "神话,海怪"}
TIGHT = Limits(max_prompt_chars=10, max_narration_chars=5, max_duration_s=8)

# One field's value at a time, each near an edge of the native path or past it.
VARIANTS = {
    "duration": [
        "5", "5.5", "05", "0", "0.0", "8", "8.0", "8.000001", "600", "600.5", "601", " 5 ",
        "5.", ".5", "1e2", "+5", "-5", "5秒", "5 s", "0:05", "１０", "٥", "五秒", "inf", "nan",
        "", "1_0", 5, 5.5, 0, 8, 9, -1, True, None, float("inf"), float("nan"), 10**400,
        "9" * 400,
    ],
    "seed": [
        "42", "007", "0", "-0", "+1", "-1", "1.0", "1.5", "1.2E+05", "1,234", "٣", " 7 ",
        str(2**63 - 1), str(2**63), "", 7, 7.0, 7.5, -3, True, None, 2**63, 10**400,
    ],
    "id": [
        "r1", "a" * 64, "a" * 65, " r1 ", "-r", "r 1", "r_1", "中文", "", 12, 12.0, 12.5, True,
        10**400, None,
    ],
    "prompt": ["p", "p" * 10, "p" * 11, "p" * 2000, "p" * 2001, "", "  ", 5, None],
    "narration": ["n", "n" * 5, "n" * 6, "n" * 10_000, "n" * 10_001, "", " ", 3],
    "tags": [
        "a", "a，b、c;d|e", " , ,", "", ["x", "y"], [" x ", "y "], ["x" * 65], "t," * 33, 5, None,
    ],
    "style": ["油画", "s" * 200, "s" * 201, 3],
    "language": ["中文", " English ", "zh-Hans", "klingon!", 1],
    "speech_rate": ["1.2", "120%", "1.2倍", 3, 1.0, True, 10**400],
    "require_approval": ["是", "否", "也许", True, 1, 2],
    "image": ["refs/a.png", "../a.png", "a b.png", 5],
    "images": [["a.png", "b.png"], [" a.png", "b.png "], "a.png,b.png", ["a.png"]],
    "transitions": [["x"], [" x "], "x"],
    "bogus": ["1"],
}  # fmt: skip


def as_ingested(fields):
    """Values as ingestion passes them: a string stripped of surrounding whitespace."""
    return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}


def outcome(validate, fields):
    try:
        item = validate(as_ingested(fields))
    except ValidationError as exc:
        return "error", exc.title, exc.errors(include_url=False, include_context=False), str(exc)
    return (
        "item",
        type(item),
        list(item.__dict__.items()),
        item.model_fields_set,
        item.__pydantic_extra__,
        item.__pydantic_private__,
        item.model_dump_json(),
    )


def expected(fields, limits):
    return outcome(
        lambda f: Item.model_validate(f, context={"limits": limits, "text_checked": True}),
        fields,
    )


@pytest.mark.parametrize("limits", [Limits(), TIGHT], ids=["default", "tight"])
@pytest.mark.parametrize(
    "field,value",
    [(field, value) for field, values in VARIANTS.items() for value in values],
    ids=lambda v: repr(v)[:30],
)
def test_a_row_validates_as_the_model_does(field, value, limits):
    fields = {**BASE, field: value}
    if field == "transitions":
        fields["images"] = ["a.png", "b.png"]
    validator = RowValidator(limits)
    assert outcome(validator, fields) == expected(fields, limits)
    if short_enough(fields, validator):
        assert outcome(validator.short, fields) == expected(fields, limits)


def short_enough(fields, validator):
    """Whether ``validator.short`` may take the fields: every string non-empty and short."""
    texts = [v for v in as_ingested(fields).values() if isinstance(v, str)]
    return all(0 < len(text) <= validator.short_text for text in texts)


def test_short_rows_skip_only_bounds_they_cannot_reach():
    assert RowValidator(Limits()).short_text == 200  # the title's, a style's …
    assert RowValidator(TIGHT).short_text == 5  # the operator's narration limit
    # Each length bound is reached by a longer string and kept by the full path.
    validator = RowValidator(TIGHT)
    for fields in ({**BASE, "narration": "n" * 6}, {**BASE, "prompt": "p" * 11}):
        assert not short_enough(fields, validator)
        assert outcome(validator, fields)[0] == "error"


@pytest.mark.parametrize("limits", [Limits(), TIGHT], ids=["default", "tight"])
def test_rows_with_few_or_every_field_validate_as_the_model_does(limits):
    rows = [
        {"id": "a", "prompt": "p"},
        {"prompt": "p"},
        {"id": "a"},
        {},
        {name: "x" for name in Item.model_fields if name not in ("images", "transitions")},
        {**BASE, "narration": "很久以前", "require_approval": True, "preset": "draft"},
        {"id": "a", "prompt": "海怪", "narration": "很久", "duration": "5", "tags": "x"},
        {"id": "a", "prompt": "海怪", "narration": "很久以前的海", "style": "s" * 6},
    ]
    validate = RowValidator(limits)
    for fields in rows:
        assert outcome(validate, fields) == expected(fields, limits)
        if short_enough(fields, validate):
            assert outcome(validate.short, fields) == expected(fields, limits)


def test_items_from_the_native_path_behave_as_model_items():
    item = RowValidator(Limits())(dict(BASE))
    again = item.model_copy(update={"seed": 7})
    assert (again.seed, item.seed) == (7, 42)
    assert Item.model_validate(item.model_dump()) == item
    assert item.tags == ["神话", "海怪"] and item.tags is not RowValidator(Limits())(BASE).tags
