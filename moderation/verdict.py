"""A screening verdict: the blacklisted terms found in a text, with their spans.

Named tuples: immutable, and built in about half the time a frozen dataclass takes, which sets
each field through ``object.__setattr__`` (most prompts are clean, and their verdict is most of
what is left once the screener's automaton has run).
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Match", "ScreenResult", "allowed"]


class Match(NamedTuple):
    """A blacklisted term found: ``text[start:end]`` of the screened text is ``matched``."""

    term: str
    category: str
    start: int
    end: int
    matched: str
    source: str = ""  # the list file and line of the term

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "category": self.category, "start": self.start, "end": self.end}


class ScreenResult(NamedTuple):
    """The verdict on one text: allowed when no blacklisted term was found."""

    text: str
    matches: tuple[Match, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.matches

    @property
    def categories(self) -> list[str]:
        """The categories found, in order of first appearance."""
        return list(dict.fromkeys(m.category for m in self.matches))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "allowed": self.allowed,
            "matches": [m.to_dict() for m in self.matches],
        }


_new_tuple = tuple.__new__


def allowed(text: str) -> ScreenResult:
    """``ScreenResult(text)`` without the call to the named tuple's ``__new__``."""
    return _new_tuple(ScreenResult, (text, ()))
