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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from moderation.normalise import fold

# Embeddings and overrides (closed by PDF), isolates (closed by PDI).
_LRE, _RLE, _PDF, _LRO, _RLO = "\u202a\u202b\u202c\u202d\u202e"
_LRI, _RLI, _FSI, _PDI = "\u2066\u2067\u2068\u2069"
_OPENERS = frozenset((_LRE, _RLE, _LRO, _RLO, _LRI, _RLI, _FSI))

_LEET_I = bytes.maketrans(b"4@30$57+81!|", b"aaeossttbiii")
_LEET_L = bytes.maketrans(b"4@30$57+81!|", b"aaeossttblll")  # 1, ! and | as l
_LEET_CODES = frozenset(b"4@30$57+81!|")  # the characters a leet reading changes
_LEET_SYMBOLS = b"@$!|+"  # those of them that fold to nothing
# A text without one of these has no leetspeak: found faster than by ``_HINT_CLASSES``.
LEET_CHARACTER = re.compile(r"[0-9@$!|+]")
_leet_search = LEET_CHARACTER.search
_HITS_KEPT = 4096  # leet words in context whose readings' pieces of keys are kept
_PIECE = 6  # characters in the pieces of keys that leet words are looked up by
_WINDOW = 8  # characters either side of a text's first leet character that may settle it
_STRETCHED = re.compile(r"([A-Za-z])\1\1+", re.IGNORECASE)
# The UTF-8 bytes of a text with Latin letters as "a", digits and leet symbols as "1" and the
# rest (every byte of a non-ASCII character too) as " ": a run of "a" and "1" is a word that may
# hold leetspeak, and it does when it holds both ("a1" or "1a"), which substring searches find
# faster than any regular expression. The words are ASCII, so their bytes are their characters.
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LEET_BYTES = b"0123456789@$!|+"
_HINT_CLASSES = bytes(
    ord("a") if b in _LETTERS else ord("1") if b in _LEET_BYTES else ord(" ") for b in range(256)
)
# The characters of such a word, as ``str``: to find one from its leet character.
_WORD_CHARACTERS = frozenset((_LETTERS + _LEET_BYTES).decode("ascii"))
_word_rest = re.compile(f"[{re.escape((_LETTERS + _LEET_BYTES).decode('ascii'))}]*").match
# A text has stretched letters only if its fold (moderation.normalise) holds one of these.
TRIPLES = tuple(chr(c) * 3 for c in range(ord("a"), ord("z") + 1))


@dataclass(slots=True)
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


def readings(text: str) -> list[View]:
    """``display_view`` and ``leet_views`` together: for most texts one cheap test, then none.

    ``stretch_views`` is left out: a text has stretched letters only where its fold holds three
    of one letter (``TRIPLES``), which the screener's automaton looks for with the terms.
    """
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is no error here
    classes = data.translate(_HINT_CLASSES).decode("ascii")  # str: searched 3 times faster
    if "a1" in classes or "1a" in classes:
        views = _leet_views(data, classes)
    elif _RLO in text:
        views = []
    else:
        return []
    if (shown := display_view(text)) is not None:
        views.insert(0, shown)
    return views


@dataclass(frozen=True, slots=True)
class LeetKeys:
    """What ``leet_adds`` needs to know of an automaton's keys (see ``leet_keys``), and what it
    found for the leet words it has seen, a cache that changes no verdict."""

    grams: frozenset[str]  # keys of up to _PIECE characters, the pieces of that many of others
    longest: int  # characters in the longest key
    hits: dict[tuple[str, str, str], tuple[str, ...]] = field(default_factory=dict)  # _hits
    clean: dict[tuple[str, bool, bool], None] = field(default_factory=dict)  # leet_adds


def leet_keys(keys: Iterable[str]) -> LeetKeys:
    grams: set[str] = set()
    longest = 0
    for key in keys:
        longest = max(longest, len(key))
        if len(key) <= _PIECE:
            grams.add(key)
        else:
            grams.update(key[k : k + _PIECE] for k in range(len(key) - _PIECE + 1))
    return LeetKeys(frozenset(grams), longest)


def leet_adds(text: str, folded: str, automaton: Any, keys: LeetKeys, first: int = 0) -> bool:
    """Whether a leet reading of ``text`` holds a key of ``automaton`` (``keys`` describes them)
    through a letter the reading changed, for a text without a bidi override and with ``folded``
    its fold: if not, the reading finds no key the fold does not, and for a text whose fold holds
    none the text is clean without its readings being built, folded and scanned whole.

    Folding is per character, so a reading folds to the text's fold with each leet digit
    replaced by a letter and a letter put in for each leet symbol; a key found only in the
    reading covers one of those letters. So it holds a piece of ``keys.grams`` through that
    letter (which rules out most texts: "4K画质" reads "ak画质", and no key has "ak画" or "ak"),
    and it lies within ``keys.longest - 1`` folded characters of it, which is all that is
    scanned. Folded characters, not the text's: separators and invisibles fold to nothing.
    ``first``: where the caller found the text's first digit or leet symbol, if it did.

    A "no" settled by those pieces alone depends only on the text around its leet characters,
    and prompts repeat the same few ("，电影感，4K画质"): it is kept for the ``_WINDOW``
    characters either side of the first (see ``_settled_within``), and a text with the same
    ones and no leet character after them is answered from that.
    """
    low = first - _WINDOW if first > _WINDOW else 0
    high = first + _WINDOW
    window = (text[low:high], not low, high >= len(text))
    if window in keys.clean and (window[2] or _leet_search(text, high) is None):
        return False
    place = leet_place(text, folded, first)
    if place is None:
        hits: tuple[str, ...] = ()
    elif not place:
        return True  # one word's reading may be next to another's: left to the readings
    else:
        hits = _place_hits(place, folded, keys)
        if hits:
            return _scan(place, hits, folded, automaton, keys)
    if _settled_within(text, first, low, high):
        if len(keys.clean) >= _HITS_KEPT:
            keys.clean.clear()
        keys.clean[window] = None
    return False


def _settled_within(text: str, first: int, low: int, high: int) -> bool:
    """Whether ``text[low:high]`` settles what ``leet_adds`` found for it, a leet word whose
    readings hold no piece of a key or no leet word, for any text with those characters there
    and no leet character after them (``first`` is the first). The pieces reach ``_PIECE - 1``
    folded characters either side of a character a reading changes, which must be in the
    window unless it starts or ends the text; so must any letter that would make a word of
    digits a leet word: digits next to ``high`` are a word's only if letters follow, and those
    ``_PIECE - 1`` folded characters after the last leet character keep the rest of its word,
    all letters, in the window. A word running on before ``low`` holds a letter in the window
    already, since no leet character comes before ``first``."""
    reach = _PIECE - 1
    if high < len(text):
        last = max((m.start() for m in LEET_CHARACTER.finditer(text, first, high)), default=first)
        if len(fold(text[last + 1 : high])) < reach:
            return False
    return not low or len(fold(text[low:first])) >= reach


LeetPlace = tuple[str, int, int, int]  # the word, its start in the text, its fold's start, length


def place_adds(
    place: LeetPlace | tuple[()] | None, folded: str, automaton: Any, keys: LeetKeys
) -> bool:
    """``leet_adds`` for the text's leet word as ``leet_place`` found it."""
    if place is None:
        return False
    if not place:
        return True  # one word's reading may be next to another's: left to the readings
    hits = _place_hits(place, folded, keys)
    return bool(hits) and _scan(place, hits, folded, automaton, keys)


def _place_hits(place: LeetPlace, folded: str, keys: LeetKeys) -> tuple[str, ...]:
    """The leet word's readings that hold a piece of a key through a letter they change."""
    word, _, at, own = place
    around = _PIECE - 1
    before, after = folded[max(0, at - around) : at], folded[at + own : at + own + around]
    context = (before, word, after)
    hits = keys.hits.get(context)
    if hits is None:  # the same few words in the same places, over and over: "，4K画质"
        hits = _hits(word.encode("ascii"), before, after, keys.grams)
        if len(keys.hits) >= _HITS_KEPT:
            keys.hits.clear()
        keys.hits[context] = hits
    return hits


def _scan(
    place: LeetPlace, hits: tuple[str, ...], folded: str, automaton: Any, keys: LeetKeys
) -> bool:
    """Whether a key runs through one of the readings ``hits`` of the word at ``place``."""
    _, _, at, own = place
    reach = keys.longest - 1
    past = at + own
    reached = folded[max(0, at - reach) : at]
    for read in hits:
        window = reached + read + folded[past : past + reach]
        ends = len(reached) + len(read)  # the reading's end in the window
        for last, (length, _) in automaton.iter(window):
            if last >= len(reached) and last - length < ends:
                return True  # a key through the reading: the window's others are the text's
    return False


def leet_place(text: str, folded: str, first: int = 0) -> LeetPlace | tuple[()] | None:
    """The text's one leet word, its start in ``text``, the start and length of its fold in
    ``folded``; ``None`` for no leet word, ``()`` for several. ``first``: no leet character
    comes before it."""
    place = _leet_word_from(text, first)
    if place is None:
        return None
    start, end = place
    if _leet_word_from(text, end) is not None:
        return ()
    word = text[start:end]  # ASCII letters, digits and leet symbols
    if word.isalnum():
        own = word.lower()  # its fold in ``folded``
    else:
        own = word.encode("ascii").translate(None, _LEET_SYMBOLS).lower().decode("ascii")
    at = folded.find(own)
    if at != folded.rfind(own):  # more than once: count what precedes the word
        at = len(fold(text[:start]))
    return word, start, at, len(own)


def _leet_word_from(text: str, position: int) -> tuple[int, int] | None:
    """(start, end) of the first word from ``position`` on (a run of ASCII letters, digits and
    leet symbols) that holds a letter and a digit or leet symbol: found from its leet character,
    far fewer than its letters."""
    while (found := _leet_search(text, position)) is not None:
        start = found.start()
        while start and text[start - 1] in _WORD_CHARACTERS:
            start -= 1
        end = _word_rest(text, found.start()).end()
        word = text[start:end]
        if word.lower() != word.upper():  # holds a letter
            return start, end
        position = end
    return None


def _hits(word: bytes, before: str, after: str, grams: frozenset[str]) -> tuple[str, ...]:
    """The leet readings of ``word`` (folded) that hold a piece of a key through a character they
    change, between the ``_PIECE - 1`` folded characters ``before`` and ``after`` it (or fewer):
    a key of up to ``_PIECE`` characters whole, a longer one by a piece of that many."""
    hits: list[str] = []
    readings: list[str] = []
    reach = _PIECE - 1
    for table in (_LEET_I, _LEET_L):
        read = word.translate(table).lower().decode("ascii")
        if readings and read == readings[0]:
            break  # no 1, ! or |: one reading
        readings.append(read)
        shown = "\0" * (reach - len(before)) + before + read + after + "\0" * reach
        if any(
            shown[start:end] in grams
            for k, code in enumerate(word, reach)
            if code in _LEET_CODES
            for start in range(k - reach, k + 1)
            for end in range(k + 1, start + _PIECE + 1)
        ):
            hits.append(read)
    return tuple(hits)


def _leet_words(classes: str) -> list[tuple[int, int]]:
    """(start, end) in the UTF-8 bytes of every word that holds a letter and a leet character."""
    words = []
    find, rfind = classes.find, classes.rfind
    position = 0
    while True:
        letter_first, leet_first = find("a1", position), find("1a", position)
        hint = letter_first if leet_first < 0 or 0 <= letter_first < leet_first else leet_first
        if hint < 0:
            return words
        end = find(" ", hint)
        position = len(classes) if end < 0 else end
        words.append((rfind(" ", 0, hint) + 1, position))


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
    data = text.encode("utf-8", "surrogatepass")
    return _leet_views(data, data.translate(_HINT_CLASSES).decode("ascii"))


def _leet_views(data: bytes, classes: str) -> list[View]:
    words = _leet_words(classes)
    if not words:
        return []
    first, second = bytearray(data), bytearray(data)
    for start, end in words:
        first[start:end] = data[start:end].translate(_LEET_I)
        second[start:end] = data[start:end].translate(_LEET_L)
    views = [View(first.decode("utf-8", "surrogatepass"))]
    if second != first:  # a 1, ! or | read as l, not only as i
        views.append(View(second.decode("utf-8", "surrogatepass")))
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
