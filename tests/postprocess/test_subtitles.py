"""Subtitles: lines and cues from timed sentences, SRT and WebVTT text."""

from __future__ import annotations

import itertools
import math

import pytest

from postprocess.subtitles import Cue, cues_for, to_srt, to_vtt, wrap

LONG_ZH = "夜空中银河横贯，仙后座高坐王座，海怪在远方的黑暗中慢慢醒来，这是一个很长的句子需要分开。"


# --- wrapping -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "cues"),
    [
        ("安德洛墨达被锁在海边岩石上。", [["安德洛墨达被锁在海边岩石上"]]),
        ("“救命！”她喊道。", [["“救命！”她喊道"]]),
        (
            "夜空中银河横贯，仙后座高坐王座，海怪在远方的黑暗中慢慢醒来。",
            [["夜空中银河横贯，仙后座高坐王座", "海怪在远方的黑暗中慢慢醒来"]],
        ),
        (
            "我用iPhone 15拍了3.5小时的延时摄影，画面非常漂亮。",
            [["我用iPhone 15拍了3.5小时的", "延时摄影，画面非常漂亮"]],
        ),
        (
            "他说：“我们明天早上八点在北京南站见面，别迟到。”然后挂了电话，转身走进了夜色。",
            [
                ["他说：“我们明天早上八点在", "北京南站见面，别迟到。”"],
                ["然后挂了电话，转身走进了夜色"],
            ],
        ),
        ("海" * 40 + "。", [["海" * 14, "海" * 14], ["海" * 12]]),
    ],
)
def test_chinese_lines_break_at_punctuation_and_lose_trailing_pauses(text, cues):
    assert wrap(text, "zh") == cues


def test_english_lines_are_balanced_and_keep_punctuation():
    text = "Andromeda is chained to a rock by the sea, waiting for the monster to rise."
    assert wrap(text, "en") == [
        ["Andromeda is chained to a rock by the sea,", "waiting for the monster to rise."]
    ]
    text = (
        "The night sky is full of stars, and the Milky Way crosses it like a river of light "
        "while Cassiopeia sits on her throne and watches the sea."
    )
    assert wrap(text, "en") == [
        ["The night sky is full of stars,", "and the Milky Way crosses it like a"],
        ["river of light while Cassiopeia sits", "on her throne and watches the sea."],
    ]
    assert wrap("Short line.", "en") == [["Short line."]]
    # Balanced, not greedy: a greedy wrap would leave "lazy dog." alone on the second line.
    assert wrap("The quick brown fox jumps over the lazy dog.", "en", latin_chars=36) == [
        ["The quick brown fox", "jumps over the lazy dog."]
    ]


def test_wrap_edge_cases():
    assert wrap("", "zh") == []
    assert wrap("。", "zh") == []
    assert wrap("   ", "en") == []
    assert wrap("OK!", "zh") == [["OK!"]]  # no Han: laid out as Latin, punctuation kept
    assert wrap("一二三四五六七八九十，一二三四五六七八九十", "zh", max_lines=1) == [
        ["一二三四五六七八九十"],
        ["一二三四五六七八九十"],
    ]
    with pytest.raises(ValueError, match="max_lines must be at least 1"):
        wrap("你好", "zh", max_lines=0)


# --- cue timing -----------------------------------------------------------------------------
def test_a_split_sentence_shares_its_time_by_text_length():
    cues = cues_for([("安德洛墨达被锁在海边岩石上。", 0.3, 2.9), (LONG_ZH, 3.5, 10.25)], "zh")
    assert cues == [
        Cue(0.3, 2.9, ["安德洛墨达被锁在海边岩石上"]),
        Cue(3.5, 8.11, ["夜空中银河横贯，仙后座高坐王座", "海怪在远方的黑暗中慢慢醒来"]),
        Cue(8.11, 10.25, ["这是一个很长的句子需要分开"]),
    ]
    # 6.75 s shared 28 : 13 columns (the trimmed "，" and "。" take no time).
    assert cues[1].end_s - 3.5 == pytest.approx(6.75 * 28 / 41, abs=0.0005)


def test_short_cues_borrow_from_their_sentence_then_run_into_silence():
    text = "这是一个很长的句子，它的第一部分占了大部分文字，最后只剩下好。"
    cues = cues_for([(text, 0.0, 3.0)], "zh", cjk_chars=14, max_lines=1)
    assert [c.lines for c in cues] == [
        ["这是一个很长的句子"],
        ["它的第一部分占了大部分文字"],
        ["最后只剩下好"],
    ]
    durations = [round(c.end_s - c.start_s, 3) for c in cues]
    # 9 : 13 : 6 characters of 3 s; the last share (0.64 s) is raised to 0.8 s and the other
    # two share the remaining 2.2 s as 9 : 13.
    assert durations == [0.9, 1.3, 0.8]
    # A one-cue sentence shorter than the minimum runs on into the pause after it...
    cues = cues_for([("好。", 1.0, 1.3), ("走吧。", 2.0, 2.6)], "zh")
    assert cues == [Cue(1.0, 1.8, ["好"]), Cue(2.0, 2.8, ["走吧"])]
    # ...but never into the next cue, nor past the end of the video.
    cues = cues_for([("好。", 1.0, 1.3), ("走吧。", 1.5, 2.6)], "zh", end_s=3.0)
    assert cues == [Cue(1.0, 1.5, ["好"]), Cue(1.5, 2.6, ["走吧"])]
    cues = cues_for([("走吧。", 2.0, 2.3)], "zh", end_s=2.5)
    assert cues == [Cue(2.0, 2.5, ["走吧"])]


def test_cues_never_overlap_and_keep_order():
    timed, at = [], 0.0
    for n in range(40):
        length = 0.2 + (n % 7) * 0.55
        text = "测试字幕" * (1 + n % 9) + "。"
        timed.append((text, at, at + length))
        at += length + (0.0 if n % 3 else 0.15)
    cues = cues_for(timed, "zh")
    assert len(cues) > len(timed)  # the long sentences were split
    for cue, after in itertools.pairwise(cues):
        assert cue.start_s < cue.end_s <= after.start_s
    for cue in cues:  # whole milliseconds
        assert cue.start_s * 1000 == pytest.approx(round(cue.start_s * 1000), abs=1e-6)


def test_sentences_with_nothing_to_show_make_no_cue():
    assert cues_for([("……", 0.0, 1.0), ("Hello there.", 1.0, 2.0)], "en") == [
        Cue(1.0, 2.0, ["Hello there."])
    ]
    assert cues_for([], "zh") == []


@pytest.mark.parametrize(
    ("timed", "message"),
    [
        ([("坏", -0.5, 1.0)], r"sentence 1 \('坏'\) runs from -0.5 s to 1.0 s"),
        ([("坏", 2.0, 2.0)], "end after it starts"),
        ([("坏", 0.0, math.nan)], "times must be numbers"),
        ([("一。", 0.0, 2.0), ("二。", 1.5, 3.0)], "sentence 2 .* starts at 1.5 s, before"),
    ],
)
def test_bad_times_are_refused(timed, message):
    with pytest.raises(ValueError, match=message):
        cues_for(timed, "zh")


# --- files ----------------------------------------------------------------------------------
CUES = [
    Cue(0.3, 2.9, ["安德洛墨达被锁在海边岩石上"]),
    Cue(3.5, 8.111, ["Tom & Jerry <3", "x --> y"]),
    Cue(3725.0, 3727.25, ["一小时后"]),
]


def test_srt_text():
    assert to_srt(CUES) == (
        "1\n"
        "00:00:00,300 --> 00:00:02,900\n"
        "安德洛墨达被锁在海边岩石上\n"
        "\n"
        "2\n"
        "00:00:03,500 --> 00:00:08,111\n"
        "Tom & Jerry <3\n"
        "x --> y\n"
        "\n"
        "3\n"
        "01:02:05,000 --> 01:02:07,250\n"
        "一小时后\n"
    )
    assert to_srt([]) == ""


def test_vtt_text_escapes_markup():
    assert to_vtt(CUES) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.300 --> 00:00:02.900\n"
        "安德洛墨达被锁在海边岩石上\n"
        "\n"
        "00:00:03.500 --> 00:00:08.111\n"
        "Tom &amp; Jerry &lt;3\n"
        "x --&gt; y\n"
        "\n"
        "01:02:05.000 --> 01:02:07.250\n"
        "一小时后\n"
    )
    assert to_vtt([]) == "WEBVTT\n"


def test_srt_and_vtt_print_the_same_milliseconds():
    timed = [("第一句。", 0.0, 1.0 / 3), ("第二句话更长一些。", 1.0 / 3, 2.0 / 3)]
    cues = cues_for(timed, "zh", min_cue_s=0)
    srt_times = [line for line in to_srt(cues).splitlines() if "-->" in line]
    vtt_times = [line for line in to_vtt(cues).splitlines() if "-->" in line]
    assert srt_times == ["00:00:00,000 --> 00:00:00,333", "00:00:00,333 --> 00:00:00,667"]
    assert [t.replace(".", ",") for t in vtt_times] == srt_times


def test_narration_shared_over_one_clip_gives_one_cue_per_sentence_with_its_spaces(tmp_path):
    import subprocess

    import numpy as np

    from tests.conftest import WANFLOW
    from wanflow.video import write_mp4

    clip = write_mp4(np.full((17, 96, 160, 3), 60, np.uint8), tmp_path / "clip.mp4", 16)
    done = subprocess.run(
        [WANFLOW, "compose", "--clips", str(clip), "--narration", "The cat sat. It was warm.",
         "--json", "--out", str(tmp_path / "v.mp4")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    srt = (tmp_path / "v.srt").read_text(encoding="utf-8")
    texts = [" ".join(block.split("\n")[2:]) for block in srt.strip().split("\n\n")]
    assert texts == ["The cat sat.", "It was warm."]
    assert "sat.It" not in srt and "sat.It" not in (tmp_path / "v.vtt").read_text()
