"""Reading JSON manifests (an array, an object with ``items``, JSON Lines) as streams of rows.

The standard parser would keep the last of two equal keys and recurse until it crashes on deep
nesting; here a repeated key rejects its item, nesting is bounded, and an array is decoded one
item at a time so positions in errors are absolute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wanflow.limits import MAX_COLUMNS, MAX_JSON_DEPTH, MAX_LINE_CHARS, depth, shorten
from wanflow.readers import ManifestError, RawRow, ReadInfo

_CHUNK = 1 << 20


def iter_json(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    """A JSON array or object manifest; JSON Lines saved as ``.json`` are read as such."""
    try:
        yield from _iter_json(path, info)
    except _RestartAsJsonl:
        yield from iter_jsonl(path, info)


class _Buffer:
    """A sliding window over a text stream that keeps absolute line numbers for errors."""

    def __init__(self, f):
        self.f = f
        self.text = ""
        self.pos = 0
        self.lines_before = 0  # newlines in text already dropped from the window
        self.eof = False
        self.chunk = _CHUNK

    def fill(self) -> bool:
        if self.eof:
            return False
        more = self.f.read(self.chunk)
        if not more:
            self.eof = True
            return False
        self.lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + more
        self.pos = 0
        self.chunk = min(self.chunk * 2, 64 * _CHUNK)
        return True

    def skip_ws(self) -> str:
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill():
                return ""

    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.lines_before + self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def decode(self, decoder: json.JSONDecoder) -> Any:
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except RecursionError:
                line, column = self.where()
                raise ManifestError(_too_deep(), line=line, column=column) from None
            except json.JSONDecodeError as exc:
                if self.fill():
                    continue
                line, column = self.where(exc.pos)
                if exc.pos >= len(self.text) or "Unterminated" in exc.msg:
                    raise ManifestError(
                        "truncated JSON: the file ends mid-value", line=line, column=column
                    ) from None
                raise ManifestError(f"invalid JSON: {exc.msg}", line=line, column=column) from None
            except ValueError as exc:  # e.g. an integer of more than 4300 digits
                line, column = self.where()
                raise ManifestError(f"invalid JSON: {exc}", line=line, column=column) from None
            if end == len(self.text) and self.fill():
                continue  # a number may continue in the next chunk
            self.pos = end
            return value


def _too_deep() -> str:
    return f"JSON nested deeper than {MAX_JSON_DEPTH} levels, the limit"


class _Object(dict):
    """A JSON object that remembers the keys it held twice (``json`` keeps the last silently)."""

    duplicates: list[str]


_DUPLICATES_KEPT = 5  # enough to name in a message; any at all rejects the object


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    duplicates: dict[str, None] = {}  # ordered, unique
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                duplicates[key] = None
                if len(duplicates) == _DUPLICATES_KEPT:
                    break
            seen.add(key)
    for key, value in obj.items():
        if len(duplicates) >= _DUPLICATES_KEPT:
            break
        if isinstance(value, _Object):
            duplicates.update((f"{key}.{inner}", None) for inner in value.duplicates)
    obj.duplicates = list(duplicates)[:_DUPLICATES_KEPT]
    return obj


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(object_pairs_hook=_object_pairs)


def _iter_json(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    decoder = _decoder()
    with info.open(path) as f:
        buf = _Buffer(f)
        first = buf.skip_ws()
        if first == "":
            raise ManifestError("the file is empty")
        if first == "{":
            yield from _json_object(buf, decoder, info)
            return
        if first != "[":
            line, column = buf.where()
            raise ManifestError(
                "a JSON manifest must be an array of items or an object with an 'items' array",
                line=line,
                column=column,
            )
        buf.pos += 1
        number = 0
        if buf.skip_ws() == "]":
            buf.pos += 1
        else:
            while True:
                number += 1
                line, _ = buf.where()
                yield _json_row(number, line, buf.decode(decoder), level=2)
                nxt = buf.skip_ws()
                if nxt == ",":
                    buf.pos += 1
                    if buf.skip_ws() == "]":
                        line, column = buf.where()
                        raise ManifestError(
                            "invalid JSON: trailing comma before ']'", line=line, column=column
                        )
                    continue
                if nxt == "]":
                    buf.pos += 1
                    break
                line, column = buf.where()
                if nxt == "":
                    raise ManifestError(
                        "truncated JSON: the array is never closed with ']'",
                        line=line,
                        column=column,
                    )
                raise ManifestError(
                    f"invalid JSON: expected ',' or ']' but found {nxt!r}", line=line, column=column
                )
        if buf.skip_ws() != "":
            line, column = buf.where()
            raise ManifestError(
                "invalid JSON: extra data after the closing ']'", line=line, column=column
            )


def _json_object(buf: _Buffer, decoder: json.JSONDecoder, info: ReadInfo) -> Iterator[RawRow]:
    document = buf.decode(decoder)
    if buf.skip_ws() != "":
        # Several objects one after another: JSON Lines saved under a .json name.
        info.warnings.append("the file holds JSON Lines (one object per line); read as such")
        info.format = "jsonl"
        raise _RestartAsJsonl
    items = document.get("items")
    if not isinstance(items, list):
        raise ManifestError("a JSON manifest object needs an 'items' array")
    options = {k: v for k, v in document.items() if k != "items"}
    if document.duplicates:
        raise ManifestError(f"the manifest object has {_duplicates(document.duplicates)}")
    if depth(options) > MAX_JSON_DEPTH:
        raise ManifestError(f"manifest options: {_too_deep()}")
    info.options = options
    for number, item in enumerate(items, start=1):
        yield _json_row(number, None, item, level=3)


def _duplicates(keys: list[str]) -> str:
    shown = ", ".join(shorten(k) for k in keys[:5])
    plural = "s" if len(keys) > 1 else ""
    return f"the key{plural} {shown} twice (JSON would keep only the last); keep one"


def _json_row(number: int, line: int | None, value: Any, level: int) -> RawRow:
    """One item, found ``level`` deep in the file (1: a JSON Lines line, 2: an array's element,
    3: an element of an object's ``items``)."""
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("dict", "object").replace("list", "array")
        return RawRow(number, line, error=f"item {number} is a JSON {kind}, not an object")
    if depth(value, MAX_JSON_DEPTH) + level - 1 > MAX_JSON_DEPTH:
        return RawRow(number, line, error=f"item {number}: {_too_deep()}")
    if len(value) > MAX_COLUMNS:
        return RawRow(
            number, line, error=f"item {number} has {len(value)} keys; the limit is {MAX_COLUMNS}"
        )
    if isinstance(value, _Object) and value.duplicates:
        return RawRow(number, line, error=f"item {number} has {_duplicates(value.duplicates)}")
    return RawRow(number, line, data=value)


class _RestartAsJsonl(Exception):
    pass


def iter_jsonl(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    decoder = _decoder()
    with info.open(path) as f:
        number = 0
        while text := f.readline(MAX_LINE_CHARS + 1):
            number += 1
            if len(text) > MAX_LINE_CHARS and not text.endswith("\n"):
                while (rest := f.readline(MAX_LINE_CHARS + 1)) and not rest.endswith("\n"):
                    pass  # skip the rest of the line without holding it
                yield RawRow(
                    number,
                    number,
                    error=f"the line is longer than {MAX_LINE_CHARS} characters, the limit",
                )
                continue
            text = text.strip()
            if not text:
                continue
            try:
                value = decoder.decode(text)
            except RecursionError:
                yield RawRow(number, number, error=_too_deep())
                continue
            except json.JSONDecodeError as exc:
                yield RawRow(number, number, error=f"invalid JSON at column {exc.colno}: {exc.msg}")
                continue
            except ValueError as exc:  # e.g. an integer of more than 4300 digits
                yield RawRow(number, number, error=f"invalid JSON: {exc}")
                continue
            row = _json_row(number, number, value, level=1)
            if row.error:
                row.error = row.error.replace("item", "line", 1)
            yield row
