"""Text folding for screening: what a term "looks like" once the usual evasions are undone.

Every code point is folded on its own, the same way for list terms and for prompts, so the two
always agree: NFKC (full width, 𝐦𝐚𝐭𝐡 letters, ①, ㊙), Greek/Cyrillic look-alikes to Latin (rаpe with
a Cyrillic а), case folding, combining marks dropped (r̷a̷p̷e̷, é → e), traditional Chinese to
simplified (OpenCC ``t2s``, character by character), and invisible characters (zero-width, bidi
controls, variation selectors, tag characters, soft hyphen) deleted. What is left is either a
letter or digit, which is kept, or a separator (punctuation, symbol, emoji, space), which is
deleted too: the *skeleton* of ``r.a.p.e`` or ``屠😀杀`` is ``rape`` or ``屠杀``.

Deleting separators loses word boundaries, which English terms need ("rape" must not match
"grape"), so the exact path (``skeletonise``) records for each skeleton character whether a
boundary preceded it: the start of the text, a separator (and whether it held whitespace), a
change between Latin/digit and any other script ("我要rape"), or a lower-case letter followed by a
capital ("RapeScene"). Per-code-point folds are cached
lazily in two tables, so a text costs one ``str.translate`` on the fast path.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Flags: what preceded a skeleton character. Ordered: a run of separators keeps the strongest.
NONE, EDGE, PUNCT, SPACE = 0, 1, 2, 3
# Kinds of original code point (INVISIBLE and the two separator kinds reuse the flag values).
INVISIBLE, KEEP = 0, 9
# Script classes of a kept character: a boundary is where the class changes.
LATIN, OTHER = 1, 2

# Default-ignorable characters outside the categories Cf/Mn/Me/Mc: Hangul fillers render blank.
_ALSO_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0")

# Look-alikes told apart by case (Greek Ν is N, ν is v), mapped before case folding.
_UPPER_LOOKALIKES = str.maketrans(
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТУХЅІЈԚԜӀҺՕՍ",
    "abezhikmnoptyxabekmhopctyxsijqwlhou",
)
# Lower-case look-alikes (and upper case that folds onto them), mapped after case folding.
_LOWER_LOOKALIKES: dict[str, str] = {
    **dict(zip("αβγεηικνορτυχωϲϳ", "abyeniknoptuxwcj", strict=True)),
    **dict(zip("авекмнорстухѕіјԛԝӏһԁьгпш", "abekmhopctyxsijqwlhdbrnw", strict=True)),
    **dict(zip("օսɑɡɩıʟøđłħŧƀɨʉð", "ouagiilodlhtbiud", strict=True)),
    # Small capitals (ᴀʙᴄ…), which have no compatibility decomposition.
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz", strict=True)),
    "æ": "ae",
    "œ": "oe",
}
# Negative circled 🅐–🅩 and negative squared 🅰–🆉 letters are emoji, not NFKC letters.
_LOWER_LOOKALIKES.update(
    {chr(base + i): chr(ord("a") + i) for base in (0x1F150, 0x1F170) for i in range(26)}
)


@lru_cache(maxsize=1)
def _t2s():  # -> opencc.OpenCC; opencc ships no type information
    import opencc

    return opencc.OpenCC("t2s")


def _simplified(ch: str) -> str:
    return _t2s().convert(ch) if ch >= "\u2e80" else ch


def _is_invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in ("Cf", "Mn", "Me", "Mc") or ch in _ALSO_INVISIBLE:
        return True
    return category == "Cc" and not ch.isspace()  # NUL, DEL and friends render as nothing


def _script(ch: str) -> int:
    if ch.isascii() or unicodedata.category(ch) == "Nd":
        return LATIN
    return LATIN if unicodedata.name(ch, "").startswith("LATIN") else OTHER


def fold_char(ch: str) -> tuple[str, int]:
    """The fold of one code point: (kept characters, kind), kind one of KEEP/INVISIBLE/PUNCT/SPACE.

    A code point may fold to several characters (ß → ss, ㍿ → 株式会社) or to none.
    """
    if _is_invisible(ch):
        return "", INVISIBLE
    text = unicodedata.normalize("NFKC", ch).translate(_UPPER_LOOKALIKES).casefold()
    kept = []
    for c in unicodedata.normalize("NFD", text):
        if unicodedata.category(c)[0] == "M" or _is_invisible(c):
            continue
        c = _LOWER_LOOKALIKES.get(c, c)
        if unicodedata.category(c[0])[0] in "LN":
            kept.append(_simplified(c))
    if kept:
        return unicodedata.normalize("NFC", "".join(kept)), KEEP
    # The braille blank looks like a space but nobody types it between words: it pads a term.
    return "", SPACE if ch.isspace() and ch != "\u2800" else PUNCT


class _FastTable(dict):
    """``str.translate`` table: code point → its skeleton (``None`` deletes), filled on demand."""

    def __missing__(self, code: int) -> str | None:
        folded, kind = fold_char(chr(code))
        value = folded if kind == KEEP else None
        self[code] = value
        return value


class _InfoTable(dict):
    """Character → (folded, kind, script class of each folded character), filled on demand."""

    def __missing__(self, ch: str) -> tuple[str, int, tuple[int, ...]]:
        folded, kind = fold_char(ch)
        value = (folded, kind, tuple(_script(c) for c in folded))
        self[ch] = value
        return value


_FAST = _FastTable()
_INFO = _InfoTable()


def fold(text: str) -> str:
    """The skeleton of ``text``: folded, with invisible characters and separators deleted."""
    return text.translate(_FAST)


@dataclass(slots=True)
class Skeleton:
    """A text's skeleton with, per skeleton character, where it came from and what preceded it.

    ``source[k]`` is the index in the original text of the character that folded to
    ``text[k]``; ``flags[k]`` is NONE/EDGE/PUNCT/SPACE (no boundary; start of text or a change of
    script; a separator run; a separator run holding whitespace), with ``flags[len(text)]`` EDGE
    for the end; ``classes[k]`` is LATIN (Latin letters and digits) or OTHER.
    """

    text: str
    source: list[int]
    flags: list[int]
    classes: list[int]

    def span(self, original: str, start: int, end: int) -> tuple[int, int]:
        """Original-text indices [start, end) of skeleton characters [start, end).

        The end takes along combining marks on the last character, so r̷a̷p̷e̷ is highlighted whole.
        """
        first, last = self.source[start], self.source[end - 1] + 1
        while last < len(original) and unicodedata.category(original[last])[0] == "M":
            last += 1
        return first, last


class _KindTable(dict):
    """``str.translate`` table: code point → one letter saying how it folds, filled on demand.

    i/p/s: invisible, separator, whitespace separator; m: folds to several characters; a kept
    character folding to one: its script (a/A/d Latin, x/X/c other) and case (lower, upper,
    neither), which is all ``skeletonise`` needs to place boundaries.
    """

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded, kind, scripts = _INFO[ch]
        if kind != KEEP:
            value = "i" if kind == INVISIBLE else "p" if kind == PUNCT else "s"
        elif len(folded) != 1:
            value = "m"
        else:
            case = 0 if ch.islower() else 1 if ch.isupper() else 2
            value = ("a", "A", "d")[case] if scripts[0] == LATIN else ("x", "X", "c")[case]
        self[code] = value
        return value


_KINDS = _KindTable()
_KEPT_RUN = re.compile("[^ips]+")
# A change of script, or a lower-case letter followed by a capital (CamelCase), between kept
# characters with nothing but invisible characters between them.
_JOIN = re.compile("(?<=[aAd])[xXc]|(?<=[xXc])[aAd]|(?<=[ax])[AX]")
_KEPT_ONLY = str.maketrans("", "", "ips")
_CLASS_CODES = str.maketrans("aAdxXc", "\x01\x01\x01\x02\x02\x02")


def skeletonise(text: str) -> Skeleton:
    """The skeleton of ``text`` with its index map and boundaries (the exact path).

    Works a run of kept characters at a time from two ``str.translate`` calls, where the
    character-by-character loop costs a microsecond a character; a text holding a character that
    folds to several (ß, ㍿) takes that loop, ``skeletonise_each``, which defines the result.
    """
    kinds = text.translate(_KINDS)
    if "m" in kinds:
        return skeletonise_each(text)
    source: list[int] = []
    flags = bytearray(len(kinds) + 1)
    end = 0
    for run in _KEPT_RUN.finditer(kinds):
        start, k = run.start(), len(source)
        gap = kinds[end:start]
        flags[k] = SPACE if "s" in gap else PUNCT if "p" in gap else NONE if k else EDGE
        end = run.end()
        source += range(start, end)
    kept = kinds.translate(_KEPT_ONLY)
    for join in _JOIN.finditer(kept):
        if not flags[join.start()]:
            flags[join.start()] = EDGE
    flags[len(kept)] = EDGE
    return Skeleton(
        fold(text),
        source,
        list(flags[: len(kept) + 1]),
        list(kept.translate(_CLASS_CODES).encode("ascii")),
    )


def skeletonise_each(text: str) -> Skeleton:
    """``skeletonise`` character by character: the general path, for any text."""
    chars: list[str] = []
    source: list[int] = []
    flags: list[int] = []
    classes: list[int] = []
    info = _INFO
    pending, previous, lower = EDGE, 0, False
    for i, ch in enumerate(text):
        folded, kind, scripts = info[ch]
        if kind == KEEP:
            if lower and ch.isupper() and not pending:
                pending = EDGE  # a CamelCase join: RapeScene is two words
            for c, script in zip(folded, scripts, strict=True):
                chars.append(c)
                source.append(i)
                flags.append(pending or (EDGE if script != previous else NONE))
                classes.append(script)
                pending, previous = NONE, script
            lower = ch.islower()
        elif kind > pending:
            pending = kind
    flags.append(EDGE)
    return Skeleton("".join(chars), source, flags, classes)
