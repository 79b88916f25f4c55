"""The run-at-a-time ``skeletonise`` and ``fold`` (its ASCII path too) give exactly what the
character-by-character path gives."""

import random

import pytest

from benchmarks.screen import CORPORA, SEED, corpus_lines, prompts, pseudo_terms
from moderation.lists import default_allowlist, default_blacklist
from moderation.normalise import fold, skeletonise, skeletonise_each

# Characters that exercise every rule: case, scripts, look-alikes, invisibles, separators,
# combining marks, multi-character folds, traditional Chinese, full width, emoji.
_POOL = (
    "aZq09 ,.-_*·\t\n\u3000，。😀\u200b\u200d\u202e\u00adé\u0301\u0338ßæ㍿ﬁİ"
    "аАеΝνρσΣ屠殺杀强奸做爱ＲＡ𝐩①한\u3164\x00\x7fAbCdEf"
)


def _same(text: str) -> None:
    fast, slow = skeletonise(text), skeletonise_each(text)
    assert (fast.text, fast.source, fast.flags, fast.classes) == (
        slow.text,
        slow.source,
        slow.flags,
        slow.classes,
    ), repr(text)
    assert fold(text) == slow.text, repr(text)


@pytest.mark.parametrize("name", ["evasions.txt", "benign-zh.txt", "benign-en.txt"])
def test_fast_skeleton_agrees_on_the_corpora(name):
    lines = corpus_lines(CORPORA / name)
    assert lines
    for line in lines:
        _same(line)


def test_fast_skeleton_agrees_on_list_terms_and_generated_prompts():
    for term in (*default_blacklist(), *default_allowlist()):
        _same(term.text)
    rng = random.Random(SEED)
    terms = list(default_blacklist()) + pseudo_terms(rng, 200)
    for text, _ in prompts(rng, 2000, terms):
        _same(text)


def test_fast_skeleton_agrees_on_random_mixtures():
    rng = random.Random(7)
    for _ in range(3000):
        _same("".join(rng.choices(_POOL, k=rng.randint(0, 24))))


def test_ascii_folds_as_each_character_does():
    for code in range(128):
        _same(chr(code))
        _same(f"A{chr(code)}b")
    rng = random.Random(11)
    ascii_chars = [chr(code) for code in range(128)]
    for _ in range(3000):
        _same("".join(rng.choices(ascii_chars, k=rng.randint(0, 40))))
