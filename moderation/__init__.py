"""Text screening and visual review of generated clips (pure logic, no Prefect).

``moderation.screening`` screens prompt text against blacklists and allowlists, undoing the
usual evasions; ``moderation.lists`` documents the list file format.
"""

from moderation.lists import ListError, Term, load_list, parse_list
from moderation.screening import Match, Screener, ScreenResult

__all__ = ["ListError", "Match", "ScreenResult", "Screener", "Term", "load_list", "parse_list"]
