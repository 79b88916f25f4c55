"""Text folding for screening: what a term "looks like" once the usual evasions are undone.

Every code point is folded on its own, the same way for list terms and for prompts, so the two
always agree: NFKC (full width, 𝐦𝐚𝐭𝐡 letters, ①, ㊙), Greek/Cyrillic look-alikes to Latin (rаpe with
a Cyrillic а), case folding, combining marks dropped (r̷a̷p̷e̷, é → e), traditional Chinese to
simplified (OpenCC ``t2s``, character by character), and invisible characters (zero-width, bidi
controls, variation selectors, tag characters, soft hyphen) deleted. What is left is either a
letter or digit, which is kept, or a separator (punctuation, symbol, emoji, space), which is
deleted too: the *skeleton* of ``r.a.p.e`` or ``屠😀杀`` is ``rape`` or ``屠杀``.

Deleting separators loses word boundaries, which English terms need ("rape" must not match
"grape"), so the exact path (``skeletonise``, or ``marks`` where only a few positions are asked
about) tells for each skeleton character whether a boundary preceded it: the start of the text,
a separator (and whether it held whitespace), a change between Latin/digit and any other script
("我要rape"), or a lower-case letter followed by a capital ("RapeScene"). Per-code-point folds
are cached lazily in two tables, so a text costs one ``str.translate`` on the fast path.
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress

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


class _InfoTable(dict):
    """Character → (folded, kind, script class of each folded character), filled on demand."""

    def __missing__(self, ch: str) -> tuple[str, int, tuple[int, ...]]:
        folded, kind = fold_char(ch)
        value = (folded, kind, tuple(_script(c) for c in folded))
        self[ch] = value
        return value


_INFO = _InfoTable()

# The ``str.translate`` table of ``fold``: code point → its skeleton (``None`` deletes). A list
# over every code point, because translate looks a list up fastest (a dict subclass with
# ``__missing__`` is looked up through Python, a third slower), made on the first fold (9 MB)
# and filled on demand: an entry not worked out yet holds _UNKNOWN, a noncharacter that no
# code point folds to, so a text whose fold shows it is folded again once its entries are in.
_UNKNOWN = "\U0010ffff"
_FOLDS: list[str | None] = []


# ``fold`` of ASCII text, where each character folds to one or none: a ``bytes.translate`` table
# and the bytes it deletes.
_ASCII = [fold_char(chr(code)) for code in range(128)]
_ASCII_FOLDS = bytes(ord(kept) if kind == KEEP else 0 for kept, kind in _ASCII) + bytes(128)
_ASCII_DELETED = bytes(code for code, (_, kind) in enumerate(_ASCII) if kind != KEEP)


def _fill_folds(text: str) -> None:
    if not _FOLDS:
        _FOLDS.extend([_UNKNOWN] * (sys.maxunicode + 1))
        _FOLDS[ord(_UNKNOWN)] = None
    for ch in set(text):
        if _FOLDS[ord(ch)] is _UNKNOWN:
            folded, kind = fold_char(ch)
            _FOLDS[ord(ch)] = folded if kind == KEEP else None


def fold(text: str) -> str:
    """The skeleton of ``text``: folded, with invisible characters and separators deleted."""
    if text.isascii():  # a fifth of prompts: bytes translate in C, twice as fast
        return text.encode("ascii").translate(_ASCII_FOLDS, _ASCII_DELETED).decode("ascii")
    folded = text.translate(_FOLDS)
    if _UNKNOWN in folded or not _FOLDS:
        _fill_folds(text)
        folded = text.translate(_FOLDS)
    return folded


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
        return _span(self.source, original, start, end)

    def flag(self, k: int) -> int:
        return self.flags[k]

    def latin(self, k: int) -> bool:
        return self.classes[k] == LATIN

    def spaces(self, start: int, end: int) -> list[int]:
        """The positions in (start, end) with a whitespace separator before them."""
        flags = self.flags
        return [j for j in range(start + 1, end) if flags[j] == SPACE]


def _span(source: list[int], original: str, start: int, end: int) -> tuple[int, int]:
    first, last = source[start], source[end - 1] + 1
    while last < len(original) and unicodedata.category(original[last])[0] == "M":
        last += 1
    return first, last


class Marks:
    """A text's ``Skeleton`` with its flags and classes worked out only where they are asked for.

    A screened text's candidate matches need the boundaries at a few positions, and working
    them all out costs more than the rest of its exact path; each is the separator run between
    two kept characters and those characters' kinds (see ``_kinds``), looked up when needed.
    Made by ``marks``; tests hold it to ``skeletonise_each``.
    """

    __slots__ = ("_kinds", "source", "text")

    def __init__(self, text: str, source: list[int], kinds: str) -> None:
        self.text, self.source, self._kinds = text, source, kinds

    def span(self, original: str, start: int, end: int) -> tuple[int, int]:
        return _span(self.source, original, start, end)

    def flag(self, k: int) -> int:
        source, kinds = self.source, self._kinds
        if k >= len(source):
            return EDGE  # the end of the text
        b = source[k]
        a = source[k - 1] if k else -1
        between = kinds[a + 1 : b]
        if "s" in between:
            return SPACE
        if "p" in between:
            return PUNCT
        if not k:
            return EDGE
        before, after = kinds[a], kinds[b]
        if (before in "aAd") != (after in "aAd") or (before in "ax" and after in "AX"):
            return EDGE  # a change of script, or CamelCase
        return NONE

    def latin(self, k: int) -> bool:
        return self._kinds[self.source[k]] in "aAd"

    def spaces(self, start: int, end: int) -> list[int]:
        """The positions in (start, end) with a whitespace separator before them."""
        source = self.source
        if "s" not in self._kinds[source[start] : source[end - 1]]:
            return []
        flag = self.flag
        return [j for j in range(start + 1, end) if flag(j) == SPACE]


def marks(text: str, folded: str) -> Marks | Skeleton:
    """``skeletonise(text, folded)`` for the exact path, flags and classes left for later."""
    kinds = _kinds(text)
    if "m" in kinds:
        return skeletonise_each(text)
    source = list(compress(range(len(kinds)), kinds.translate(_KEPT_MASK).encode()))
    return Marks(folded, source, kinds)


def _kind(code: int) -> str:
    """How a code point folds, as one letter (see ``_KINDS``)."""
    ch = chr(code)
    folded, kind, scripts = _INFO[ch]
    if kind != KEEP:
        return "i" if kind == INVISIBLE else "p" if kind == PUNCT else "s"
    if len(folded) != 1:
        return "m"
    case = 0 if ch.islower() else 1 if ch.isupper() else 2
    return ("a", "A", "d")[case] if scripts[0] == LATIN else ("x", "X", "c")[case]


# ``str.translate`` table: code point → one letter saying how it folds. i/p/s: invisible,
# separator, whitespace separator; m: folds to several characters; a kept character folding to
# one: its script (a/A/d Latin, x/X/c other) and case (lower, upper, neither), which is all
# ``skeletonise`` needs to place boundaries. A plain dict (looked up in C), holding ASCII from the
# start and any other code point once seen: translate leaves a code point it lacks as it is, so
# a result that is not ASCII names code points to add.
_KINDS = {code: _kind(code) for code in range(128)}
_KEPT_ONLY = str.maketrans("", "", "ips")
_KEPT_MASK = str.maketrans("ipsmaAdxXc", "\0\0\0\1\1\1\1\1\1\1")
_GAPS = str.maketrans("maAdxXc", "kkkkkkk", "i")  # kept: k; separators stay; invisibles go
_FLAG_CODES = bytes.maketrans(b"0123", bytes((NONE, EDGE, PUNCT, SPACE)))
_CLASS_CODES = str.maketrans("aAdxXc", "\x01\x01\x01\x02\x02\x02")
_CASES = str.maketrans("aAdxXc", "lunlun")
# Between kept characters with nothing but invisible characters between them, a word boundary
# at a change of script, or at a lower-case letter followed by a capital (CamelCase).
_JOINS = (
    (_CLASS_CODES, "\x01\x02"),
    (_CLASS_CODES, "\x02\x01"),
    (_CASES, "lu"),
)


def _kinds(text: str) -> str:
    kinds = text.translate(_KINDS)
    if not kinds.isascii():
        for ch in set(text):
            if ord(ch) not in _KINDS:
                _KINDS[ord(ch)] = _kind(ord(ch))
        kinds = text.translate(_KINDS)
    return kinds


def skeletonise(text: str, folded: str | None = None) -> Skeleton:
    """The skeleton of ``text`` with its index map and boundaries (the exact path); ``folded``
    is ``fold(text)`` where the caller has it already.

    Built from whole-string operations on the text's kinds (``str.translate``, ``str.replace``,
    ``itertools.compress``), where a loop over characters or even over runs of them costs more
    than the rest of screening a prompt; a text holding a character that folds to several (ß,
    ㍿) takes the character-by-character loop, ``skeletonise_each``, which defines the result.
    """
    kinds = _kinds(text)
    if "m" in kinds:
        return skeletonise_each(text)
    source = list(compress(range(len(kinds)), kinds.translate(_KEPT_MASK).encode()))
    # Each kept character "k" after the separators before it; a run of them counts as its
    # strongest (s over p), so collapse each run to one letter, then read off the flags.
    gaps = kinds.translate(_GAPS).rstrip("ps")
    for pair, single in (("ps", "s"), ("sp", "s"), ("ss", "s"), ("pp", "p")):
        while pair in gaps:
            gaps = gaps.replace(pair, single)
    marks = gaps.replace("sk", "3").replace("pk", "2").replace("k", "0")
    if marks.startswith("0"):
        marks = "1" + marks[1:]  # the start of the text
    flags = list((marks + "1").encode().translate(_FLAG_CODES))
    kept = kinds.translate(_KEPT_ONLY)
    for table, pair in _JOINS:
        marked = kept.translate(table)
        k = marked.find(pair)
        while k >= 0:
            if not flags[k + 1]:
                flags[k + 1] = EDGE
            k = marked.find(pair, k + 1)
    return Skeleton(
        fold(text) if folded is None else folded,
        source,
        flags,
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
