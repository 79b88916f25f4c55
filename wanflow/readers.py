"""Reading manifest files as streams of raw rows: encodings, CSV dialects, JSON, JSON Lines.

Everything here streams, so a 100,000-row file is never held as objects. A file that cannot be
read as a manifest at all raises ``ManifestError`` with the position where it is known; problems
confined to one row come back as a ``RawRow`` with an ``error`` so that the other rows go on.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Format = Literal["csv", "json", "jsonl"]
_CHUNK = 1 << 20
_CSV_DELIMITERS = (",", "\t", ";", "|")
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?): save it as 'CSV UTF-8' instead",
    b"\xd0\xcf\x11\xe0": "an Excel 97-2003 .xls workbook: save it as 'CSV UTF-8' instead",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


class ManifestError(ValueError):
    """The file cannot be read as a manifest at all (empty, binary, undecodable, malformed)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(where + message)
        self.line = line
        self.column = column


@dataclass
class RawRow:
    """One record as read: ``row`` is what a person looks up (spreadsheet row, item number)."""

    row: int
    line: int | None
    data: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class ReadInfo:
    """What the reader learnt about the file while streaming it."""

    encoding: str = "utf-8"
    format: Format = "csv"
    columns: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blank_rows: list[int] = field(default_factory=list)


# --- encoding --------------------------------------------------------------------------------
def _validate_encoding(path: Path, encoding: str) -> tuple[int, int] | None:
    """``None`` if the whole file decodes; else (byte offset, line) of the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    lines = 1
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + max(exc.start, 0)
                return bad, lines + chunk[: max(exc.start, 0)].count(b"\n")
            offset += len(chunk)
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, lines
    return None


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GBK/GB18030 as Excel writes Chinese."""
    with path.open("rb") as f:
        head = f.read(8192)
    if not head:
        raise ManifestError("the file is empty")
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    else:
        for magic, what in _SIGNATURES.items():
            if head.startswith(magic):
                raise ManifestError(f"the file is {what}, not a CSV/JSON manifest")
        if b"\x00" in head:
            offset = head.index(b"\x00")
            raise ManifestError(
                f"the file is binary (NUL byte at offset {offset}), not a CSV/JSON manifest"
            )
        encoding = "utf-8"
    bad = _validate_encoding(path, encoding)
    if bad is None:
        return encoding
    if encoding == "utf-8":
        for fallback in ("gbk", "gb18030"):
            if _validate_encoding(path, fallback) is None:
                return fallback
    offset, line = bad
    raise ManifestError(
        f"the file is neither UTF-8 nor GBK/GB18030 (first undecodable byte at offset {offset}); "
        "save it as 'CSV UTF-8'",
        line=line,
    )


# --- format ----------------------------------------------------------------------------------
def detect_format(path: Path, encoding: str) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    with path.open(encoding=encoding) as f:
        first = f.readline()
        stripped = first.strip()
        if stripped.startswith("["):
            return "json"
        if stripped.startswith("{"):
            try:
                json.loads(stripped)
            except json.JSONDecodeError:
                return "json"
            return "jsonl"
    return "csv"


# --- CSV -------------------------------------------------------------------------------------
def _sniff_delimiter(header_line: str) -> str:
    counts = {d: 0 for d in _CSV_DELIMITERS}
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def iter_csv(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    with path.open(encoding=info.encoding, newline="") as f:
        header_line = f.readline()
        f.seek(0)
        delimiter = _sniff_delimiter(header_line)
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ManifestError("the file is empty") from None
        except csv.Error as exc:
            raise ManifestError(f"the header row is not valid CSV: {exc}", line=1) from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        if not any(header):
            raise ManifestError("the first row (the header) is blank", line=1)
        info.columns = header
        width = len(header)
        record = 1
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ManifestError(
                    f'malformed CSV ({exc}); an unclosed quote (") may have swallowed the rest '
                    "of the file",
                    line=line,
                ) from None
            record += 1
            if not any(c.strip() for c in cells):
                info.blank_rows.append(record)
                continue
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                yield RawRow(
                    record,
                    line,
                    error=f"the row has {len(cells)} cells but the header has {width} columns "
                    f"(an unquoted '{delimiter}' inside a cell?)",
                )
                continue
            yield RawRow(record, line, data=dict(zip(header, cells, strict=False)))


# --- JSON ------------------------------------------------------------------------------------
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
            except json.JSONDecodeError as exc:
                if self.fill():
                    continue
                line, column = self.where(exc.pos)
                if exc.pos >= len(self.text) or "Unterminated" in exc.msg:
                    raise ManifestError(
                        "truncated JSON: the file ends mid-value", line=line, column=column
                    ) from None
                raise ManifestError(f"invalid JSON: {exc.msg}", line=line, column=column) from None
            if end == len(self.text) and self.fill():
                continue  # a number may continue in the next chunk
            self.pos = end
            return value


def iter_json(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    decoder = json.JSONDecoder()
    with path.open(encoding=info.encoding) as f:
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
                yield _json_row(number, line, buf.decode(decoder))
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
    info.options = {k: v for k, v in document.items() if k != "items"}
    for number, item in enumerate(items, start=1):
        yield _json_row(number, None, item)


def _json_row(number: int, line: int | None, value: Any) -> RawRow:
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("dict", "object").replace("list", "array")
        return RawRow(number, line, error=f"item {number} is a JSON {kind}, not an object")
    return RawRow(number, line, data=value)


class _RestartAsJsonl(Exception):
    pass


def iter_jsonl(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    with path.open(encoding=info.encoding) as f:
        for number, text in enumerate(f, start=1):
            text = text.strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(number, number, error=f"invalid JSON at column {exc.colno}: {exc.msg}")
                continue
            row = _json_row(number, number, value)
            if row.error:
                row.error = row.error.replace("item", "line", 1)
            yield row


# --- entry point -----------------------------------------------------------------------------
def iter_rows(path: str | os.PathLike, info: ReadInfo, max_bytes: int) -> Iterator[RawRow]:
    """Detect encoding and format into ``info`` and stream the file's rows."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path} is not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise ManifestError(
            f"the file is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB "
            "(WANFLOW_MAX_MANIFEST_MB)"
        )
    info.encoding = detect_encoding(path)
    info.format = detect_format(path, info.encoding)
    if info.format == "csv":
        yield from iter_csv(path, info)
    elif info.format == "jsonl":
        yield from iter_jsonl(path, info)
    else:
        try:
            yield from iter_json(path, info)
        except _RestartAsJsonl:
            yield from iter_jsonl(path, info)
