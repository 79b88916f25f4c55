"""Presets always give Wan2.2 a configuration it accepts; model names are the official ones."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from generation.presets import PresetError, Presets, default_presets, frames_for
from wanflow.manifest import Item

PRESETS = default_presets()
# Wan2.2's supported sizes (wan/configs SUPPORTED_SIZES) and official defaults (wan/configs).
SUPPORTED = {
    "t2v-a14b": {(1280, 720), (720, 1280), (832, 480), (480, 832)},
    "i2v-a14b": {(1280, 720), (720, 1280), (832, 480), (480, 832)},
    "ti2v-5b": {(1280, 704), (704, 1280)},
    "flf2v-14b": {(1280, 720), (720, 1280)},  # Wan2.1's SUPPORTED_SIZES['flf2v-14B']
}
OFFICIAL = {
    "t2v-a14b": dict(
        steps=40,
        shift=12.0,
        guidance=4.0,
        guidance_2=3.0,
        boundary_ratio=0.875,
        fps=16,
        max_frames=81,
    ),
    "i2v-a14b": dict(
        steps=40, shift=5.0, guidance=3.5, guidance_2=3.5, boundary_ratio=0.9, fps=16, max_frames=81
    ),
    "ti2v-5b": dict(
        steps=50,
        shift=5.0,
        guidance=5.0,
        guidance_2=None,
        boundary_ratio=None,
        fps=24,
        max_frames=121,
    ),
}
# Wan2.1 generate.py for flf2v: 50 steps, guidance 5, shift 16.
OFFICIAL["flf2v-14b"] = dict(
    steps=50, shift=16.0, guidance=5.0, guidance_2=None, boundary_ratio=None, fps=16, max_frames=81
)
DURATIONS = [0.2, 0.5, 1, 1.7, 2, 2.5, 3, 3.3, 4, 4.9, 5, 5.06, 6, 10, 60]


@pytest.mark.parametrize("name", PRESETS.names())
@pytest.mark.parametrize("has_image", [False, True, "keyframes"])
@pytest.mark.parametrize("orientation", ["landscape", "portrait"])
def test_every_preset_is_a_configuration_wan_accepts(name, has_image, orientation):
    keyframes = has_image == "keyframes"
    try:
        params = PRESETS.resolve(
            name, has_image=bool(has_image), orientation=orientation, keyframes=keyframes
        )
    except PresetError:
        assert (name, has_image) in {
            ("t2v-a14b", True),
            ("t2v-a14b", "keyframes"),
            ("i2v-a14b", False),
            ("flf2v-14b", False),  # a last-frame model renders between keyframes only
            ("flf2v-14b", True),
        }
        return
    assert (params.width, params.height) in SUPPORTED[params.model]
    assert (params.width >= params.height) == (orientation == "landscape")
    official = OFFICIAL[params.model]
    assert 1 <= params.steps <= official["steps"]
    lossless = name not in PRESETS.explicit
    for key in ("shift", "guidance", "guidance_2", "boundary_ratio", "fps", "max_frames"):
        if lossless or key not in ("guidance", "guidance_2"):
            assert getattr(params, key) == official[key], key
    if lossless:
        assert (params.lora, params.cache) == (None, None)
    else:  # distilled: one pass per step, an adapter and a cache, only when asked for
        assert params.guidance == params.guidance_2 == 1.0
        assert params.lora == "lightning" and params.cache == "first-block"
    assert params.solver == "unipc"
    assert (params.task == "i2v") <= bool(has_image)
    assert (params.task == "flf2v") <= keyframes
    for seconds in DURATIONS:
        frames = frames_for(seconds, params.fps, params.max_frames)
        assert frames % 4 == 1 and 5 <= frames <= params.max_frames


@pytest.mark.parametrize("model", sorted(OFFICIAL))
def test_a_model_name_is_the_preset_of_its_official_defaults(model):
    params = PRESETS.resolve(model, has_image=model == "i2v-a14b", keyframes=model == "flf2v-14b")
    assert params.steps == OFFICIAL[model]["steps"]
    assert (params.width, params.height) == max(
        (s for s in SUPPORTED[model] if s[0] > s[1]), key=lambda s: s[0] * s[1]
    )


def test_quality_ladder_and_image_items():
    assert PRESETS.order == ["draft", "standard", "high", "ultra"]
    assert PRESETS.resolve("ultra").model == "t2v-a14b"
    assert PRESETS.resolve("ultra", has_image=True).model == "i2v-a14b"
    assert PRESETS.resolve("draft").steps < PRESETS.resolve("standard").steps


def test_presets_answer_to_chinese_names():
    assert PRESETS.resolve("超清").preset == "ultra"
    assert PRESETS.resolve("草稿").preset == "draft"
    assert PRESETS.resolve(" High ").preset == "high"
    assert PRESETS.resolve("T2V_A14B").model == "t2v-a14b"


def test_unknown_or_unsuitable_preset_is_a_row_error_listing_choices():
    with pytest.raises(PresetError, match="accepted: 草稿/draft, 标准/standard"):
        PRESETS.resolve("best-ever")
    assert PRESETS.check_item(Item(id="a", prompt="x", preset="i2v-a14b")) == [
        (
            "preset",
            "i2v-a14b needs a reference image (the image column); "
            "without one use t2v-a14b, ti2v-5b",
        )
    ]
    assert (
        PRESETS.check_item(Item(id="a", prompt="x", preset="t2v-a14b", image="in/a.png"))[0][0]
        == "preset"
    )
    assert PRESETS.check_item(Item(id="a", prompt="x", preset="自动")) == []


@pytest.mark.parametrize(
    ("seconds", "fps", "expected"),
    [(5, 16, 81), (3, 16, 49), (2, 16, 33), (0.1, 16, 5), (10, 16, 81), (5, 24, 121), (2, 24, 49)],
)
def test_duration_to_frames(seconds, fps, expected):
    assert frames_for(seconds, fps, 121 if fps == 24 else 81) == expected


def test_duration_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        frames_for(0, 16, 81)


def test_explicit_presets_are_never_in_the_quality_order():
    assert PRESETS.explicit == ["fast"]
    assert "fast" not in PRESETS.order
    assert PRESETS.canonical("极速") == PRESETS.canonical("Lightning") == "fast"


def test_a_lossy_preset_must_be_listed_as_explicit():
    data = tomllib.loads(
        resources.files("generation").joinpath("data/presets.toml").read_text("utf-8")
    )
    data["order"] = [*data["order"], *data["explicit"]]
    data["explicit"] = []
    with pytest.raises(ValueError, match="fast changes guidance, LoRA or cache"):
        Presets(data)
