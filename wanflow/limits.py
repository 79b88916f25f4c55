"""Fixed bounds on what a manifest or a command may ask for, checked before any work starts.

A manifest comes from outside (a spreadsheet, another team's script), so every size in it is
bounded before memory is spent on it: a header of a million columns, a JSON document nested a
hundred thousand deep, or a control character that would end up in a published subtitle is one
clear error, not a crash, a gigabyte report or a silent pass.
"""

from __future__ import annotations

import re
from typing import Any

from wanflow.decoding import ESCAPED_BYTE

MAX_JSON_DEPTH = 64  # nesting of arrays/objects in a JSON manifest (an item is at depth 2)
MAX_COLUMNS = 1000  # columns of a CSV header, keys of one JSON item
MAX_LINE_CHARS = 1 << 20  # characters in one physical CSV line
MAX_CELL_CHARS = 1 << 17  # characters in one CSV cell (Python's csv default)

# C0 controls but tab, newline and carriage return; DEL; C1 controls; lone surrogates (invalid
# Unicode: a bad byte kept by ``surrogateescape``, or a JSON "\ud800" escape).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def shorten(text: str, limit: int = 40) -> str:
    """A name as an error quotes it: at most ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# ``suspect`` without a call of its own, for a loop over many rows: a match or None.
find_suspect = _CONTROL.search


def suspect(text: str) -> bool:
    """Whether ``text_problem`` has something to say: the question for text nearly always
    clean, without building an answer."""
    return _CONTROL.search(text) is not None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be published (a control character, a byte that is not UTF-8), or
    ``None``. The position is 1-based, in characters."""
    match = _CONTROL.search(text)
    if match is None:
        return None
    ch = match.group()
    where = f"at character {match.start() + 1}"
    if ESCAPED_BYTE.fullmatch(ch):
        return f"byte 0x{ord(ch) - 0xDC00:02X} {where} is not UTF-8; save the file as 'CSV UTF-8'"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return f"unpaired surrogate U+{ord(ch):04X} {where} is not a character"
    name = _CONTROL_NAMES.get(ord(ch), "a control character")
    return f"control character U+{ord(ch):04X} ({name}) {where}; remove it"


_CONTROL_NAMES = {0: "NUL", 0x1B: "ESC", 0x7F: "DEL", 0x85: "NEL"}  # the ones people meet


def strings_problem(value: Any) -> str | None:
    """``text_problem`` of the first bad string anywhere in a JSON value (keys included)."""
    if isinstance(value, str):
        return text_problem(value)
    if not isinstance(value, dict | list):
        return None
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if problem := text_problem(current):
                return problem
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of a JSON value (a scalar is 0), counted only up to ``limit + 1``."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict | list):
            level += 1
            deepest = max(deepest, level)
            if level > limit:
                return level
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, level) for child in children)
    return deepest


# --- one clip (``wanflow generate``) -------------------------------------------------------------
# Wan2.2's largest trained size is 1280x720 (TI2V-5B: 1280x704); memory grows with pixels x frames,
# so a larger request is refused rather than attempted. Frames are bounded by the model's own
# trained clip length (81 for the A14B models, 121 for TI2V-5B), which is also where the flow
# splits a longer shot.
MAX_STEPS = 200
MAX_PIXELS = 1280 * 720
MAX_IMAGE_PIXELS = 8192 * 8192  # a reference image; it is scaled down to the clip's size
MAX_ASPECT = 4  # longer side / shorter side; the tiny stand-ins keep the aspect at 64 px high
