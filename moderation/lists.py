"""Blacklists and allowlists: the shipped defaults and operator files.

List file format
----------------
UTF-8 (a byte-order mark is ignored), one entry per line::

    # a whole-line comment; blank lines are ignored
    屠杀                      # a term; the rest of a line after '#' is a comment
    blow job<TAB>sexual       # an optional TAB, then the term's category

* A term is matched the way it *looks*: case, full/half width, traditional/simplified Chinese,
  accents, Greek/Cyrillic look-alikes, punctuation, spaces and invisible characters inside it do
  not matter (``屠殺`` and ``屠 杀`` are the same term as ``屠杀``; ``self-harm`` is ``self harm``).
  A term must keep at least one letter or digit once those are removed, and a Latin term at
  least two (a single letter would match every word starting with it).
* Latin terms match whole words and their English inflections (rape → rapes/raped/raping,
  stab → stabbed/stabbing, pussy → pussies); a space in a term may be left out or be any
  separator (``blood bath`` is also bloodbath and blood-bath). Chinese terms match whole words
  of the segmented text or inside one word (强奸 in 强奸犯, not in 叫做爱丽丝 for 做爱), and in
  pinyin (性交 as xingjiao) unless a commoner word is spelled the same.
* Categories: ``violence`` (暴力), ``sexual`` (色情), ``self_harm`` (自残), ``hate`` (仇恨),
  ``illegal`` (违法) and ``custom`` (自定义); case, ``-`` and spaces in the name do not matter
  (``Self-Harm``). Any other name is an error, so a typo cannot create a category no report shows.
* A line without a category takes the file's default: for a file named ``…-<category>.txt``
  (``blacklist-violence.txt``, ``ops-暴力.txt``, ``config/blacklists/brands-hate.txt`` in the
  bucket) that category, otherwise ``custom``.
* Allowlist lines are phrases with no category. An allowlisted phrase exempts the blacklisted
  terms inside it where it is the reading of the text: its Latin ends on word boundaries, its
  Chinese ends breaking no common word. 血腥玛丽 exempts 血腥 in "一杯血腥玛丽", while in
  "血腥玛丽和血腥场面" the second 血腥 still counts, and 中性交 exempts nothing in "在家中性交"
  (在|家中|性交). Allowlisting a term exactly unblocks it.

Any line that breaks these rules raises ``ListError`` naming the file, the line and the value.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from moderation.normalise import LATIN, Skeleton, skeletonise

Kind = Literal["blacklist", "allowlist"]

CATEGORIES = ("violence", "sexual", "self_harm", "hate", "illegal", "custom")
_CATEGORY_ALIASES = {
    "暴力": "violence",
    "血腥": "violence",
    "gore": "violence",
    "色情": "sexual",
    "sex": "sexual",
    "nsfw": "sexual",
    "自残": "self_harm",
    "自伤": "self_harm",
    "自杀": "self_harm",
    "selfharm": "self_harm",
    "suicide": "self_harm",
    "仇恨": "hate",
    "歧视": "hate",
    "违法": "illegal",
    "违禁": "illegal",
    "非法": "illegal",
    "drugs": "illegal",
    "自定义": "custom",
}


class ListError(ValueError):
    """A list file that cannot be used; the message names the file, the line and the value."""


@dataclass(frozen=True, slots=True)
class Term:
    """One list entry: the term as written, its category (``None`` in an allowlist), its origin."""

    text: str
    category: str | None = "custom"
    source: str = "<code>"


def category_id(name: str) -> str | None:
    """The category a name means (``Self-Harm``, ``自残`` → ``self_harm``), or ``None``."""
    key = unicodedata.normalize("NFKC", name).strip().casefold().replace("-", "_").replace(" ", "_")
    if key in CATEGORIES:
        return key
    return _CATEGORY_ALIASES.get(key.replace("_", ""))


_VOWELS = frozenset("aeiou")


def inflections(word: str) -> set[str]:
    """English inflected forms of a lower-case word: -s/-es, -ed, -ing with the spelling rules.

    Over-generation is harmless (a form nobody writes never matches), so irregular stress is
    ignored: both "stabbed" and "stabed" are produced.
    """
    forms = set()
    last = word[-1]
    consonant_y = last == "y" and len(word) > 1 and word[-2] not in _VOWELS
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(word + "es")
    if consonant_y:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    elif not word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "s")
    if last == "e":
        forms |= {word + "d", word[:-1] + "ing"}
        if word.endswith("ie"):
            forms.add(word[:-2] + "ying")
        if word.endswith(("ee", "ye", "oe")):
            forms.add(word + "ing")
    else:
        forms |= {word + "ing"} | ({word + "ed"} if not consonant_y else set())
    if (
        len(word) >= 3
        and last not in _VOWELS
        and last not in "wxy"
        and word[-2] in _VOWELS
        and word[-3] not in _VOWELS
    ):
        forms |= {word + last + "ed", word + last + "ing"}
    return forms


@lru_cache(maxsize=65536)
def term_skeleton(text: str) -> Skeleton:
    """``skeletonise(text)`` for a list term, kept: a term is checked when read and again when a
    screener is built, and every screener of a process builds from the shipped terms. Read only."""
    return skeletonise(text)


def check_term(text: str, where: str) -> None:
    """Raise ``ListError`` when a term cannot be matched: nothing left, or one Latin letter."""
    skeleton = term_skeleton(text)
    if not skeleton.text:
        raise ListError(
            f"{where}: term {text!r} has no letters or digits once punctuation, spaces, symbols "
            "and invisible characters are removed"
        )
    if len(skeleton.text) == 1 and skeleton.classes[0] == LATIN:
        raise ListError(
            f"{where}: term {text!r} is a single Latin letter or digit and would match "
            "every word made of it; write a longer term"
        )


def parse_list(
    data: str | bytes,
    source: str,
    kind: Kind = "blacklist",
    default_category: str | None = None,
) -> list[Term]:
    """Parse a list file's content; ``source`` names it in errors and in each ``Term.source``.

    Lines without a category take ``default_category``, else the one ``source``'s file name
    gives (``ops-violence.txt``), else ``custom``.

    ``data`` may be the raw bytes read from the bucket (UTF-8, BOM allowed). Raises
    ``ListError`` on invalid UTF-8, an unknown category, a category in an allowlist, or a term
    that cannot be matched.
    """
    if kind not in ("blacklist", "allowlist"):
        raise ValueError(f"kind must be 'blacklist' or 'allowlist', not {kind!r}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ListError(
                f"{source}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                "save the list as UTF-8"
            ) from None
    default_category = default_category or file_category(source)
    default = category_id(default_category)
    if default is None:
        raise ValueError(f"default category {default_category!r} is not one of {CATEGORIES}")
    terms = []
    for number, raw in enumerate(data.removeprefix("\ufeff").split("\n"), start=1):
        line = raw.split("#", 1)[0].rstrip("\r")
        if not line.strip():
            continue
        where = f"{source}:{number}"
        text, tab, category_name = line.partition("\t")
        text, category_name = text.strip(), category_name.strip()
        if not text:
            raise ListError(f"{where}: no term before the TAB in {raw.strip()!r}")
        category: str | None = None
        if kind == "allowlist":
            if category_name:
                raise ListError(
                    f"{where}: allowlist lines have no category (found {category_name!r} "
                    f"after {text!r})"
                )
        elif tab and category_name:
            category = category_id(category_name)
            if category is None:
                raise ListError(
                    f"{where}: unknown category {category_name!r} for {text!r}; "
                    f"use one of {', '.join(CATEGORIES)}"
                )
        else:
            category = default
        check_term(text, where)
        terms.append(Term(text, category, where))
    return terms


def file_category(path: str | Path) -> str:
    """A file's default category: ``blacklist-violence.txt`` → violence; otherwise ``custom``."""
    return category_id(Path(path).stem.rsplit("-", 1)[-1]) or "custom"


def load_list(
    path: str | Path, kind: Kind = "blacklist", default_category: str | None = None
) -> list[Term]:
    """Read a list file; the default category comes from its name unless given (see above)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ListError(f"{path}: cannot read the {kind}: {exc.strerror}") from None
    return parse_list(data, str(path), kind, default_category)


@lru_cache(maxsize=1)
def default_blacklist() -> tuple[Term, ...]:
    """The shipped terms, ``moderation/data/blacklist-<category>.txt``."""
    data = resources.files("moderation") / "data"
    terms: list[Term] = []
    for item in sorted(data.iterdir(), key=lambda f: f.name):
        if item.name.startswith("blacklist-") and item.name.endswith(".txt"):
            source = f"moderation/data/{item.name}"
            terms += parse_list(item.read_bytes(), source, "blacklist")
    return tuple(terms)


@lru_cache(maxsize=1)
def default_allowlist() -> tuple[Term, ...]:
    """The shipped exempt phrases, ``moderation/data/allowlist.txt``."""
    item = resources.files("moderation") / "data" / "allowlist.txt"
    return tuple(parse_list(item.read_bytes(), "moderation/data/allowlist.txt", "allowlist"))
