"""Which item field each key of a manifest row names, and what a row's keys and text hold that
cannot be accepted; worked out once per distinct list of keys, since every row of a CSV shares
its header's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wanflow.headers import canonical_field, header_key
from wanflow.limits import MAX_COLUMNS, shorten, strings_problem, text_problem

PROBLEMS_SHOWN = 5  # text problems listed per row

# Keyframe columns: one cell listing every image (or prompt), or one column each, numbered
# ("image1", "图片 2", "关键帧3"). Compared after ``header_key``. "图片" alone stays the single
# reference image; "transition" alone is the cut or fade into the next shot.
_LISTS = {
    "images": ("images", "keyframes", "imagekeys", "关键帧", "关键帧图片", "多图", "图片序列"),
    "transitions": ("transitions", "transitionprompts", "过渡", "过渡描述", "过渡提示词"),
}
_NUMBERED_PREFIXES = {
    "images": ("image", "images", "keyframe", "keyframes", "图片", "关键帧", "帧"),
    "transitions": ("transitionprompt", "过渡", "过渡描述", "过渡提示词"),
}
_LIST_NAMES = {header_key(alias): name for name, aliases in _LISTS.items() for alias in aliases}
_NUMBERED = re.compile(
    "^(?P<prefix>"
    + "|".join(
        sorted(
            (re.escape(header_key(p)) for ps in _NUMBERED_PREFIXES.values() for p in ps),
            key=len,
            reverse=True,
        )
    )
    + r")(?P<number>\d{1,2})$"
)
_PREFIX_FIELD = {header_key(p): name for name, ps in _NUMBERED_PREFIXES.items() for p in ps}
NUMBERED_MARK = "#"  # "images#2": the second image, gathered into ``images`` by ``gather``


def keyframe_field(key: str) -> str | None:
    """``images``/``transitions`` for a keyframe list column, ``images#N`` for a numbered one."""
    text = header_key(key)
    if text in _LIST_NAMES:
        return _LIST_NAMES[text]
    match = _NUMBERED.match(text)
    if match is None or int(match["number"]) == 0:
        return None
    return f"{_PREFIX_FIELD[match['prefix']]}{NUMBERED_MARK}{int(match['number'])}"


def gather(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Numbered keyframe cells (``images#1``, ``images#2`` …) into one list per field, in
    number order, in place; the problems of a row whose numbers leave a gap or that also has
    the list column."""
    numbered: dict[str, dict[int, Any]] = {}
    for key in [k for k in fields if NUMBERED_MARK in k]:
        name, number = key.split(NUMBERED_MARK)
        numbered.setdefault(name, {})[int(number)] = fields.pop(key)
    problems: list[tuple[str, str]] = []
    for name, cells in numbered.items():
        singular = name.removesuffix("s")
        if name in fields:
            problems.append(
                (name, f"both a {name} column and numbered {singular} columns; keep one")
            )
            continue
        last = max(cells)
        missing = [n for n in range(1, last + 1) if n not in cells]
        if missing:
            problems.append(
                (
                    name,
                    f"{singular} {missing[0]} is empty but {singular} {last} is given; "
                    "number them without gaps",
                )
            )
            continue
        fields[name] = [cells[n] for n in range(1, last + 1)]
    return problems


@dataclass
class Columns:
    """Per-file bookkeeping of which keys map to which fields, and which are unknown. Both
    tables stop growing at ``MAX_COLUMNS`` keys, so JSON items with ever new keys cost nothing."""

    mapping: dict[str, str | None] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)  # key → first row seen
    more_unknown: bool = False  # unknown keys beyond those kept
    numbered: bool = False  # a numbered keyframe column was seen: rows need ``gather``

    def field_for(self, key: str, row: int) -> str | None:
        if key in self.mapping:
            name = self.mapping[key]
        else:
            name = canonical_field(key) or keyframe_field(key)
            self.numbered = self.numbered or (name is not None and NUMBERED_MARK in name)
            if len(self.mapping) < MAX_COLUMNS:
                self.mapping[key] = name
        if name is None and key not in self.unknown:
            if len(self.unknown) < MAX_COLUMNS:
                self.unknown[key] = row
            else:
                self.more_unknown = True
        return name

    def warning(self) -> str | None:
        """One line for all unknown columns: the first few, and how many."""
        if not self.unknown:
            return None
        if len(self.unknown) == 1:
            ((key, row),) = self.unknown.items()
            return f"unknown column {shorten(key)} ignored (first seen in row {row})"
        count = f"{len(self.unknown)}{'+' if self.more_unknown else ''}"
        shown = ", ".join(f"{shorten(k)} (row {r})" for k, r in list(self.unknown.items())[:5])
        rest = len(self.unknown) - 5
        more = f" and {rest}{'+' if self.more_unknown else ''} more" if rest > 0 else ""
        return f"{count} unknown columns ignored: {shown}{more}"


class Shapes:
    """What a row's keys alone decide (key → field, field → key, keys naming one field twice),
    worked out once per distinct list of keys: every row of a CSV has the header's. A row whose
    cells hold anything suspect goes the whole way through ``_text_problems`` as before."""

    _KEPT = 64  # JSON items with ever new keys are worked out row by row

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.known: dict[tuple, tuple[dict[str, str], dict[str, str], list[tuple[str, str]]]] = {}

    def read(
        self, data: dict[str, Any], row: int, text: str | None = None
    ) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str]]]:
        """``text``: the row's values joined, when the reader has it (every CSV row)."""
        keys = tuple(data)
        shape = self.known.get(keys)
        if shape is not None:
            if text is None:
                try:
                    text = "".join(data.values())
                except TypeError:  # a value that is not text: the whole check
                    text = None
            if text is not None and text_problem(text) is None:
                return shape
        names: dict[str, str] = {}  # key → field
        problems = _text_problems(data, self.columns, row, names)
        headers = {name: key for key, name in names.items()}  # field → key
        # Kept only from a row with nothing suspect, keys included: its problems are then those
        # of its keys alone, the same for every row of the shape.
        if shape is None and len(self.known) < self._KEPT and not _row_suspect(data):
            self.known[keys] = (names, headers, problems)
        return names, headers, problems


def _row_suspect(data: dict[str, Any]) -> bool:
    values = data.values()
    return not all(isinstance(v, str) for v in values) or bool(
        text_problem("".join(map(str, data)) + "".join(values))
    )


def _text_problems(
    data: dict[str, Any], columns: Columns, row: int, mapped: dict[str, str]
) -> list[tuple[str, str]]:
    """A row's text that cannot be published (control characters, bytes that are not UTF-8)
    and JSON keys that name one field twice; fills ``mapped`` (key → field) on the way."""
    problems: list[tuple[str, str]] = []
    by_field: dict[str, str] = {}
    # One search over the whole row first: nearly every row is clean.
    suspect = _row_suspect(data)
    for key, value in data.items():
        key = str(key)
        name = columns.field_for(key, row)
        if suspect and (problem := text_problem(key) or strings_problem(value)):
            problems.append((name or key, f"column {shorten(key)}: {problem}"))
        if name is None:
            continue
        if name in by_field:
            both = f"{shorten(by_field[name])} and {shorten(key)}"
            problems.append((name, f"keys {both} both mean {name!r}; keep one"))
        by_field[name] = key
        mapped[key] = name
    if len(problems) > PROBLEMS_SHOWN:  # a thousand bad cells make five lines, not a thousand
        rest = len(problems) - PROBLEMS_SHOWN
        problems = [*problems[:PROBLEMS_SHOWN], ("(row)", f"and {rest} more such cells")]
    return problems
