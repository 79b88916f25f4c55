"""Story → shots: sentences become shots that keep the item's subject, look and seed."""

from __future__ import annotations

import pytest

from generation.catalogue import build_catalogue
from generation.shots import Pacing, beat_durations, beats, speech_seconds, split_sentences
from wanflow.manifest import Item
from wanflow.settings import Settings

STORY = "安德洛墨达被锁在海边岩石上。夜空中银河横贯，仙后座高坐王座。突然，海怪破浪而出！"


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(Settings())


def plan(catalogue, budget=None, **fields):
    item = Item(**{"id": "s1", "prompt": "仙女座神话", **fields})
    planner = catalogue.planner(Settings(), time_budget_s=budget)
    return planner.plan(catalogue.expand(item))


def test_sentences_split_in_chinese_and_english():
    assert split_sentences(STORY) == [
        "安德洛墨达被锁在海边岩石上。",
        "夜空中银河横贯，仙后座高坐王座。",
        "突然，海怪破浪而出！",
    ]
    text = "Mr. Smith paid 3.5 coins. Orion hunts!\nThe scorpion waits… He falls?"
    assert split_sentences(text) == [
        "Mr. Smith paid 3.5 coins.",
        "Orion hunts!",
        "The scorpion waits…",
        "He falls?",
    ]
    assert split_sentences("“救命！”她喊道。") == ["“救命！”", "她喊道。"]


def test_long_beats_split_at_clauses_then_evenly():
    pacing = Pacing(max_shot_s=3.0)
    sentence = "海风呼啸着掠过礁石，远处的海面翻腾不休，乌云在天边聚集，雷声滚滚而来。"
    parts = beats(sentence, pacing)
    assert len(parts) > 1 and "".join(parts) == sentence
    assert all(speech_seconds(p, pacing) <= 3.0 for p in parts)
    run_on = "海" * 40  # no punctuation at all
    pieces = beats(run_on, pacing)
    assert "".join(pieces) == run_on and all(speech_seconds(p, pacing) <= 3.0 for p in pieces)


def test_durations_follow_reading_time_or_share_a_total():
    pacing = Pacing()
    texts = ["短句。", "这是一个明显更长一些的句子，需要更多时间来朗读。"]
    short, long = beat_durations(texts, pacing)
    assert short == pacing.min_shot_s and short < long <= pacing.max_shot_s
    assert sum(beat_durations(texts, pacing, total_s=7)) == pytest.approx(7, abs=0.6)


def test_one_sentence_item_is_one_shot(catalogue):
    result = plan(catalogue, narration="海怪从深海升起。", style="油画")
    assert len(result.shots) == 1
    shot = result.shots[0]
    assert shot.narration == "海怪从深海升起。" and shot.transition is None
    assert "油画风格" in shot.prompt and "仙女座神话" in shot.prompt


def test_a_story_becomes_one_shot_per_sentence_with_a_shared_look(catalogue):
    result = plan(
        catalogue,
        narration=STORY,
        subject="被锁链缚住的公主",
        style="水彩画",
        colour_tone="冷色调",
        seed=7,
        transition="叠化",
    )
    assert [s.narration for s in result.shots] == split_sentences(STORY)
    assert [s.index for s in result.shots] == [1, 2, 3]
    for shot in result.shots:
        assert "被锁链缚住的公主" in shot.prompt  # subject
        assert "水彩画风格" in shot.prompt and "冷色调" in shot.prompt  # style, palette
        assert "仙女座神话" in shot.prompt  # the item's setting
        assert shot.seed == 7
        assert shot.num_frames % 4 == 1 and shot.num_frames <= result.params.max_frames
        assert shot.duration_s == pytest.approx(shot.num_frames / result.params.fps, abs=1e-3)
    assert [s.transition for s in result.shots] == ["dissolve", "dissolve", None]
    assert len({s.prompt for s in result.shots}) == 3
    assert "海怪" in result.expansions or "银河" in result.expansions


def test_a_long_clip_without_narration_is_cut_into_shots_with_their_own_seeds(catalogue):
    result = plan(catalogue, duration=12, seed=100)
    assert len(result.shots) == 3
    assert [s.seed for s in result.shots] == [100, 101, 102]  # identical prompts need new noise
    assert {s.prompt for s in result.shots} == {result.shots[0].prompt}
    assert [s.transition for s in result.shots] == ["fade", "fade", None]


def test_default_length_is_the_models_clip(catalogue):
    result = plan(catalogue)
    assert len(result.shots) == 1 and result.shots[0].num_frames == 121  # standard: TI2V-5B


def test_orientation_and_preset(catalogue):
    result = plan(catalogue, orientation="竖屏", preset="超清")
    assert (result.params.width, result.params.height) == (720, 1280)
    assert result.params.model == "t2v-a14b" and result.params.preset == "ultra"


def test_time_budget_chooses_the_best_preset_that_fits(catalogue):
    costs = {}
    for name in catalogue.presets.order:
        costs[name] = plan(catalogue, preset=name).estimate.total_s
    assert list(costs.values()) == sorted(costs.values())  # the ladder costs more as it goes up
    for name, seconds in costs.items():
        chosen = plan(catalogue, budget=seconds + 1)
        assert chosen.params.preset == name and chosen.estimate.total_s <= seconds + 1
    starved = plan(catalogue, budget=1)
    assert starved.params.preset == "draft"
    assert "no preset fits the 1 s budget" in starved.warnings[0]
    assert plan(catalogue, budget=1, preset="ultra").params.preset == "ultra"  # named wins


def test_texts_to_screen_include_every_prompt(catalogue):
    item = Item(id="s1", prompt="仙女座神话", title="星空", narration=STORY)
    texts = dict(catalogue.expand(item).texts())
    assert {
        "prompt",
        "title",
        "narration",
        "expanded_prompt",
        "shot_1_prompt",
        "shot_3_prompt",
    } <= set(texts)
