"""Prompt screening: speed, and how well it tells evasions from ordinary prompts.

Speed: build time and prompts/s for a 10,000-term list on one core.

The list is the shipped terms plus generated pseudo-words (Chinese from a pool of characters,
English from syllables); the prompts are generated from a seed: mixed Chinese and English,
20-120 characters, ~3% carrying a listed term (half of those disguised: separators, zero-width
characters, full width, look-alike letters, traditional characters, inflections) and ~2% a benign
near-miss (grape, therapist, Sussex, 血腥玛丽, 大麻烦). It checks that every planted term is
found and reports how many clean prompts were flagged by chance.

Accuracy, with the shipped lists only (what every deployment screens with): the share of
``tests/data/screen/evasions.txt`` blocked (texts written to slip a listed term through, each
labelled with its category), and the share of ``tests/data/screen/benign-zh.txt`` and
``benign-en.txt`` blocked (ordinary prompts, a sixth of them near misses such as 出口交易额 or
Gore-Tex). The lines missed and blocked are printed, so the figures say what to fix.
``corpus_figures()`` returns them without the timing run;
tests/moderation/test_screen_corpora.py holds the screener to them.

Against a hand-written baseline: the same prompts through one bare Aho-Corasick automaton
(pyahocorasick) of the same terms over ``text.lower()``, what a user would write by hand, which
misses every disguised term. The two screen all the prompts in turn, ``--repeats`` times each
(see benchmarks/compare.py); the ratio of their medians is Wanflow's cost for seeing through
evasions. Automaton builds are timed apart.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/screen.py [PROMPTS] [TERMS] [--accuracy-only]
    [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import opencc

from moderation.lists import Term, default_blacklist
from moderation.normalise import fold
from moderation.screening import Screener

SEED = 20250607
CORPORA = Path(__file__).resolve().parent.parent / "tests" / "data" / "screen"
LANGUAGES = ("zh", "en")
SHOWN = 20  # lines printed of each kind of failure


def _phrases(text: str) -> list[str]:
    """Vocabulary written compactly: phrases separated by "|"."""
    return text.split("|")


_ZH_POOL = (  # characters for pseudo-terms
    "暗霸豹爆悲奔崩逼鞭镖濒搏残惨猖铲缠惩痴冲仇丑绌催摧篡歹荡盗跌叮毒堵妒遏恶伐罚犯匪愤峰"
    "讽伏浮腐溉纲割膏诡棍骇寒嚎壕狠吼猾唤荒谎毁贿祸饥歼奸煎骄绞劫竭锦惊窘揪拘剧掘颗寇枯狂"
    "溃阔牢雷棱僚掠擄抡锣蛮莽魅焖猛谜蔑魔谋挠孽虐殴趴叛抛袍劈骗瓢迫凄歧欺泣侵禽擒驱犬雀扰"
    "刃蹂煞擅伤蛇慑绳蚀嗜噬兽孰甩拴撕肆祟搜唆塌贪瘫掏淘剔惕屠拖驼挖歪顽亡妄枉巫诬侮舞袭隙"
    "嚣泄蟹凶汹朽锈眩靴勋驯殃妖吆冶噎夷疫淫隐瘾萤佣庸幽诱迂淤渊冤陨灾宰憎诈榨毡斩崭障蛰"
)
_EN_ONSETS = _phrases("b|br|d|dr|f|g|gr|k|kl|m|n|p|pr|sk|st|t|tr|v|z|sh|ch|th|w|j")
_EN_VOWELS = _phrases("a|e|i|o|u|ai|ou|ee|oo")
_EN_CODAS = _phrases("|||n|r|k|x|m|st|ld|sh|nt")

_ZH_SUBJECTS = _phrases(
    "一只橘猫|年轻的宇航员|古代侠客|海怪|小女孩|机器人|一群白鹭|老渔夫|巨龙|狐狸"
)
_ZH_ACTIONS = _phrases(
    "在雨中奔跑|缓缓升起|凝视远方|翩翩起舞|穿过森林|跃出海面|弹奏古琴|在街头漫步|点亮灯笼"
    "|迎风飞翔|追逐蝴蝶"
)
_ZH_SCENES = _phrases(
    "月光下的竹林|赛博朋克城市|金色麦田|雪山之巅|深海|古镇小巷|星空下的草原|樱花盛开的庭院"
    "|沙漠绿洲|未来太空站|黄昏的海边|热闹的夜市"
)
_ZH_STYLES = _phrases(
    "，电影感，4K画质|，水墨画风格|，油画质感，柔和光线|，宫崎骏风格|，慢镜头，逆光|，航拍视角"
    "|，赛博朋克霓虹灯光|"
)
_EN_SUBJECTS = _phrases(
    "a ginger cat|a young astronaut|an old fisherman|a sea monster|a robot|a flock of egrets"
    "|a dragon|a little girl|a knight|a whale|two dancers|a red fox"
)
_EN_ACTIONS = _phrases(
    "running in the rain|rising slowly from the sea|gazing into the distance|dancing gracefully"
    "|walking through a forest|leaping out of the water|lighting paper lanterns"
    "|flying against the wind|chasing butterflies"
)
_EN_SCENES = _phrases(
    "in a moonlit bamboo grove|in a cyberpunk city|over golden wheat fields|on a snowy mountain top"
    "|in an old town alley|under a starry sky|at a busy night market|on a beach at dusk"
)
_EN_STYLES = _phrases(
    ", cinematic, 4K|, watercolour style|, oil painting, soft light|, slow motion|"
)
_NEAR_MISSES = _phrases(
    "a bowl of grape jelly|the therapist smiles|skill and patience|the Sussex coast"
    "|heroines of the war|一杯血腥玛丽|真是个大麻烦|杀人鲸跃出海面|scrapes of paint"
    "|the assassin's creed style"
)
_HOMOGLYPHS = str.maketrans("aeopcxy", "аеорсху")  # Cyrillic


def pseudo_terms(rng: random.Random, count: int) -> list[Term]:
    terms: set[str] = set()
    while len(terms) < count:
        if rng.random() < 0.5:
            terms.add("".join(rng.choices(_ZH_POOL, k=rng.choice((2, 2, 3, 3, 4)))))
        else:
            syllables = rng.choice((2, 2, 3))
            terms.add(
                "".join(
                    rng.choice(_EN_ONSETS) + rng.choice(_EN_VOWELS) + rng.choice(_EN_CODAS)
                    for _ in range(syllables)
                )
            )
    return [Term(t, "custom", "benchmark") for t in sorted(terms)]


def disguise(rng: random.Random, term: str, t2s_inverse: opencc.OpenCC) -> str:
    """One of the evasions the screener must see through."""
    latin = term.isascii()
    tricks = ["zero-width", "separator", "fullwidth"]
    tricks += ["homoglyph", "spaced", "inflected", "upper"] if latin else ["traditional", "emoji"]
    trick = rng.choice(tricks)
    if trick == "zero-width":
        return "\u200b".join(term)
    if trick == "separator":
        return rng.choice((".", "-", "*", "·", "_")).join(term)
    if trick == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in term)
    if trick == "homoglyph":
        return term.translate(_HOMOGLYPHS)
    if trick == "spaced":
        return " ".join(term.replace(" ", ""))
    if trick == "inflected":
        if term.endswith("y") and term[-2] not in "aeiou":
            return term[:-1] + "ies"
        return term + ("es" if term.endswith(("s", "x", "z", "ch", "sh")) else "s")
    if trick == "upper":
        return term.upper()
    if trick == "traditional":
        return t2s_inverse.convert(term)
    return "😀".join(term)


def prompts(rng: random.Random, count: int, terms: list[Term]) -> list[tuple[str, bool]]:
    """(prompt, planted) pairs: planted when a listed term was put in."""
    s2t = opencc.OpenCC("s2t")
    out = []
    for _ in range(count):
        if rng.random() < 0.6:
            text = (
                rng.choice(_ZH_SUBJECTS)
                + rng.choice(_ZH_ACTIONS)
                + "，"
                + rng.choice(_ZH_SCENES)
                + rng.choice(_ZH_STYLES)
            )
            if rng.random() < 0.3:
                text += "，" + rng.choice(_ZH_SUBJECTS) + rng.choice(_ZH_ACTIONS)
            if rng.random() < 0.15:
                text += "，" + rng.choice(_EN_SUBJECTS)
        else:
            text = " ".join(
                (rng.choice(_EN_SUBJECTS), rng.choice(_EN_ACTIONS), rng.choice(_EN_SCENES))
            )
            text = text[0].upper() + text[1:] + rng.choice(_EN_STYLES)
            if rng.random() < 0.3:
                text += ", then " + rng.choice(_EN_ACTIONS)
            if rng.random() < 0.5:
                text += "，" + rng.choice(_ZH_SCENES)
        roll, planted = rng.random(), False
        if roll < 0.03:
            term = rng.choice(terms).text
            word = disguise(rng, term, s2t) if rng.random() < 0.5 else term
            text = f"{text} {word}，{rng.choice(_ZH_STYLES)}"
            planted = True
        elif roll < 0.05:
            text = f"{text}, {rng.choice(_NEAR_MISSES)}"
        out.append((text, planted))
    return out


def corpus_lines(path: Path) -> list[str]:
    """The lines of a corpus file, comments and blank lines left out.

    Split on "\\n" only: str.splitlines would also break at characters an evasion may hold.
    """
    text = path.read_text(encoding="utf-8")
    return [line for line in text.split("\n") if line and not line.startswith("#")]


def evasions(corpora: Path = CORPORA) -> list[tuple[str, str]]:
    """(category, text) per line of evasions.txt."""
    out = []
    for line in corpus_lines(corpora / "evasions.txt"):
        category, sep, text = line.partition("\t")
        if not sep or not text:
            raise ValueError(f"evasions.txt: no category<TAB>text in {line!r}")
        out.append((category, text))
    return out


def benign(language: str, corpora: Path = CORPORA) -> list[str]:
    return corpus_lines(corpora / f"benign-{language}.txt")


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def corpus_figures(screener: Screener | None = None, corpora: Path = CORPORA) -> dict[str, Any]:
    """Caught rate on the evasions and blocked rate on the benign prompts, with the lines.

    ``screener`` defaults to the shipped lists alone. An evasion counts as caught when it is
    blocked at all; one blocked under another category than its label is listed apart, as
    ``mislabelled``, but still caught.
    """
    screener = screener or Screener.build()
    by_category: dict[str, dict[str, Any]] = {}
    missed: list[tuple[str, str]] = []
    mislabelled: list[tuple[str, str, list[str]]] = []
    for category, text in evasions(corpora):
        result = screener.screen(text)
        row = by_category.setdefault(category, {"total": 0, "caught": 0})
        row["total"] += 1
        if result.allowed:
            missed.append((category, text))
            continue
        row["caught"] += 1
        if category not in result.categories:
            mislabelled.append((category, text, result.categories))
    for row in by_category.values():
        row["rate"] = _rate(row["caught"], row["total"])
    total = sum(row["total"] for row in by_category.values())
    caught = sum(row["caught"] for row in by_category.values())
    figures: dict[str, Any] = {
        "evasions": {
            "total": total,
            "caught": caught,
            "rate": _rate(caught, total),
            "by_category": dict(sorted(by_category.items())),
            "missed": missed,
            "mislabelled": mislabelled,
        },
        "benign": {},
    }
    for language in LANGUAGES:
        lines = benign(language, corpora)
        blocked = []
        for text in lines:
            result = screener.screen(text)
            if not result.allowed:
                blocked.append((text, [f"{m.term}={m.matched!r}" for m in result.matches]))
        figures["benign"][language] = {
            "total": len(lines),
            "blocked": len(blocked),
            "rate": _rate(len(blocked), len(lines)),
            "lines": blocked,
        }
    return figures


def visible(text: str) -> str:
    """The text with invisible, blank-looking and combining characters written as \\uXXXX."""
    return "".join(
        f"\\u{ord(c):04x}"
        if not c.isprintable()
        or (unicodedata.category(c) in ("Cf", "Mn", "Me", "Zs") and c != " ")
        or c == "\u2800"
        else c
        for c in text
    )


def print_corpus_figures(figures: dict[str, Any], shown: int = SHOWN) -> None:
    ev = figures["evasions"]
    print(f"evasions caught {ev['caught']}/{ev['total']} ({ev['rate']:.1%})")
    for category, row in ev["by_category"].items():
        print(f"  {category:<10} {row['caught']:>4}/{row['total']:<4} ({row['rate']:.1%})")
    for category, text in ev["missed"][:shown]:
        print(f"  missed     {category:<10} {visible(text)}")
    if len(ev["missed"]) > shown:
        print(f"  ... and {len(ev['missed']) - shown} more missed")
    for category, text, found in ev["mislabelled"][:shown]:
        print(f"  caught as {','.join(found)}, labelled {category}: {visible(text)}")
    for language, row in figures["benign"].items():
        print(f"benign-{language} blocked {row['blocked']}/{row['total']} ({row['rate']:.2%})")
        for text, found in row["lines"][:shown]:
            print(f"  blocked    {visible(text)}  <- {', '.join(found)}")
        if len(row["lines"]) > shown:
            print(f"  ... and {len(row['lines']) - shown} more blocked")


def baseline_automaton(terms: list[Term]) -> Any:
    """The hand-written baseline: one bare Aho-Corasick automaton (pyahocorasick, the library
    the screener builds on) over the lower-cased terms: no folding, no evasions undone."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for term in terms:
        automaton.add_word(term.text.lower(), (term.text, term.category))
    automaton.make_automaton()
    return automaton


def baseline_screen(automaton: Any, text: str) -> list[tuple[int, tuple[str, str | None]]]:
    """Every listed term in the lower-cased text, with where it ends."""
    return list(automaton.iter(text.lower()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", nargs="?", type=int, default=100_000)
    parser.add_argument("terms", nargs="?", type=int, default=10_000)
    parser.add_argument("--accuracy-only", action="store_true", help="the corpora's figures only")
    parser.add_argument("--repeats", type=int, default=3, help="screening runs of each side")
    parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = parser.parse_args()
    if args.accuracy_only:
        print_corpus_figures(corpus_figures())
        return
    from benchmarks.compare import alternate, report

    count, size = args.prompts, args.terms
    rng = random.Random(SEED)
    defaults = list(default_blacklist())
    terms = defaults + pseudo_terms(rng, size - len(defaults))
    start = time.perf_counter()
    screener = Screener.build(terms, defaults=True)
    built = time.perf_counter() - start
    print(
        f"build   {screener.blacklisted:>7} terms  {len(screener.automaton):>7} forms"
        f"  {built:6.2f} s"
    )

    data = prompts(rng, count, terms)
    chars = sum(len(text) for text, _ in data)
    start = time.perf_counter()
    results = [screener.screen(text) for text, _ in data]
    seconds = time.perf_counter() - start

    flagged = sum(not r.allowed for r in results)
    planted = sum(p for _, p in data)
    found = sum(p and not r.allowed for (_, p), r in zip(data, results, strict=True))
    by_chance = sum(not p and not r.allowed for (_, p), r in zip(data, results, strict=True))
    exact = sum(next(screener.automaton.iter(fold(text)), None) is not None for text, _ in data)
    print(
        f"screen  {count:>7} prompts  {chars / count:5.1f} chars avg  {seconds:6.2f} s  "
        f"{count / seconds:>9.0f} prompts/s"
    )
    print(
        f"flagged {flagged:>7}  planted {planted} found {found}  clean flagged by chance "
        f"{by_chance}  exact path taken {exact} ({exact / count:.1%})"
    )
    missed = [t for (t, p), r in zip(data, results, strict=True) if p and r.allowed]
    for text in missed[:10]:
        print("missed:", repr(text))
    print_corpus_figures(corpus_figures())

    start = time.perf_counter()
    bare = baseline_automaton(terms)
    bare_built = time.perf_counter() - start
    texts = [text for text, _ in data]
    bare_found = sum(p and bool(baseline_screen(bare, t)) for t, p in data)
    print(
        f"screening against a bare Aho-Corasick over lower() (built in {bare_built:.2f} s; "
        f"finds {bare_found} of the {planted} planted terms, the disguised ones escape it)"
    )
    comparison = alternate(
        lambda: [screener.screen(t) for t in texts],
        lambda: [baseline_screen(bare, t) for t in texts],
        args.repeats,
    )
    report(
        comparison,
        args.json,
        unit=lambda s: f"{count / s:>9.0f} prompts/s",
        benchmark="screen",
        prompts=count,
        terms=size,
        build_s=round(built, 4),
        baseline_build_s=round(bare_built, 4),
        planted=planted,
        found=found,
        baseline_found=bare_found,
    )


if __name__ == "__main__":
    main()
