"""Keyframe items: one shot per gap between given images, planned and rendered on the tiny models.

How close is "the first frame is the keyframe"? Wan decodes a shot's first frame from its first
latent frame alone (the VAE is causal in time), and a model that fixes that latent to the
keyframe's encoding (TI2V-5B in image mode) shows the keyframe exactly as its VAE reproduces it.
The tiny stand-ins' VAEs have random weights: measured on the keyframes below, a round trip
through the tiny TI2V VAE is 0.25-0.34 mean absolute error (0..1 scale) from the picture, and the
round trips of the three keyframes lie 0.0065-0.011 apart, while a rendered first frame is 0.0
from its own keyframe's round trip (float32). So a first frame must lie within
``FIRST_FRAME_TOLERANCE`` of its keyframe's round trip and farther than ``OTHER_KEYFRAME`` from
every other keyframe's.
"""

from __future__ import annotations

import numpy as np
import pytest

from generation.catalogue import build_catalogue
from generation.clips import jobs_for
from generation.models import resolve_model
from generation.render import ShotRequest, fit_image
from wanflow.manifest import Item
from wanflow.settings import Settings

FIRST_FRAME_TOLERANCE = 0.002  # measured 0.0 between a first frame and its keyframe's round trip
OTHER_KEYFRAME = 0.005  # measured 0.0065 or more to another keyframe's round trip


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(Settings())


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory):
    """Three unlike pictures: a coloured block on a coloured ground each, odd-sized."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("keyframes")
    paths = []
    for seed in range(3):
        rng = np.random.default_rng(seed + 10)
        picture = np.zeros((90, 160, 3), np.uint8)
        picture[:] = rng.integers(0, 256, 3)
        picture[20:70, 40:120] = rng.integers(0, 256, 3)
        path = folder / f"k{seed}.png"
        Image.fromarray(picture).save(path)
        paths.append(path)
    return paths


def keyframe_item(**fields) -> Item:
    return Item(
        **{
            "id": "kf",
            "prompt": "a lighthouse by the sea",
            "images": ["config/kf/a.png", "config/kf/b.png", "config/kf/c.png"],
            "transitions": ["the beam turns slowly", "night falls"],
            "seed": 11,
            **fields,
        }
    )


def plan(catalogue, item: Item):
    return catalogue.planner(Settings()).plan(catalogue.expand(item))


# --- plan ---------------------------------------------------------------------------------------
def test_a_first_frame_model_plans_one_shot_per_gap_and_says_the_ends_are_not_pinned(catalogue):
    shot_plan = plan(catalogue, keyframe_item())
    assert shot_plan.params.model == "ti2v-5b" and shot_plan.images == keyframe_item().images
    assert [(s.start_image, s.end_image, s.end_pinned) for s in shot_plan.shots] == [
        ("config/kf/a.png", "config/kf/b.png", False),
        ("config/kf/b.png", "config/kf/c.png", False),
    ]
    assert any("not pinned" in w and "flf2v-14b" in w for w in shot_plan.warnings)
    assert [s.seed for s in shot_plan.shots] == [11, 11]  # the item's seed in every shot
    assert "beam turns" in shot_plan.shots[0].prompt and "Night falls" in shot_plan.shots[1].prompt
    # Each shot starts on its own keyframe, never on the shot before's last frame.
    jobs = jobs_for(shot_plan)
    assert [(j.image_key, j.last_image_key, j.continue_story) for j in jobs] == [
        ("config/kf/a.png", None, False),
        ("config/kf/b.png", None, False),
    ]


def test_a_last_frame_model_pins_both_ends(catalogue):
    shot_plan = plan(catalogue, keyframe_item(preset="flf2v-14b"))
    assert shot_plan.params.model == "flf2v-14b"
    assert [s.end_pinned for s in shot_plan.shots] == [True, True]
    assert not any("pinned" in w for w in shot_plan.warnings)
    jobs = jobs_for(shot_plan)
    assert [(j.image_key, j.last_image_key) for j in jobs] == [
        ("config/kf/a.png", "config/kf/b.png"),
        ("config/kf/b.png", "config/kf/c.png"),
    ]
    assert shot_plan.model_dump()["shots"][1]["end_image"] == "config/kf/c.png"


def test_narration_sentences_are_the_prompts_and_time_each_gap(catalogue):
    item = keyframe_item(
        transitions=None, narration="海浪一层层涌起，越来越高，拍打着礁石和灯塔。夜幕终于降临了。"
    )
    shot_plan = plan(catalogue, item)
    assert [s.narration for s in shot_plan.shots] == [
        "海浪一层层涌起，越来越高，拍打着礁石和灯塔。",
        "夜幕终于降临了。",
    ]
    assert "拍打着礁石" in shot_plan.shots[0].prompt
    # Reading time sets each shot's length: the longer sentence, the longer shot.
    assert shot_plan.shots[0].duration_s > shot_plan.shots[1].duration_s


def test_the_prompt_stage_rejects_a_narration_that_does_not_fit_the_gaps(catalogue):
    item = keyframe_item(narration="只有一句。")
    ((name, message),) = catalogue.check_item(item)
    assert name == "narration" and "1 sentence(s)" in message and "2 shot(s)" in message
    assert catalogue.check_item(keyframe_item(narration="一。二。")) == []
    # A last-frame model is for keyframes only; a plain image item may not name it.
    plain = Item(id="p", prompt="x", image="config/a.png", preset="flf2v-14b")
    assert catalogue.check_item(plain)[0][0] == "preset"


def test_texts_to_screen_include_each_transition_prompt_as_expanded(catalogue):
    expanded = catalogue.expand(
        keyframe_item(images=["k/a.png", "k/b.png"], transitions=["a gull glides"])
    )
    fields = dict(expanded.texts())
    assert "gull glides" in fields["shot_1_prompt"]
    assert fields["images"] == "k/a.png, k/b.png"


# --- rendering ----------------------------------------------------------------------------------
def _mae(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def _round_trip(pipe, picture) -> np.ndarray:
    """``picture`` (PIL, the shot's size) encoded and decoded by the pipeline's own VAE."""
    import torch

    x = torch.from_numpy(np.asarray(picture, np.float32) / 255).permute(2, 0, 1)
    with torch.no_grad():
        latent = pipe.vae.encode((x * 2 - 1)[None, :, None]).latent_dist.mode()
        decoded = pipe.vae.decode(latent).sample
    return ((decoded[0, :, 0].permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1)


def test_each_shot_starts_on_its_keyframe(settings, renderer, keyframes):
    """Three keyframes, two shots (TI2V-5B: first frame only), each starting on its keyframe."""
    spec = resolve_model("tiny-ti2v-5b", settings)
    width, height = spec.render_size(1280, 704)
    fitted = [np.asarray(fit_image(p, width, height), np.float32) / 255 for p in keyframes]
    pipe = renderer.load(spec).image_pipe
    reproduced = [_round_trip(pipe, fit_image(p, width, height)) for p in keyframes]
    for k in range(2):
        request = ShotRequest(
            prompt="a lighthouse by the sea",
            seed=11,
            width=1280,
            height=704,
            num_frames=9,
            fps=24,
            steps=2,
            guidance=5.0,
            shift=5.0,
            image=keyframes[k],
        )
        first = renderer.render(spec, request).frames[0]
        assert _mae(first, reproduced[k]) < FIRST_FRAME_TOLERANCE
        assert _mae(first, fitted[k]) <= _mae(reproduced[k], fitted[k]) + FIRST_FRAME_TOLERANCE
        assert all(_mae(first, reproduced[j]) > OTHER_KEYFRAME for j in range(3) if j != k)


def test_a_last_frame_model_is_given_the_next_keyframe_at_the_shots_end(
    settings, renderer, keyframes
):
    """The tiny FLF2V stand-in's random weights cannot draw the frames it is given (a trained
    model does), so what is checked is what reaches its transformer: a mask that marks the
    shot's first and last frames as given, condition latents whose last frame follows the end
    keyframe, and the CLIP features of both keyframes, first then last."""
    import torch

    spec = resolve_model("tiny-flf2v-14b", settings)
    assert spec.last_frame and not resolve_model("tiny-ti2v-5b", settings).last_frame
    width, height = spec.render_size(1280, 720)
    pipe = renderer.load(spec).image_pipe
    seen: list = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(
            (kwargs["hidden_states"].clone(), kwargs["encoder_hidden_states_image"].clone())
        ),
        with_kwargs=True,
    )

    def given(first, last):
        seen.clear()
        request = ShotRequest(
            prompt="the beam turns",
            seed=11,
            width=1280,
            height=720,
            num_frames=9,
            fps=16,
            steps=1,
            guidance=1.0,
            shift=16.0,
            image=keyframes[first],
            last_image=keyframes[last],
        )
        frames = renderer.render(spec, request).frames
        assert frames.shape == (9, height, width, 3)
        hidden, clip = seen[0]  # hidden: noise 16 + mask 4 + condition 16 channels
        return hidden[:, 16:20], hidden[:, 20:], clip

    try:
        (mask, ab, clip_ab), (_, ac, _), (_, cb, _) = given(0, 1), given(0, 2), given(2, 1)
    finally:
        handle.remove()
    # Latent frame 0 is the first frame (4 mask channels set), the last one's 4th sub-frame is
    # the last frame, and nothing between is given.
    assert torch.equal(mask[0, :, 0], torch.ones_like(mask[0, :, 0]))
    assert mask[0, :, -1, 0, 0].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert not mask[0, :, 1:-1].any()
    # The first latent frame follows the first keyframe alone; the last follows the end one.
    assert torch.equal(ab[:, :, 0], ac[:, :, 0]) and not torch.allclose(ab[:, :, 0], cb[:, :, 0])
    assert not torch.allclose(ab[:, :, -1], ac[:, :, -1])
    fitted = [fit_image(keyframes[k], width, height) for k in (0, 1)]
    with torch.no_grad():
        expected = pipe.encode_image(fitted, torch.device("cpu"))
    assert torch.allclose(clip_ab.reshape(expected.shape), expected, atol=1e-6)


def test_last_frames_are_refused_where_they_cannot_be_honoured(settings, renderer, keyframes):
    base = dict(prompt="x", seed=1, width=1280, height=720, num_frames=9, fps=16, steps=1,
                guidance=1.0, shift=5.0)  # fmt: skip
    with pytest.raises(ValueError, match="honours only a first frame"):
        renderer.render(
            resolve_model("tiny-i2v-a14b", settings),
            ShotRequest(**base, image=keyframes[0], last_image=keyframes[1]),
        )
    with pytest.raises(ValueError, match="needs a last image too"):
        renderer.render(
            resolve_model("tiny-flf2v-14b", settings), ShotRequest(**base, image=keyframes[0])
        )
