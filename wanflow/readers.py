"""Reading manifest files as streams of raw rows: encodings, CSV dialects, JSON, JSON Lines.

Everything here streams, so a 100,000-row file is never held as objects. A file that cannot be
read as a manifest at all raises ``ManifestError`` with the position where it is known; problems
confined to one row come back as a ``RawRow`` with an ``error`` so that the other rows go on.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wanflow import decoding
from wanflow.limits import MAX_COLUMNS, MAX_LINE_CHARS, shorten, text_problem

Format = Literal["csv", "json", "jsonl"]
_CHUNK = 1 << 20
_CSV_DELIMITERS = (",", "\t", ";", "|")
_BLANK_ROWS_KEPT = 10


class ManifestError(ValueError):
    """The file cannot be read as a manifest at all (empty, binary, undecodable, malformed)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(where + message)
        self.line = line
        self.column = column


@dataclass(slots=True)
class RawRow:
    """One record as read: ``row`` is what a person looks up (spreadsheet row, item number)."""

    row: int
    line: int | None
    data: dict[str, Any] | None = None  # a JSON item
    error: str | None = None
    cells: list[str] | None = None  # a CSV row, as many cells as the header or fewer
    text: str | None = None  # the CSV row's cells joined: one search for suspect characters

    def values(self, header: list[str]) -> dict[str, Any]:
        """The record by key: a JSON item's own, a CSV row's by ``header``."""
        if self.cells is None:
            return self.data or {}
        return dict(zip(header, self.cells, strict=False))


@dataclass
class ReadInfo:
    """What the reader learnt about the file while streaming it."""

    encoding: str = "utf-8"
    errors: str = "strict"  # "surrogateescape": UTF-8 with a few bad bytes, rejected by row
    format: Format = "csv"
    columns: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blank_rows: list[int] = field(default_factory=list)  # the first few only
    blank_count: int = 0
    longest_line: int | None = None  # a bound on the characters of any line, where known

    def open(self, path: Path, **kwargs):
        return path.open(encoding=self.encoding, errors=self.errors, **kwargs)

    def blank(self, row: int) -> None:
        self.blank_count += 1
        if len(self.blank_rows) < _BLANK_ROWS_KEPT:
            self.blank_rows.append(row)


# --- format ----------------------------------------------------------------------------------
def detect_format(path: Path, info: ReadInfo) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    with info.open(path) as f:
        first = f.readline(MAX_LINE_CHARS + 1)
        stripped = first.strip()
        if stripped.startswith("["):
            return "json"
        if stripped.startswith("{"):
            try:
                json.loads(stripped)
            except (ValueError, RecursionError):
                return "json"  # a document spread over lines (or too deep: iter_json says so)
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


def _bounded_lines(f, first_line: int = 1) -> Iterator[str]:
    """The file's lines, refusing one longer than ``MAX_LINE_CHARS`` before it is held."""
    number = first_line
    while line := f.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise ManifestError(
                f"the line is longer than {MAX_LINE_CHARS} characters, the limit for one line",
                line=number,
            )
        number += 1
        yield line


def _csv_error(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"a cell is longer than {csv.field_size_limit()} characters, the limit for one cell "
            '(an unclosed quote (") may have swallowed the rest of the file)'
        )
    return f'malformed CSV ({exc}); an unclosed quote (") may have swallowed the rest of the file'


def _check_header(header: list[str]) -> None:
    if len(header) > MAX_COLUMNS:
        raise ManifestError(
            f"the header has {len(header)} columns; the limit is {MAX_COLUMNS} "
            "(delete the unused columns)",
            line=1,
        )
    for number, name in enumerate(header, start=1):
        if problem := text_problem(name):
            raise ManifestError(f"header column {number}: {problem}", line=1)


def iter_csv(path: Path, info: ReadInfo) -> Iterator[RawRow]:
    with info.open(path, newline="") as f:
        header_line = next(_bounded_lines(f), "")
        f.seek(0)
        delimiter = _sniff_delimiter(header_line)
        # Where detection bounded every line within the limit, the file's own lines (read in C)
        # need no count.
        within = info.longest_line is not None and info.longest_line <= MAX_LINE_CHARS
        reader = csv.reader(f if within else _bounded_lines(f), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ManifestError("the file is empty") from None
        except csv.Error as exc:
            raise ManifestError(f"the header row is not valid CSV: {exc}", line=1) from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        if not any(header):
            raise ManifestError("the first row (the header) is blank", line=1)
        _check_header(header)
        info.columns = header
        width = len(header)
        record = 1
        line = 2  # where the record being read starts
        try:
            for cells in reader:
                record += 1
                text = "".join(cells)
                if not text or text.isspace():  # every cell blank
                    info.blank(record)
                elif len(cells) > width and any(c.strip() for c in cells[width:]):
                    yield RawRow(
                        record,
                        line,
                        error=f"the row has {len(cells)} cells but the header has {width} "
                        f"columns (an unquoted '{delimiter}' inside a cell?)",
                    )
                else:
                    yield RawRow(record, line, None, None, cells, text)
                line = reader.line_num + 1
        except csv.Error as exc:
            raise ManifestError(_csv_error(exc), line=line) from None


# --- entry point -----------------------------------------------------------------------------
def iter_rows(path: str | os.PathLike, info: ReadInfo, max_bytes: int) -> Iterator[RawRow]:
    """Detect encoding and format into ``info`` and stream the file's rows."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ManifestError(f"{shorten(str(path), 200)} is not a file")
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:  # a name too long, no permission to read
        raise ManifestError(f"cannot open {shorten(str(path), 200)}: {exc.strerror}") from None
    if size > max_bytes:
        raise ManifestError(
            f"the file is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB "
            "(WANFLOW_MAX_MANIFEST_MB)"
        )
    try:
        found = decoding.detect(path)
    except decoding.EncodingError as exc:
        raise ManifestError(str(exc), line=exc.line) from None
    info.encoding, info.errors = found.encoding, found.errors
    info.longest_line = found.longest_line
    if found.warning:
        info.warnings.append(found.warning)
    info.format = detect_format(path, info)
    from wanflow import json_rows  # it builds on this module's types

    if info.format == "csv":
        yield from iter_csv(path, info)
    elif info.format == "jsonl":
        yield from json_rows.iter_jsonl(path, info)
    else:
        yield from json_rows.iter_json(path, info)
