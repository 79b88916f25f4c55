"""Other ways to read a text: as it is displayed, and with leetspeak undone.

Folding (``moderation.normalise``) works character by character, which cannot see two evasions:

* **Bidi overrides** change the order characters are *shown* in: "\\u202eepar" is stored as
  "epar" and displayed as "rape". The display view puts the characters in display order.
* **Leetspeak** writes letters as digits and symbols (r4pe, s3x, $ex, k!ll). The leet view reads
  digits and those symbols as letters, but only inside a word that has a Latin letter too, so
  numbers (2026, 4:3) stay numbers; "1", "!" and "|" may stand for i or l, so there are two.
* **Stretched letters** (raaape, rrrape, kkkkkk): a run of three or more of one Latin letter is
  read as one, two and three of it, one view each, since English spells no word with three.

Each view is a text plus, for each of its characters, the index of the original character it
shows, so a match in a view is reported as a span of the original text. A view exists only when
the text has something for it to undo, and it is screened in addition to the text itself, never
instead of it: "kill!" is read as "kill!" as well as "killi".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Embeddings and overrides (closed by PDF), isolates (closed by PDI).
_LRE, _RLE, _PDF, _LRO, _RLO = "\u202a\u202b\u202c\u202d\u202e"
_LRI, _RLI, _FSI, _PDI = "\u2066\u2067\u2068\u2069"
_OPENERS = frozenset((_LRE, _RLE, _LRO, _RLO, _LRI, _RLI, _FSI))

_LEET_I = str.maketrans({"4": "a", "@": "a", "3": "e", "0": "o", "$": "s", "5": "s", "7": "t",
                         "+": "t", "8": "b", "1": "i", "!": "i", "|": "i"})  # fmt: skip
_LEET_L = str.maketrans({"1": "l", "!": "l", "|": "l"})
_LEET_CHARS = "0-9@$!|+"
# A run of letters, digits and leet symbols holding a letter and a leet character.
_WORD = re.compile(rf"[A-Za-z{_LEET_CHARS}]+")
_LEET_HINT = re.compile(rf"[A-Za-z][{_LEET_CHARS}]|[{_LEET_CHARS}][A-Za-z]")
_AMBIGUOUS = re.compile("[1!|]")
_STRETCHED = re.compile(r"([A-Za-z])\1\1+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class View:
    """A reading of a text: ``text[k]`` shows original characters ``index[k]`` to ``ends[k]``."""

    text: str
    index: tuple[int, ...] | None = None  # None: the same positions as the original
    ends: tuple[int, ...] | None = None  # None: each shows one character, index[k] + 1

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original indices [start, end) of view characters [first, last)."""
        if self.index is None:
            return first, last
        shown = self.index[first:last]
        if self.ends is None:
            return min(shown), max(shown) + 1
        return min(shown), max(self.ends[first:last])


def _display(text: str, start: int, closer: str | None, reverse: bool) -> tuple[list[int], int]:
    """Display order of ``text[start:]`` up to ``closer`` (or a line end): indices, next position.

    Under a right-to-left override the units are reversed; an embedded or isolated group is one
    unit, shown in its own order (reversed only under its own override).
    """
    units: list[list[int]] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == closer or ch in "\n\r\u2029" or (closer == _PDF and ch == _PDI):
            break
        if ch in _OPENERS:
            inner_closer = _PDI if ch in (_LRI, _RLI, _FSI) else _PDF
            inner, i = _display(text, i + 1, inner_closer, ch == _RLO)
            units.append(inner)
            if i < len(text) and text[i] == inner_closer:
                i += 1
            continue
        units.append([i])
        i += 1
    if reverse:
        units.reverse()
    return [k for unit in units for k in unit], i


def display_view(text: str) -> View | None:
    """The text in display order, or ``None`` when no bidi control can change that order."""
    if _RLO not in text:  # only an override reverses Latin and Chinese letters
        return None
    order: list[int] = []
    i = 0
    while i < len(text):
        shown, i = _display(text, i, None, False)
        order += shown
        if i < len(text):  # a line end, or a stray closer
            order.append(i)
            i += 1
    if order == list(range(len(text))):
        return None
    return View("".join(text[k] for k in order), tuple(order))


def leet_views(text: str) -> list[View]:
    """The text with leetspeak read as letters (one view per reading of 1, ! and |), or none."""
    if not _LEET_HINT.search(text):
        return []
    views = []
    for table in (_LEET_I, {**_LEET_I, **_LEET_L}):

        def undo(word: re.Match[str], table: dict[int, str] = table) -> str:
            found = word.group()
            if not any(c.isalpha() for c in found) or found.isalpha():
                return found
            return found.translate(table)

        views.append(View(_WORD.sub(undo, text)))
        if not _AMBIGUOUS.search(text):
            break
    return views


def stretch_views(text: str) -> list[View]:
    """The text with each run of three or more of one Latin letter cut to 1, 2 and 3, or none."""
    runs = list(_STRETCHED.finditer(text))
    if not runs:
        return []
    views = []
    for keep in (1, 2, 3):
        chars: list[str] = []
        index: list[int] = []
        ends: list[int] = []
        position = 0
        for run in runs:
            chars += text[position : run.start() + keep]
            index += range(position, run.start() + keep)
            ends += range(position + 1, run.start() + keep + 1)
            ends[-1] = run.end()  # the run's last kept letter stands for the rest of it
            position = run.end()
        chars += text[position:]
        index += range(position, len(text))
        ends += range(position + 1, len(text) + 1)
        views.append(View("".join(chars), tuple(index), tuple(ends)))
    return views
