"""Shot timing: 4k+1 frames that cover the narration, hold/slow extensions, the timeline."""

from __future__ import annotations

import math

import pytest

from postprocess.timing import ShotTiming, extension, frames_covering, time_shots


# --- frames ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "fps", "max_frames", "frames"),
    [
        (0.0, 16, 81, 5),  # never fewer than 5 frames
        (0.3125, 16, 81, 5),  # 5 frames are exactly 0.3125 s
        (0.32, 16, 81, 9),  # a hair more needs the next 4k+1
        (4.0, 16, 81, 65),  # 64 frames would do, 65 is the 4k+1 that covers
        (4.9, 16, 81, 81),
        (5.0625, 16, 81, 81),  # 81 frames at 16 fps
        (7.0, 16, 81, 81),  # capped: the clip will be extended
        (5.0, 24, 121, 121),  # TI2V-5B: 120 frames would do, 121 is 4k+1
        (5.05, 24, 121, 121),
        (3.0, 24, 121, 73),
    ],
)
def test_frames_are_the_fewest_4k_plus_1_that_cover(seconds, fps, max_frames, frames):
    got = frames_covering(seconds, fps, max_frames)
    assert got == frames and got % 4 == 1
    assert got / fps >= seconds or got == max_frames


@pytest.mark.parametrize(
    ("fps", "max_frames", "message"),
    [
        (0, 81, "fps must be a positive whole number, got 0"),
        (16.0, 81, "fps must be a positive whole number, got 16.0"),
        (16, 80, r"max_frames must be 4k\+1 \(e.g. 77\), got 80"),
        (16, 3, "max_frames must be a whole number of at least 5, got 3"),
    ],
)
def test_bad_frame_settings_are_refused(fps, max_frames, message):
    with pytest.raises(ValueError, match=message):
        frames_covering(1.0, fps, max_frames)


# --- extensions -----------------------------------------------------------------------------
def test_hold_freezes_the_last_frame_for_whole_frames():
    assert extension(5.0625, 5.0, 16, "hold") == (1.0, 0.0)
    assert extension(5.0625, 7.0, 16, "hold") == (1.0, 1.9375)  # 31 frames of 1/16 s
    assert extension(5.0625, 5.1, 16, "hold") == (1.0, 0.0625)  # one frame covers 0.0375 s


def test_slow_stretches_up_to_its_cap_then_holds():
    assert extension(5.0625, 7.0, 16, "slow") == (1.3828, 0.0)  # 7 / 5.0625 = 1.38271..., up
    assert extension(5.0625, 9.0, 16, "slow") == (1.5, 1.4375)  # 7.59 s slowed, 23 frames held
    assert extension(5.0625, 9.0, 16, "slow", max_slow=2.0) == (1.7778, 0.0)
    assert extension(5.0625, 9.0, 16, "slow", max_slow=1.0) == (1.0, 3.9375)


def test_bad_extension_settings_are_refused():
    with pytest.raises(ValueError, match="policy must be one of hold, slow, got 'loop'"):
        extension(5.0, 6.0, 16, "loop")
    with pytest.raises(ValueError, match=r"max_slow must be a factor of 1 or more, got 0\.5"):
        extension(5.0, 6.0, 16, "slow", max_slow=0.5)


# --- timelines ------------------------------------------------------------------------------
def test_narrated_shots_last_their_speech_plus_padding():
    timeline = time_shots(
        [3.2, 0.0, 6.5], [5.0, 4.0, 5.0], fps=16, max_frames=81, lead_s=0.3, tail_s=0.3
    )
    assert timeline.shots == [
        # 0.3 + 3.2 + 0.3 = 3.8 s → 61 frames (3.8125 s), planned 5 s ignored.
        ShotTiming(1, 3.2, 3.8125, 61, 3.8125, 0.0, 1.0),
        # No narration: the planned 4 s → 65 frames.
        ShotTiming(2, 0.0, 4.0625, 65, 4.0625, 0.0, 1.0),
        # 7.1 s needed, 81 frames (5.0625 s) at most: 2.0375 s held → 33 frames (2.0625 s).
        ShotTiming(3, 6.5, 7.125, 81, 5.0625, 2.0625, 1.0),
    ]
    assert timeline.starts_s == [0.0, 3.8125, 7.875]
    assert timeline.speech_starts_s == [0.3, 4.1125, 8.175]
    assert timeline.total_s == 15.0
    assert timeline.shots[2].extended and not timeline.shots[0].extended


def test_minimum_shot_length_applies_to_short_narration():
    timeline = time_shots([0.4], [5.0], fps=16, max_frames=81, min_shot_s=2.0)
    assert timeline.shots == [ShotTiming(1, 0.4, 2.0625, 33, 2.0625, 0.0, 1.0)]


def test_transitions_overlap_shots_but_never_the_speech():
    speech = [3.2, 0.0, 6.5, 2.0]
    overlaps = [0.5, 1.0, 0.25]
    timeline = time_shots(
        speech,
        [5.0, 1.0, 5.0, 5.0],
        fps=16,
        max_frames=81,
        min_shot_s=1.0,
        lead_s=0.3,
        tail_s=0.3,
        transitions_s=overlaps,
        policy="slow",
    )
    durations = [shot.duration_s for shot in timeline.shots]
    # Shot 1: 0.3 + 3.2 + max(0.3, 0.5) = 4.0 → 65 frames. Shot 2 (silent, planned 1 s) must
    # hold both of its transitions: 1.5 s → 25 frames. Shot 3: 1.0 + 6.5 + 0.3 = 7.8 s, slowed
    # 1.5× (7.59 s) then 4 frames held. Shot 4: 0.3 + 2.0 + 0.3 = 2.6 → 45 frames.
    assert [shot.num_frames for shot in timeline.shots] == [65, 25, 81, 45]
    assert [(s.slow_factor, s.hold_s) for s in timeline.shots][2] == (1.5, 0.25)
    assert durations == pytest.approx([4.0625, 1.5625, 7.84375, 2.8125])
    assert timeline.total_s == pytest.approx(sum(durations) - sum(overlaps))
    starts = timeline.starts_s
    for i, overlap in enumerate(overlaps):  # shot i + 1 starts as shot i's transition begins
        assert starts[i + 1] == pytest.approx(starts[i] + durations[i] - overlap)
    # Each transition runs from the next shot's start for its overlap; no speech in it.
    windows = [(starts[i + 1], starts[i + 1] + overlap) for i, overlap in enumerate(overlaps)]
    ends = timeline.speech_ends_s()
    for begin, end, seconds in zip(timeline.speech_starts_s, ends, speech, strict=True):
        if seconds:
            assert all(end <= a + 1e-9 or begin >= b - 1e-9 for a, b in windows)
    assert timeline.speech_starts_s[2] == pytest.approx(starts[2] + 1.0)  # after the 1 s xfade


def test_one_shot_and_hard_cuts():
    timeline = time_shots([4.0, 4.0], [5.0, 5.0], fps=24, max_frames=121, lead_s=0, tail_s=0)
    assert [s.num_frames for s in timeline.shots] == [97, 97]
    assert timeline.starts_s == pytest.approx([0.0, 97 / 24])
    assert timeline.total_s == pytest.approx(2 * 97 / 24)
    assert timeline.transitions_s == [0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"speech_s": []}, "no shots"),
        ({"planned_s": [5.0]}, "planned_s has 1 values for 2 shots"),
        ({"transitions_s": []}, "transitions_s has 0 values; 2 shots need 1"),
        ({"speech_s": [1.0, -2.0]}, "speech_s of shot 2 must not be negative, got -2.0"),
        ({"planned_s": [5.0, math.inf]}, "planned_s of shot 2 must be a number of seconds"),
        ({"transitions_s": [-0.5]}, r"transition 1 \(between shots 1 and 2\) must not be"),
        ({"lead_s": math.nan}, "lead_s must be a number of seconds, got nan"),
        ({"policy": "freeze"}, "policy must be one of hold, slow, got 'freeze'"),
        ({"max_frames": 82}, r"max_frames must be 4k\+1"),
    ],
)
def test_bad_timeline_inputs_are_refused(kwargs, message):
    arguments = {"speech_s": [1.0, 2.0], "planned_s": [5.0, 5.0], "fps": 16, "max_frames": 81}
    with pytest.raises(ValueError, match=message):
        time_shots(**{**arguments, **kwargs})
