"""The cost model reproduces its sources, scales by work, and the chooser respects the budget."""

from __future__ import annotations

import pytest

from generation.cost import NoFigures, default_cost_model
from generation.presets import default_presets

COSTS = default_cost_model()
PRESETS = default_presets()


def test_every_figure_has_a_source():
    assert COSTS.figures and all(len(f.source) > 20 for f in COSTS.figures)


def test_measured_configuration_reproduces_its_figures():
    params = PRESETS.resolve("ultra")  # T2V-A14B 1280x720, 40 steps, CFG
    estimate = COSTS.estimate(params, [81], "H100")
    assert estimate.denoise_s == pytest.approx(40 * 2 * 12.76)
    assert estimate.decode_s == pytest.approx(4.7)
    assert estimate.load_s == pytest.approx(116.5)
    # and lands within 10 % of the official single-H100 time (1041.5 s without load)
    assert estimate.denoise_s + estimate.decode_s == pytest.approx(1041.5, rel=0.1)


def test_token_count_follows_vae_and_patch():
    a14b = COSTS.architectures["a14b"]
    assert a14b.tokens(1280, 720, 81) == 21 * 45 * 80
    five_b = COSTS.architectures["ti2v-5b"]
    assert five_b.tokens(1280, 704, 121) == 31 * 22 * 40


def test_unmeasured_sizes_scale_by_work_not_by_pixels():
    high, ultra = PRESETS.resolve("high"), PRESETS.resolve("ultra")
    small = COSTS.estimate(high, [81], "H100").denoise_s
    big = COSTS.estimate(ultra, [81], "H100").denoise_s
    pixel_ratio = (832 * 480) / (1280 * 720)
    # between linear (pixels) and quadratic (attention) in the token count
    assert pixel_ratio**2 < small / big < pixel_ratio
    a14b = COSTS.architectures["a14b"]
    flops_ratio = a14b.forward_flops(832, 480, 81) / a14b.forward_flops(1280, 720, 81)
    assert small / big == pytest.approx(flops_ratio)
    shorter = COSTS.estimate(ultra, [41], "H100").denoise_s
    assert shorter < big / 2 * 1.05 and shorter > big / 4


def test_more_shots_cost_more_and_load_is_counted_once():
    params = PRESETS.resolve("standard")
    one = COSTS.estimate(params, [121], "H100")
    three = COSTS.estimate(params, [121, 121, 121], "H100")
    assert three.denoise_s == pytest.approx(3 * one.denoise_s)
    assert three.load_s == one.load_s
    assert COSTS.estimate(params, [121], "H100", include_load=False).load_s == 0


def test_gpus_with_only_whole_run_figures():
    a100 = COSTS.estimate(PRESETS.resolve("ultra"), [81], "A100")
    assert a100.denoise_s == pytest.approx(2735.7)
    assert any("whole-run" in b for b in a100.basis)
    rtx = COSTS.estimate(PRESETS.resolve("standard"), [121], "RTX 4090")
    assert rtx.denoise_s == pytest.approx(534.7)


def test_no_figures_means_no_estimate():
    with pytest.raises(NoFigures, match="GPUs with figures: A100, H100, RTX4090"):
        COSTS.estimate(PRESETS.resolve("standard"), [121], "L40S")
