"""Memory plans: footprints read from the files, plan choice, and the order of fallbacks."""

from __future__ import annotations

import pytest

from generation.memory import (
    CPU_PLANS,
    GPU_PLANS,
    Footprint,
    GiB,
    choose,
    footprint,
    geometry,
    next_plan,
    peak_bytes,
    plan_named,
)

# Wan2.2-T2V-A14B in bf16 as measured on a lent H100: 26.7 GiB per expert, UMT5-XXL
# 10.6 GiB, the Wan2.1 VAE 0.5 GiB; 720p, 81 frames is 75,600 tokens.
A14B = Footprint(
    text_encoder=int(10.6 * GiB),
    transformers=(int(26.7 * GiB), int(26.7 * GiB)),
    vae=int(0.5 * GiB),
    width=5120,
)
SHOT_720P = geometry(1280, 720, 81)


def test_geometry_matches_wans_token_count():
    assert SHOT_720P.tokens == 75_600
    assert geometry(1280, 704, 121, spatial=16, patch=2).tokens == 27_280  # TI2V-5B


def test_the_measured_a14b_case_needs_more_than_a_resident_h100_has():
    """Everything resident peaked at 72.6 GiB, and the fp32 decode did not fit in 79.2 GiB."""
    resident = peak_bytes(GPU_PLANS[0], A14B, SHOT_720P)
    assert resident > 79.2 * GiB
    lean = peak_bytes(plan_named("gpu-lean"), A14B, SHOT_720P)
    assert 64 * GiB < lean < 79.2 * GiB
    assert choose(GPU_PLANS, int(79.2 * GiB), A14B, SHOT_720P).name == "gpu-lean"


def test_plans_get_more_frugal_in_order():
    peaks = [peak_bytes(plan, A14B, SHOT_720P) for plan in GPU_PLANS]
    assert peaks == sorted(peaks, reverse=True)


def test_choice_follows_free_memory_and_skips_plans_that_ran_out():
    assert choose(GPU_PLANS, 200 * GiB, A14B, SHOT_720P).name == "gpu"
    assert choose(GPU_PLANS, 40 * GiB, A14B, SHOT_720P).name == "model-offload"
    assert choose(GPU_PLANS, 12 * GiB, A14B, SHOT_720P).name == "group-offload"
    assert choose(GPU_PLANS, 1 * GiB, A14B, SHOT_720P).name == "group-offload"  # best effort
    skipped = choose(GPU_PLANS, 200 * GiB, A14B, SHOT_720P, exclude={"gpu"})
    assert skipped.name == "gpu-lean"


def test_next_plan_walks_down_and_stops():
    assert next_plan(GPU_PLANS, "gpu").name == "gpu-lean"
    assert next_plan(GPU_PLANS, "group-offload") is None
    assert next_plan(CPU_PLANS, "cpu").name == "cpu-tiled"


def test_unknown_plan_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: auto, gpu, gpu-lean"):
        plan_named("everything")


def test_footprint_is_read_from_the_safetensors_headers(model_dir):
    """Compared with the parameters of the loaded modules."""
    import torch
    from diffusers import DiffusionPipeline

    from generation.tiny import tiny_model_dir

    directory = tiny_model_dir("tiny-t2v-a14b", model_dir)
    fp = footprint(directory, compute_bytes=2)
    pipe = DiffusionPipeline.from_pretrained(directory, local_files_only=True)

    def params(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert fp.transformers == (
        params(pipe.transformer) * 2,
        params(pipe.transformer_2) * 2,
    )
    assert fp.text_encoder == params(pipe.text_encoder) * 2
    assert fp.vae == params(pipe.vae) * 4
    assert fp.width == 24  # 2 heads × 12
