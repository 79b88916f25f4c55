"""``marks``: the exact path's skeleton with each boundary worked out when asked for.

Held to ``skeletonise_each``, the character-by-character definition, position by position.
"""

from __future__ import annotations

import random

from moderation.normalise import EDGE, NONE, PUNCT, SPACE, fold, marks, skeletonise_each

# Every kind of character: lower and upper case Latin, digits, other scripts with and without
# case, separators with and without whitespace, invisibles, combining marks, leading and
# trailing separators, look-alikes, full width.
_POOL = "abzAZ09 \t\n.,-_*😀\u200b\u0301\u202e\ufeffаДдΣσ屠杀ＲａéÉ\u2800\u3000"


def test_marks_are_the_skeleton_of_each_character():
    rng = random.Random(29)
    seen: set[int] = set()
    for _ in range(20000):
        text = "".join(rng.choices(_POOL, k=rng.randint(0, 16)))
        expected = skeletonise_each(text)
        got = marks(text, fold(text))
        assert got.text == expected.text and got.source == expected.source, repr(text)
        flags = [got.flag(k) for k in range(len(expected.text) + 1)]
        assert flags == expected.flags, repr(text)
        latin = [got.latin(k) for k in range(len(expected.text))]
        assert latin == [c == 1 for c in expected.classes], repr(text)
        for start in range(len(expected.text)):
            for end in range(start + 1, len(expected.text) + 1):
                spaces = [j for j in range(start + 1, end) if expected.flags[j] == SPACE]
                assert got.spaces(start, end) == spaces, (text, start, end)
        seen.update(flags)
    assert seen == {NONE, EDGE, PUNCT, SPACE}


def test_a_text_folding_a_character_to_several_takes_the_full_skeleton():
    for text in ("straße x", "㍿ ab"):
        got = marks(text, fold(text))
        assert got == skeletonise_each(text)
