"""Narration text for TTS and subtitles: sentences, language runs, line breaks.

The TTS stage speaks one sentence at a time (one WAV each, timed by its real length), so a
sentence is also the unit subtitles are timed by. :func:`language_runs` cuts a mixed sentence
("我用iPhone 15拍了3.5小时") into pieces each engine can read; numbers are written out as spoken
by :mod:`postprocess.spoken`. Subtitles show the text as written, never the spoken form.

Widths are measured in display columns (:func:`display_width`): in Chinese text a Han character
or full-width mark is one column and a Latin letter or digit half of one, so "17 columns" means
what a subtitle line of 17 characters looks like on screen.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

from wanflow.manifest import detect_language

MAX_CJK = 60  # about 13 s of Mandarin at 4.5 characters a second
MAX_LATIN = 200  # about 35 words, 13 s of English
CJK_LANGS = frozenset({"zh", "ja"})
_ALIASES = {"cmn": "zh", "zho": "zh", "chi": "zh", "yue": "zh", "eng": "en"}

_HARD_ENDS = frozenset("。！？；")  # Chinese sentence marks: always an end
_ENDS = frozenset("。！？；.!?;…")
_CLOSERS = frozenset("”’」』）)]}》〉】〕\"'")
_PAUSES = frozenset("。！？；，、：…—,;:!?")  # a line or piece may end after these
_TRIMMED = "。，、；："  # dropped from the end of a Chinese subtitle line
# Words before "." that do not end a sentence: titles before a name, and Latin abbreviations
# that are followed by more of the same sentence. "etc." and "Inc." often do end one: left out.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "col", "capt", "lt"}
    | {"sgt", "gov", "sen", "rep", "hon", "vs", "e.g", "i.e", "cf", "al", "fig", "vol", "approx"}
    | {"dept", "est", "u.s", "u.k"}
)
LATIN = r"0-9A-Za-z\u00c0-\u024f"  # letters and digits of Latin-script words
_WORD = re.compile(rf"[{LATIN}](?:[{LATIN}.'’:%/+\-]*[{LATIN}%])?")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


# --- languages and widths -------------------------------------------------------------------
def primary(lang: str) -> str:
    """The primary subtag of a language code, lower case: ``zh-CN`` → ``zh``, ``cmn`` → ``zh``.

    Raises ValueError for anything that is not a two- or three-letter code.
    """
    code = lang.strip().lower().replace("_", "-").split("-")[0] if isinstance(lang, str) else ""
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError(f"{lang!r} is not a language code (use zh, en, zh-CN, en-US, ...)")
    return _ALIASES.get(code, code)


def is_han(ch: str) -> bool:
    return detect_language(ch) == "zh"


def is_cjk(text: str, lang: str) -> bool:
    """Whether ``text`` is laid out as Chinese: the language says so and the text has Han.

    An English sentence inside a Chinese story ("OK!") is broken and measured as English.
    """
    return primary(lang) in CJK_LANGS and detect_language(text) == "zh"


def speakable(text: str) -> bool:
    """False for text of only punctuation, spaces and control characters (nothing to say)."""
    return any(unicodedata.category(ch)[0] not in "PZC" for ch in text)


def _wide(ch: str) -> bool:
    eaw = unicodedata.east_asian_width(ch)
    # Curly quotes, "…" and "—" are "ambiguous": full width in CJK fonts. Accented Latin
    # letters are ambiguous too, but narrow in any font a subtitle uses.
    return eaw in "WF" or (eaw == "A" and unicodedata.category(ch)[0] == "P")


def display_width(text: str, cjk: bool) -> float:
    """Columns ``text`` takes: in CJK layout wide characters 1 and others 0.5; in Latin layout
    wide characters 2 and others 1."""
    wide = sum(1 for ch in text if _wide(ch))
    narrow = len(text) - wide
    return wide + narrow / 2 if cjk else 2 * wide + narrow


# --- sentences ------------------------------------------------------------------------------
def split_sentences(
    text: str, lang: str, *, max_cjk: float = MAX_CJK, max_latin: float = MAX_LATIN
) -> list[str]:
    """Sentences in order, each with its end punctuation and closing quotes, stripped.

    Ends: 。！？； and …… always; . ! ? ; and ... when followed by the end, a line break, Chinese
    text, or a space and a word that is not lower case or a number ("3.5", "Dr. Li", "e.g. this",
    "wait... then" do not end one); every line break. Pieces with nothing to say are dropped. A
    sentence wider than ``max_cjk`` columns (Chinese) or ``max_latin`` characters is cut into
    the fewest pieces that fit, at commas and other pauses where it can (see :func:`break_text`).
    """
    cjk_lang = primary(lang) in CJK_LANGS
    if max_cjk < 2 or max_latin < 2:
        raise ValueError(f"max_cjk and max_latin must be at least 2, got {max_cjk}, {max_latin}")
    out: list[str] = []
    for piece in _pieces(text):
        piece = piece.strip()
        if not speakable(piece):
            continue
        cjk = cjk_lang and detect_language(piece) == "zh"
        # A cut inside a clause makes a TTS pause mid-phrase: only when no pause mark will do.
        out += break_text(piece, max_cjk if cjk else max_latin, cjk=cjk, penalty=1e9)
    return out


def join_sentences(sentences: Iterable[str]) -> str:
    """Sentences back into one text that :func:`split_sentences` cuts where it cut them: a
    space between two Latin sentences ("The cat sat. It was warm.", not "sat.It", which reads
    as one sentence and glues the subtitle), none next to Chinese ("猫坐着。天很暖。")."""
    text = ""
    for sentence in sentences:
        sentence = sentence.strip()
        if sentence:
            text = f"{text}{_gap(text, sentence)}{sentence}" if text else sentence
    return text


def share_sentences(text: str, lang: str, count: int) -> list[str | None]:
    """``text``'s sentences shared out in order over ``count`` shots, as evenly as whole
    sentences allow; a shot with none gets None."""
    sentences = split_sentences(text, lang) if text else []
    return [
        join_sentences(sentences[i * len(sentences) // count : (i + 1) * len(sentences) // count])
        or None
        for i in range(count)
    ]


def _pieces(text: str) -> list[str]:
    pieces, start, i, n = [], 0, 0, len(text)
    while i < n:
        if text[i] in "\r\n":
            pieces.append(text[start:i])
            start = i = i + 1
            continue
        if text[i] not in _ENDS:
            i += 1
            continue
        j = i
        while j < n and text[j] in _ENDS:  # "？！", "……", "..."
            j += 1
        k = j
        while k < n and text[k] in _CLOSERS:
            k += 1
        if _ends_sentence(text, i, j, k):
            pieces.append(text[start:k])
            start = k
        i = k
    pieces.append(text[start:])
    return pieces


def _ends_sentence(text: str, i: int, j: int, k: int) -> bool:
    """Whether the marks ``text[i:j]`` (closers up to ``k``) end a sentence."""
    marks = text[i:j]
    if any(ch in _HARD_ENDS for ch in marks) or k == len(text):
        return True
    after = text[k]
    if after in "\r\n" or is_han(after):
        return True
    if not after.isspace():  # "3.5", "e.g", "Wan2.2", "example.com"
        return False
    if marks == ";":
        return True
    following = text[k:].lstrip(" \t")
    if following[:1].islower() or following[:1].isdigit():
        return False
    if marks == ".":
        word = re.search(r"[A-Za-z.]*[A-Za-z]$", text[:i])
        if word and (word[0].lower() in _ABBREVIATIONS or re.fullmatch(r"[A-Z]", word[0])):
            return False
    return True


# --- line breaking --------------------------------------------------------------------------
def break_text(text: str, width: float, *, cjk: bool, penalty: float) -> list[str]:
    """``text`` cut into lines no wider than ``width`` columns (:func:`display_width`).

    Chosen in order: the fewest lines; breaks after a pause mark (，。、,;: ...), each other break
    costing ``penalty``; then lines of even width (sum of squared slack). A Latin word or number
    is never cut unless it alone is wider than a line; a closing mark never starts a line and an
    opening one never ends it. Lines are stripped; empty text gives ``[]``.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width!r}")
    atoms = [piece for atom in _atoms(text, cjk) for piece in _fit(atom, width, cjk)]
    if not atoms:
        return []
    n = len(atoms)
    mid = [display_width(a, cjk) for a in atoms]
    end = [display_width(a.rstrip(), cjk) for a in atoms]
    free = [_pause_after(a) for a in atoms]
    # best[i]: (lines, cost, start of the last line) for the first i atoms.
    best: list[tuple[int, float, int]] = [(0, 0.0, 0)]
    for i in range(1, n + 1):
        line_width, choice = end[i - 1], None
        for j in range(i - 1, -1, -1):
            if j < i - 1:
                line_width += mid[j]
                if line_width > width + 1e-9:
                    break
            lines, cost, _ = best[j]
            cost += (width - line_width) ** 2 + (0 if i == n or free[i - 1] else penalty)
            if choice is None or (lines + 1, cost) < choice[:2]:
                choice = (lines + 1, cost, j)
        best.append(choice)
    cuts, i = [], n
    while i > 0:
        cuts.append(i)
        i = best[i][2]
    bounds = [0, *reversed(cuts)]
    return [line for a, b in itertools.pairwise(bounds) if (line := "".join(atoms[a:b]).strip())]


def _atoms(text: str, cjk: bool) -> list[str]:
    """Unbreakable pieces with the spaces after them: words in Latin layout; in CJK layout Han
    characters and Latin words, punctuation joined to its neighbour."""
    if not cjk:
        return re.findall(r"\S+\s*", text.strip())
    atoms: list[str] = []
    opening, i = "", 0
    while i < len(text):
        ch = text[i]
        word = _WORD.match(text, i)
        if word:
            atoms.append(opening + word[0])
            opening, i = "", word.end()
            continue
        kind = unicodedata.category(ch)
        if ch.isspace() or (kind[0] == "P" and kind not in ("Ps", "Pi")):
            if atoms and not opening:
                atoms[-1] += ch
            elif not ch.isspace():
                opening += ch
        elif kind in ("Ps", "Pi"):
            opening += ch
        else:
            atoms.append(opening + ch)
            opening = ""
        i += 1
    if opening:
        atoms.append(opening)
    return atoms


def _fit(atom: str, width: float, cjk: bool) -> list[str]:
    """An atom wider than a line (a URL, a very long word), cut into pieces that fit."""
    if display_width(atom.rstrip(), cjk) <= width:
        return [atom]
    pieces, current = [], ""
    for ch in atom:
        if current and display_width(current + ch, cjk) > width:
            pieces.append(current)
            current = ""
        current += ch
    return [*pieces, current]


def _pause_after(atom: str) -> bool:
    core = atom.rstrip().rstrip("".join(_CLOSERS))
    return core[-1:] in _PAUSES


def trim_pauses(line: str) -> str:
    """A Chinese subtitle line without the 。，、；： at its end: the line break is the pause."""
    return line.rstrip(_TRIMMED).rstrip()


# --- language runs --------------------------------------------------------------------------
def language_runs(sentence: str, *, default: str = "en") -> list[tuple[str, str]]:
    """``sentence`` cut into ``("zh" | "en", text)`` runs, in order, for engines that read one
    language each.

    Han characters are zh; other letters are en. Digits touching a Latin letter are part of its
    word ("3D", "Wan2.2"); other digits, spaces and punctuation go with the run before them
    ("iPhone 15", "拍了3.5小时", "Hello!"), except opening quotes and brackets, which go with the
    run after. Runs are stripped; a run with nothing to say joins the one before it. A sentence
    without letters is one run in ``default``; one with nothing to say gives ``[]``. Apply
    :func:`spoken` to each run in its own language.
    """
    default = primary(default)
    if not speakable(sentence):
        return []
    kinds: list[str | None] = [
        "zh" if is_han(ch) else "en" if ch.isalpha() else None for ch in sentence
    ]
    for match in _NUMBER.finditer(sentence):
        start, end = match.span()
        if (start and kinds[start - 1] == "en") or (end < len(kinds) and kinds[end] == "en"):
            kinds[start:end] = ["en"] * (end - start)
    _settle_neutral(sentence, kinds, default)
    runs: list[tuple[str, str]] = []
    start = 0
    for i in range(1, len(sentence) + 1):
        if i == len(sentence) or kinds[i] != kinds[start]:
            runs.append((kinds[start] or default, sentence[start:i]))
            start = i
    out: list[tuple[str, str]] = []
    for lang, text in runs:
        text = text.strip()
        if not text:
            continue
        if out and (out[-1][0] == lang or not speakable(text)):
            out[-1] = (out[-1][0], _join(out[-1][1], text))
        elif out and not speakable(out[-1][1]):
            out[-1] = (lang, out[-1][1] + text)
        else:
            out.append((lang, text))
    return out


def _settle_neutral(sentence: str, kinds: list[str | None], default: str) -> None:
    """Give each span of digits, spaces and punctuation the language of a neighbour."""
    i, n = 0, len(kinds)
    while i < n:
        if kinds[i] is not None:
            i += 1
            continue
        end = i
        while end < n and kinds[end] is None:
            end += 1
        before = kinds[i - 1] if i else None
        after = kinds[end] if end < n else None
        split = end
        if before and after and before != after:
            while split > i and (
                sentence[split - 1].isspace()
                or unicodedata.category(sentence[split - 1]) in ("Ps", "Pi")
            ):
                split -= 1
        kinds[i:split] = [before or after or default] * (split - i)
        kinds[split:end] = [after] * (end - split)
        i = end


def _join(left: str, right: str) -> str:
    # Two same-language runs split only by stripped spaces: keep one space between Latin words.
    if left[-1:].isascii() and right[:1].isascii() and left[-1:].isalnum():
        return f"{left} {right}"
    return left + right


def _gap(left: str, right: str) -> str:
    """What goes between two sentences: nothing next to Chinese (the nearest letter or digit on
    either side is Han or full width), else a space."""
    for text in (left[::-1], right):
        letter = next((ch for ch in text if unicodedata.category(ch)[0] in "LN"), None)
        if letter is not None and (is_han(letter) or unicodedata.east_asian_width(letter) in "WF"):
            return ""
        if letter is None and text and unicodedata.east_asian_width(text[0]) in "WF":
            return ""
    return " "


__all__ = [
    "CJK_LANGS",
    "LATIN",
    "MAX_CJK",
    "MAX_LATIN",
    "break_text",
    "display_width",
    "is_cjk",
    "is_han",
    "join_sentences",
    "language_runs",
    "primary",
    "share_sentences",
    "speakable",
    "split_sentences",
    "trim_pauses",
]
