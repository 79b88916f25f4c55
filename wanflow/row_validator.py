"""Validating ingested rows at the cost of a plain pydantic model, with ``Item``'s exact results.

``Item``'s Python validators read what spreadsheets write ("5秒", "0:05", "1.2E+05", an id as a
number) and word a specific message for each refusal. Run on every row of a 100,000-row manifest
they were a third of validation, yet nearly every cell is the plain case: "5", "42", an id that
matches its pattern. So a row goes first through a copy of ``Item``'s core schema in which the
plain cases are checked natively (a regular expression, then pydantic's own number conversion)
and the operator's limits are plain bounds; anything else in that copy (a unit, a clock time,
a float seed, an id too long) is refused there, and only then does the row go through the full
validator. Where the copy accepts, the full validator gives the same item; where it refuses, the
full validator's answer and message are the ones given. Tests compare the two over edge cases.

The copy also leaves out the model's whitespace stripping, which copies every string:
ingestion has stripped every value already (a blank cell is no value).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Collection
from typing import Any

from pydantic import ValidationError
from pydantic_core import SchemaValidator, core_schema

from wanflow.manifest import (
    MAX_DURATION_S,
    MAX_NARRATION,
    MAX_PROMPT,
    Item,
    Limits,
    _parse_duration,
    _parse_seed,
)

__all__ = ["RowValidator", "validate_checked"]

# The plain cases, which the Python parsers turn into float(text) and int(text) too.
_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
_WHOLE = r"^[0-9]+$"
# Fields whose checks need the full validator: the model-level check that transitions come with
# images, and the keyframe check that reads the other fields.
_FULL_ONLY = frozenset({"transitions", "images"})


def _without(schema: Any, functions: tuple) -> Any:
    """A copy of a core schema with every ``function-before`` step calling one of ``functions``
    left out."""
    if isinstance(schema, dict):
        if schema.get("type") == "function-before" and any(
            schema["function"]["function"] == f for f in functions
        ):
            return _without(schema["schema"], functions)
        return {key: _without(value, functions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_without(value, functions) for value in schema]
    return schema


def _config() -> Any:
    return Item.__pydantic_core_schema__["schema"].get("config")


@functools.cache
def _full() -> SchemaValidator:
    """``Item``'s validator less ``_publishable``: ingestion checks every cell's text before."""
    schema = _without(Item.__pydantic_core_schema__, (Item._publishable,))
    return SchemaValidator(schema, _config())


def _plain_or_strict(parsed: dict, pattern: str) -> dict:
    """In place of a Python parser: text matching ``pattern``, converted natively, or a number
    as it is (a JSON manifest's); both what the parser gives for them."""
    strict = copy.deepcopy(parsed)
    strict["schema"]["strict"] = True  # nullable → float/int
    return core_schema.union_schema(
        [core_schema.chain_schema([core_schema.str_schema(pattern=pattern), parsed]), strict],
        mode="left_to_right",
    )


def _fast_schema(max_prompt: int, max_narration: int, max_duration: float) -> Any:
    model = Item.__pydantic_core_schema__
    assert model["type"] == "function-after"  # _operator_limits: replaced by the bounds below
    schema = _without(model["schema"], (Item._publishable, Item._id_message))
    assert schema["type"] == "model" and schema["schema"]["type"] == "model-fields"
    fields = schema["schema"]["fields"]

    def parsed(name: str, parser: Any) -> dict:
        step = fields[name]["schema"]["schema"]  # default → function-before(parser)
        assert step["type"] == "function-before" and step["function"]["function"] is parser
        return step

    for name, parser, pattern in (
        ("duration", _parse_duration, _DECIMAL),
        ("seed", _parse_seed, _WHOLE),
    ):
        step = parsed(name, parser)
        fields[name]["schema"]["schema"] = _plain_or_strict(step["schema"], pattern)
    fields["prompt"]["schema"]["max_length"] = max_prompt
    fields["narration"]["schema"]["schema"]["schema"]["max_length"] = max_narration
    for choice in fields["duration"]["schema"]["schema"]["choices"]:
        number = choice["schema"] if choice["type"] == "nullable" else choice["steps"][1]["schema"]
        number["le"] = max_duration
    # Ingestion strips every value it reads (a blank cell is no value), so the model's
    # whitespace stripping, which copies every string (a quarter of a row's validation), is
    # kept only where a value can still carry whitespace: in a list, and after a parser.
    fields = {
        name: {**field, "schema": _strip_inside(field["schema"])} for name, field in fields.items()
    }
    config = {k: v for k, v in schema["config"].items() if k != "str_strip_whitespace"}
    return {**schema, "schema": {**schema["schema"], "fields": fields}, "config": config}


def _strip_inside(schema: Any, inside: bool = False) -> Any:
    """``schema`` with whitespace stripped from the strings inside a list or after a parser."""
    return _strings(
        schema, lambda text, inside: {**text, "strip_whitespace": True} if inside else text
    )


def _unbounded(schema: Any) -> Any:
    """``schema`` without the length bounds of the strings neither in a list nor after a
    parser: the values ingestion passes as they were read."""
    return _strings(
        schema,
        lambda text, inside: (
            text
            if inside
            else {k: v for k, v in text.items() if k not in ("min_length", "max_length")}
        ),
    )


def _top_lengths(schema: Any) -> list[int]:
    """The length bounds ``_unbounded`` leaves out."""
    found: list[int] = []

    def note(text: dict, inside: bool) -> dict:
        if not inside and "max_length" in text:
            found.append(text["max_length"])
        return text

    _strings(schema, note)
    return found


def _strings(schema: Any, change: Callable[[dict, bool], dict], inside: bool = False) -> Any:
    """``schema`` with ``change(str_schema, inside)`` in place of every ``str`` schema, where
    ``inside`` tells one in a list or after a parser from a value as given."""
    if isinstance(schema, list):
        return [_strings(value, change, inside) for value in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "str":
        return change(schema, inside)
    return {
        key: _strings(
            value,
            change,
            inside
            or key == "items_schema"
            or (key == "schema" and schema.get("type") == "function-before"),
        )
        for key, value in schema.items()
    }


@functools.lru_cache(maxsize=16)
def _fast(
    max_prompt: int, max_narration: int, max_duration: float, short: bool = False
) -> SchemaValidator:
    schema = _fast_schema(max_prompt, max_narration, max_duration)
    return SchemaValidator(_unbounded(schema) if short else schema)


class RowValidator:
    """``Item.model_validate(fields, context={"limits": limits, "text_checked": True})`` for a
    whole manifest: the same item or the same ``ValidationError``, for values as ingestion
    passes them: every string checked for publishable text and stripped of surrounding
    whitespace."""

    def __init__(self, limits: Limits) -> None:
        self._context = {"limits": limits, "text_checked": True}
        self._full = _full().validate_python
        bounds = (
            min(limits.max_prompt_chars, MAX_PROMPT),
            min(limits.max_narration_chars, MAX_NARRATION),
            min(limits.max_duration_s, MAX_DURATION_S),
        )
        self._fast = _fast(*bounds).validate_python
        self._fast_short = _fast(*bounds, short=True).validate_python
        # Text this long or shorter is within every length bound of a field as given.
        self.short_text = min(_top_lengths(_fast_schema(*bounds)))

    def __call__(self, fields: dict[str, Any]) -> Item:
        return self._validate(fields, self._fast)

    def short(self, fields: dict[str, Any]) -> Item:
        """``self(fields)`` for fields whose every string is non-empty and at most
        ``short_text`` characters, as a row's cells are when all of them together are: their
        lengths need no count. (Counting characters makes pydantic encode each string as UTF-8
        first, a tenth of a row's cost for Chinese text; Python knows a string's length.)"""
        return self._validate(fields, self._fast_short)

    def plain_short(self, names: Collection[str]) -> Callable[[dict[str, Any]], Item] | None:
        """For ``short``'s rows whose fields are among ``names``: the native validator itself,
        with no Python call around it (a twentieth of a row's validation). It refuses what is
        not plain with a ``ValidationError`` that only means: ask ``full``. ``None`` where such
        rows need ``full`` every time."""
        return self._fast_short if _FULL_ONLY.isdisjoint(names) else None

    def full(self, fields: dict[str, Any]) -> Item:
        """``self(fields)``, by ``Item``'s own validators alone."""
        return self._full(fields, context=self._context)

    def _validate(self, fields: dict[str, Any], fast: Callable) -> Item:
        if not _FULL_ONLY.isdisjoint(fields):
            return self.full(fields)
        try:
            return fast(fields)
        except ValidationError:
            return self.full(fields)


def validate_checked(fields: dict[str, Any], limits: Limits) -> Item:
    """One row through ``RowValidator(limits)``."""
    return RowValidator(limits)(fields)
