"""Manifest ingestion: raw rows → validated ``Item``s plus row-level rejections.

One bad row never sinks a manifest: it becomes a ``Rejection`` naming its row, id, field and
reason, and the other rows go on. Only a file that cannot be read as a manifest at all raises
``ManifestError``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from wanflow.columns import Columns, Shapes, gather
from wanflow.limits import find_suspect, shorten, strings_problem, text_problem
from wanflow.manifest import (
    Item,
    Limits,
    ManifestOptions,
    canonical_field,
    derive_id,
)
from wanflow.readers import ManifestError, RawRow, ReadInfo, iter_rows
from wanflow.row_validator import RowValidator
from wanflow.settings import Settings

__all__ = [
    "IngestSummary",
    "Ingested",
    "ManifestError",
    "Rejection",
    "ingest",
    "ingest_with_settings",
    "iter_items",
]

# A stage's extra row check (e.g. the prompt vocabulary): (field, message) pairs, empty when the
# item is fine. Passed in, so the core package needs no stage package to read a manifest.
ItemCheck = Callable[[Item], list[tuple[str, str]]]


class Rejection(BaseModel):
    """One reason a row was not accepted. A row with several problems has several entries."""

    row: int
    line: int | None = None
    id: str | None = None
    field: str
    error: str


class IngestSummary(BaseModel):
    """What ingestion found; small even for a large manifest (items are counted, not kept)."""

    source: str
    encoding: str
    format: str
    rows: int = 0
    valid: int = 0
    rejected_rows: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    options: ManifestOptions = Field(default_factory=ManifestOptions)

    def as_validation(self) -> dict[str, Any]:
        """The row errors as ``wanflow validate --json`` prints them and the API returns them:
        one shape, so a script written against one reads the other."""
        return {
            "valid": self.valid,
            "rows": self.rows,
            "rejected_rows": self.rejected_rows,
            "rejected": [r.model_dump(exclude={"line"}) for r in self.rejected],
            "warnings": self.warnings,
            "encoding": self.encoding,
            "format": self.format,
        }


@dataclass
class Ingested:
    summary: IngestSummary
    items: list[Item] = field(default_factory=list)


def _check_csv_header(columns: list[str]) -> None:
    seen: dict[str, str] = {}
    for header in columns:
        if not header:
            continue
        name = canonical_field(header)
        if name is None:
            continue
        if name in seen:
            raise ManifestError(
                f"columns {shorten(seen[name])} and {shorten(header)} both mean {name!r}; keep one",
                line=1,
            )
        seen[name] = header
    if "prompt" not in seen:
        raise ManifestError(
            "no prompt column: name one 'prompt' or '提示词' (also accepted: 提示语, 描述, "
            f"画面描述, 创意, text, idea); the header is {_listed(columns)}",
            line=1,
        )


def _listed(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(shorten(n) for n in names[:shown]) + more


def _message(error: dict) -> str:
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    if error.get("type") != "value_error" and isinstance(value, str | int | float):
        shown = repr(value) if len(str(value)) <= 60 else repr(str(value)[:57] + "…")
        message = f"{message} (got {shown})"
    return message


def _options(raw: dict[str, Any], columns: Columns) -> ManifestOptions:
    if problem := strings_problem(raw):
        raise ManifestError(f"manifest options: {problem}")
    try:
        options = ManifestOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ManifestError(f"manifest option {where!r}: {_message(first)}") from None
    mapped: dict[str, Any] = {}
    for key, value in options.defaults.items():
        name = canonical_field(key)
        if name is None or name == "id":
            raise ManifestError(f"manifest defaults: {shorten(key)} is not an item field")
        if name in mapped:
            raise ManifestError(f"manifest defaults: two keys mean {name!r}; keep one")
        mapped[name] = value
    options.defaults = mapped
    return options


_suspect = find_suspect
_NONE: tuple[tuple[str, str], ...] = ()  # no problems


def iter_items(
    path: str | os.PathLike,
    summary: IngestSummary,
    *,
    limits: Limits | None = None,
    max_bytes: int = 256 * 2**20,
    max_items: int = 200_000,
    check: ItemCheck | None = None,
) -> Iterator[Item]:
    """Stream the valid items of a manifest; rejections and warnings accumulate in ``summary``,
    and its counts are added when the stream ends (or is closed, or raises)."""
    limits = limits or Limits()
    validate = RowValidator(limits)
    validate_short, short_text = validate.short, validate.short_text
    info = ReadInfo()
    columns = Columns()
    shapes = Shapes(columns)
    first_row: dict[str, int] = {}
    rows = iter_rows(path, info, max_bytes)
    options: ManifestOptions | None = None

    def reject(raw: RawRow, item_id: str | None, name: str, error: str) -> None:
        summary.rejected.append(
            Rejection(row=raw.row, line=raw.line, id=item_id, field=name, error=error)
        )

    # Counted in locals (a pydantic attribute costs a microsecond a row) and written to
    # ``summary`` when the stream ends, is closed or raises.
    seen = valid = rejected = 0
    defaults: list[tuple[str, Any]] = []
    approval = False
    # A CSV file's (cell index, field) for the columns that name a field, from its first row
    # with nothing to report: every later row with nothing suspect maps the same way.
    plan: list[tuple[int, str]] = []
    width = 0
    plan_headers: dict[str, str] = {}  # field → column
    plain: Callable[[dict[str, Any]], Item] | None = None  # for the plan's short rows
    try:
        for raw in rows:
            if options is None:  # the reader has seen the header / top-level object by now
                summary.encoding, summary.format = info.encoding, info.format
                if info.format == "csv":
                    _check_csv_header(info.columns)
                    width = len(info.columns)
                options = _options(info.options, columns)
                summary.options = options
                defaults = [  # stripped, as every cell is: the validator expects it
                    (name, value.strip() if isinstance(value, str) else value)
                    for name, value in options.defaults.items()
                ]
                approval = options.require_approval
            seen += 1
            if seen > max_items:
                raise ManifestError(
                    f"the manifest has more than {max_items} items (WANFLOW_MAX_ITEMS); split it"
                )
            if raw.error is not None:
                rejected += 1
                reject(raw, None, "(row)", raw.error)
                continue
            cells, text = raw.cells, raw.text
            if plan and len(cells) >= width and _suspect(text) is None:
                # A plain CSV row of a header already read: its cells by position.
                fields = {name: cell for i, name in plan if (cell := cells[i].strip())}
                headers, problems = plan_headers, _NONE
                short = len(text) <= short_text  # so is every cell: no length to count
            else:
                short = False
                data = raw.values(info.columns)
                names, headers, problems = shapes.read(data, raw.row, raw.text)
                try:  # a blank cell is no value
                    fields = {
                        name: text for key, name in names.items() if (text := data[key].strip())
                    }
                except AttributeError:  # a JSON value that is not text
                    fields = _fields(data, names)
                if cells is not None and not plan and not problems and len(cells) >= width:
                    plan = [(i, names[key]) for i, key in enumerate(info.columns) if key in names]
                    plan_headers = headers
                    if not columns.numbered and not defaults:
                        plain = validate.plain_short([name for _, name in plan])
            if columns.numbered:  # image1, image2 … into one list
                problems = [*problems, *gather(fields)]
            if problems:
                rejected += 1
                for name, message in problems:
                    reject(raw, _shown_id(raw.values(info.columns), headers), name, message)
                continue
            item_id = fields.get("id")
            if item_id is None:
                item_id = fields["id"] = derive_id(fields)
            if defaults:
                for name, value in defaults:
                    fields.setdefault(name, value)
            if approval:
                fields["require_approval"] = True
            item: Item | None = None
            try:
                if short and plain is not None:
                    try:
                        item = plain(fields)
                    except ValidationError:  # not plain: the full validator has the answer
                        item = validate.full(fields)
                else:
                    item = validate_short(fields) if short and not defaults else validate(fields)
                problems = check(item) if check else _NONE
            except ValidationError as exc:
                problems = [
                    (str(e["loc"][0]) if e.get("loc") else "(row)", _message(e))
                    for e in exc.errors()
                ]
            if problems:
                rejected += 1
                for name, message in problems:
                    if name in headers and _header_differs(headers[name], name):
                        message += f" (column {headers[name]!r})"
                    reject(raw, item.id if item else str(item_id), name, message)
                continue
            item_id = item.id
            if item_id in first_row:
                rejected += 1
                reject(
                    raw,
                    item_id,
                    "id",
                    f"duplicate id {item_id!r}: row {first_row[item_id]} already uses it",
                )
                continue
            first_row[item_id] = raw.row
            valid += 1
            yield item
    finally:
        summary.rows += seen
        summary.valid += valid
        summary.rejected_rows += rejected

    if options is None:  # no rows at all
        summary.encoding, summary.format = info.encoding, info.format
        if info.format == "csv" and info.columns:
            _check_csv_header(info.columns)
        raise ManifestError("the manifest has no items")
    summary.warnings.extend(info.warnings)
    if unknown := columns.warning():
        summary.warnings.append(unknown)
    if info.blank_count:
        shown = ", ".join(map(str, info.blank_rows))
        rest = info.blank_count - len(info.blank_rows)
        more = f" and {rest} more" if rest else ""
        summary.warnings.append(f"{info.blank_count} blank row(s) skipped: {shown}{more}")
    if summary.encoding in ("gbk", "gb18030"):
        summary.warnings.append(
            f"decoded as {summary.encoding.upper()} (Excel's Chinese CSV); UTF-8 is preferred"
        )


def _fields(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A row's values by field name; a blank text cell or a null is no value."""
    fields: dict[str, Any] = {}
    for key, name in names.items():
        value = data[key]
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None:
            fields[name] = value
    return fields


def _shown_id(data: dict[str, Any], headers: dict[str, str]) -> str | None:
    value = data.get(headers.get("id", ""))
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text if text and text_problem(text) is None and len(text) <= 64 else None
    return None


def _header_differs(header: str, name: str) -> bool:
    return header.strip().lower() != name


def ingest(
    path: str | os.PathLike,
    *,
    limits: Limits | None = None,
    max_bytes: int = 256 * 2**20,
    max_items: int = 200_000,
    keep_items: bool = True,
    check: ItemCheck | None = None,
) -> Ingested:
    """Read and validate a whole manifest. ``keep_items=False`` only counts (for ``validate``)."""
    summary = IngestSummary(source=Path(path).name, encoding="?", format="?")
    items: list[Item] = []
    rows = iter_items(
        path, summary, limits=limits, max_bytes=max_bytes, max_items=max_items, check=check
    )
    if keep_items:
        items.extend(rows)
    else:
        deque(rows, maxlen=0)  # counted, not kept
    return Ingested(summary=summary, items=items)


def ingest_with_settings(
    path: str | os.PathLike,
    settings: Settings,
    *,
    keep_items: bool = True,
    check: ItemCheck | None = None,
) -> Ingested:
    """``ingest`` under the operator's limits (``WANFLOW_MAX_*``)."""
    return ingest(
        path,
        limits=Limits(
            max_prompt_chars=settings.max_prompt_chars,
            max_narration_chars=settings.max_narration_chars,
            max_duration_s=settings.max_duration_s,
        ),
        max_bytes=settings.max_manifest_mb * 2**20,
        max_items=settings.max_items,
        keep_items=keep_items,
        check=check,
    )
