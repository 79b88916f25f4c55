"""The screener, with the shipped lists, against the measurement corpora in tests/data/screen/

Both bounds pull against each other: a screener that blocks more catches more evasions and more
ordinary prompts too, so each is only meaningful next to the other. The figures come from
benchmarks/screen.py, which prints the same lines an engineer needs to act on a failure.
"""

from __future__ import annotations

import runpy
from collections import Counter
from pathlib import Path

import pytest

from moderation.lists import CATEGORIES

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "tests" / "data" / "screen"
SHIPPED = ("sexual", "violence", "self_harm", "hate", "illegal")

CAUGHT_AT_LEAST = 0.95
BLOCKED_AT_MOST = 0.005  # per language
BENIGN_LINES_AT_LEAST = 1200
EVASIONS_AT_LEAST = 300


@pytest.fixture(scope="module")
def bench() -> dict:
    """benchmarks/screen.py's namespace, loaded without running its timing part."""
    return runpy.run_path(str(ROOT / "benchmarks" / "screen.py"), run_name="wanflow_bench_screen")


@pytest.fixture(scope="module")
def figures(bench) -> dict:
    return bench["corpus_figures"]()


def _listing(rows: list, limit: int = 40) -> str:
    return "\n".join(repr(row) for row in rows[:limit])


@pytest.mark.parametrize("name", ["benign-zh.txt", "benign-en.txt", "evasions.txt"])
def test_corpus_file_is_commented_and_has_no_duplicate_or_blank_line(bench, name):
    text = (CORPORA / name).read_text(encoding="utf-8")
    assert text.startswith("# "), "a header comment says what the file is and how it was made"
    assert text.endswith("\n") and "\r" not in text
    lines = bench["corpus_lines"](CORPORA / name)
    assert all(line.strip() for line in lines)
    duplicates = [line for line, n in Counter(lines).items() if n > 1]
    assert not duplicates, _listing(duplicates)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_benign_corpus_is_large_enough(bench, language):
    assert len(bench["benign"](language)) >= BENIGN_LINES_AT_LEAST


def test_evasions_are_many_and_cover_every_category(bench):
    rows = bench["evasions"]()
    assert len(rows) >= EVASIONS_AT_LEAST
    counts = Counter(category for category, _ in rows)
    assert set(counts) <= set(CATEGORIES), set(counts) - set(CATEGORIES)
    for category in SHIPPED:
        assert counts[category] >= 30, (category, counts[category])
    texts = [text for _, text in rows]
    assert len(set(texts)) == len(texts), "a text is listed under two categories"


def test_the_generator_reproduces_the_shipped_files(tmp_path):
    """The files are the script's output: edit the phrase banks, not the files."""
    namespace = runpy.run_path(str(CORPORA / "make_corpora.py"), run_name="wanflow_corpora")
    namespace["main"](tmp_path)
    for name in ("benign-zh.txt", "benign-en.txt", "evasions.txt"):
        assert (tmp_path / name).read_bytes() == (CORPORA / name).read_bytes(), name


def test_evasions_are_caught(figures):
    evasions = figures["evasions"]
    per_category = {c: f"{row['rate']:.1%}" for c, row in evasions["by_category"].items()}
    assert evasions["rate"] >= CAUGHT_AT_LEAST, (
        f"caught {evasions['caught']}/{evasions['total']} ({evasions['rate']:.1%}), "
        f"per category {per_category}; missed:\n{_listing(evasions['missed'])}"
    )


@pytest.mark.parametrize("language", ["zh", "en"])
def test_ordinary_prompts_are_not_blocked(figures, language):
    row = figures["benign"][language]
    assert row["rate"] <= BLOCKED_AT_MOST, (
        f"blocked {row['blocked']}/{row['total']} ({row['rate']:.2%}):\n{_listing(row['lines'])}"
    )
