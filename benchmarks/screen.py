"""Prompt screening speed: build time and prompts/s for a 10,000-term list on one core.

The list is the shipped terms plus generated pseudo-words (Chinese from a pool of characters,
English from syllables); the prompts are generated from a seed: mixed Chinese and English,
20-120 characters, ~3% carrying a listed term (half of those disguised: separators, zero-width
characters, full width, look-alike letters, traditional characters, inflections) and ~2% a benign
near-miss (grape, therapist, Sussex, 血腥玛丽, 大麻烦). It checks that every planted term is
found and reports how many clean prompts were flagged by chance.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/screen.py [PROMPTS] [TERMS]
"""

from __future__ import annotations

import random
import sys
import time

import opencc

from moderation.lists import Term, default_blacklist
from moderation.normalise import fold
from moderation.screening import Screener

SEED = 20250607


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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
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


if __name__ == "__main__":
    main()
