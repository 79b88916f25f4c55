"""Smoke test of benchmarks/generation.py: it runs end to end on the CPU (tiny models) and its
FLOP count is right. Not a timing test: no figure is compared with a speed."""

from __future__ import annotations

import json
import math
import os
import runpy
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "generation.py"


@pytest.fixture(scope="module")
def bench() -> dict:
    """The script's namespace, loaded without running it (its top level imports no torch)."""
    return runpy.run_path(str(SCRIPT), run_name="wanflow_benchmark_generation")


def test_forward_flops_hand_computed(bench):
    flops = bench["forward_flops"]
    # 10 tokens, 1000 block parameters, 2 layers of width 8, 4 text tokens:
    # 2*10*1000 + 4*2*10²*8 + 4*2*10*4*8 = 20000 + 6400 + 2560
    assert flops(10, 1000, 2, 8, text_tokens=4) == 28_960
    assert flops(1, 1, 1, 1) == 2 + 4 + 4 * 512  # 512 text tokens by default


def test_real_architectures_on_meta_device(bench):
    """The configs build at full size (meta device: no memory) with the expected sizes."""
    import torch
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from generation.memory import geometry

    sizes = {}
    for name in ("A14B", "TI2V_5B"):
        with torch.device("meta"):
            model = WanTransformer3DModel(**bench[name])
        sizes[name] = sum(p.numel() for p in model.blocks.parameters())
    assert sizes == {"A14B": 14_055_772_160, "TI2V_5B": 4_909_701_120}
    assert geometry(1280, 720, 81).tokens == 75_600
    assert geometry(1280, 704, 121, spatial=16).tokens == 27_280
    a14b = 2 * 75_600 * 14_055_772_160 + 4 * 40 * 75_600**2 * 5120 + 4 * 40 * 75_600 * 512 * 5120
    assert bench["denoiser_flops"](bench["A14B"], 75_600) == a14b  # ≈ 6.84 PFLOP
    with torch.device("meta"):
        vae = AutoencoderKLWan(**bench["VAE22"])
    assert vae.config.z_dim == 48 and vae.config.decoder_base_dim == 256
    assert vae.spatial_compression_ratio == 16


def test_cpu_run_writes_rows_for_every_component(tmp_path):
    out = tmp_path / "rows.json"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--repeats", "1", "--no-compile"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*command, "--json", str(out)],
        cwd=tmp_path,  # not the repository root: the script must find its imports itself
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "NOT comparable" in done.stdout
    rows = json.loads(out.read_text())["rows"]

    def finite_positive(value) -> bool:
        return isinstance(value, (int, float)) and math.isfinite(value) and value > 0

    seen = {(r["config"], r["column"], r.get("variant")) for r in rows}
    for config in ("a14b-720p", "a14b-480p", "ti2v-720p"):
        assert {(config, "documented", None), (config, "wanflow", None)} <= seen
    for config in ("vae21-720p", "vae22-704p"):
        variants = {v for c, _, v in seen if c == config}
        assert variants == {"float32", "float32-tiled", "bfloat16", "bfloat16-tiled"}
    assert ("umt5", "documented", "float32") in seen
    for row in rows:
        assert row["tiny"] is True and row["device"] == "cpu"
        for key in ("seconds", "flops", "tflops", "mfu"):
            assert finite_positive(row[key]), (row["config"], key, row[key])
        if row["component"] == "denoiser":  # the FLOPs printed are the formula's
            width = 2 * 12  # generation/tiny.py: 2 heads x 12
            expected = 2 * row["tokens"] * row["block_params"]
            expected += 4 * 2 * row["tokens"] ** 2 * width + 4 * 2 * row["tokens"] * 512 * width
            assert row["flops"] == expected
            assert row["s_per_step"] == 2 * row["seconds"]
            assert finite_positive(row["clip_seconds"])


def comparison(stdout: str, benchmark: str, repeats: int) -> dict:
    """The last line's figures, checked against the side-by-side contract."""
    figures = json.loads(stdout.splitlines()[-1])
    assert figures["benchmark"] == benchmark
    for key in ("wanflow_s", "baseline_s", "ratio"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    ratio = figures["wanflow_s"] / figures["baseline_s"]
    assert math.isclose(figures["ratio"], ratio, rel_tol=1e-3, abs_tol=1e-4)
    assert len(figures["wanflow_runs"]) == len(figures["baseline_runs"]) == repeats
    assert math.isclose(
        figures["wanflow_s"], statistics.median(figures["wanflow_runs"]), abs_tol=1e-5
    )
    assert math.isclose(
        figures["baseline_s"], statistics.median(figures["baseline_runs"]), abs_tol=1e-5
    )
    for when in ("start", "end"):
        load = figures["load_avg"][when]
        assert len(load) == 3 and all(v >= 0 for v in load)
    assert "ratio wanflow/baseline" in stdout
    return figures


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=cwd,  # not the repository root: the script must find its imports itself
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_review_benchmark_runs_and_prints_every_classifier(tmp_path):
    result = run_script("review.py", "--seconds", "2", "--repeats", "1", "--json", cwd=tmp_path)
    for label in ("NudeNet 320n", "open_nsfw", "OpenCLIP ViT-B-32", "OpenCLIP ViT-S-32"):
        assert label in result.stdout
    assert any(line.startswith("default review") for line in result.stdout.splitlines())
    figures = comparison(result.stdout, "review", 1)
    assert figures["frames"] > 0


def test_the_compose_benchmark_runs_and_prints_its_steps(tmp_path):
    args = ["--shots", "2", "--seconds", "2", "--size", "320x192", "--repeats", "2", "--json"]
    result = run_script("compose.py", *args, cwd=tmp_path)
    for step in ("narrate", "normalise", "join", "mix", "mux", "check", "thumbnail"):
        assert f"  {step} " in result.stdout
    assert "(linear)" in result.stdout
    assert any(line.startswith("speed: ") for line in result.stdout.splitlines())
    figures = comparison(result.stdout, "compose", 2)
    # The baseline holds its shots for the narration too: the two videos are about as long.
    assert 0.7 < figures["baseline_video_s"] / figures["wanflow_video_s"] < 1.3


def test_the_ingest_benchmark_compares_validate_with_csv_and_pydantic(tmp_path):
    result = run_script("ingest.py", "600", "--repeats", "2", "--json", cwd=tmp_path)
    assert "validate (stream, count only)" in result.stdout
    figures = comparison(result.stdout, "ingest", 2)
    assert figures["rows"] == 600 and figures["rejected"] == 2  # one row in 250, both sides


def test_the_screen_benchmark_compares_with_a_bare_automaton(tmp_path):
    result = run_script("screen.py", "1500", "300", "--repeats", "2", "--json", cwd=tmp_path)
    assert "evasions caught" in result.stdout
    figures = comparison(result.stdout, "screen", 2)
    assert figures["found"] == figures["planted"] > 0
    assert figures["baseline_found"] <= figures["planted"]


@pytest.mark.slow
def test_the_pipeline_benchmark_measures_both_parts_and_accounts_for_every_second(tmp_path):
    """Tiny sizes: 200 rows through the pre-GPU stages, 2 items through the whole flow."""
    script = ROOT / "benchmarks" / "pipeline.py"
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(script), "--items", "2", "--scale", "200", "--json", str(out)],
        cwd=tmp_path,  # not the repository root: the script must find its imports itself
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    lines = result.stdout.splitlines()

    scale = figures["scale"]
    assert list(scale["seconds"]) == ["config", "ingest", "expand", "screen", "plan"]
    assert all(0 < s < 60 for s in scale["seconds"].values())
    assert math.isclose(scale["total_s"], sum(scale["seconds"].values()))
    assert 0 < scale["peak_bytes"] < 2**30 and scale["peak_reset"]
    assert scale["valid"] + scale["rejected"] == 200
    assert scale["rejected"] >= scale["planted"]["rejected"] > 0
    assert scale["blocked"] >= scale["planted"]["blocked"] > 0
    failed = scale["expand_failed"] + scale["plan_failed"]
    assert scale["planned"] == scale["valid"] - scale["blocked"] - failed
    assert scale["shots"] >= scale["planned"]
    for name in scale["seconds"]:
        assert any(line.startswith(f"  {name} ") for line in lines), name
    assert f"scale: {'PASS' if scale['passed'] else 'FAIL'} (" in result.stdout

    flow = figures["flow"]
    assert flow["status"] == "succeeded" and flow["warm_up"]["status"] == "succeeded"
    assert flow["shots"] == flow["clips"] == 2  # short items: one shot each, all rendered
    assert sum(flow["statuses"].get(s, 0) for s in ("composed", "published")) == 2
    assert flow["fleet"] == "local" and flow["cpu_concurrency"] >= 1
    assert flow["clip_render_s"] > 0
    assert 0 < flow["busy_s"] < flow["wall_s"]
    assert flow["busy_s"] <= flow["work_s"] + 0.01  # overlapping work is counted once in busy
    assert math.isclose(flow["overhead_s"], flow["wall_s"] - flow["busy_s"])
    assert math.isclose(flow["overhead_per_item_s"], flow["overhead_s"] / 2)
    # Every second of the wall is charged once, to what was going on; what no timer recognised
    # lands in the flow's own code, which must stay small.
    charged = flow["charged"]
    assert math.isclose(sum(charged.values()), flow["wall_s"], abs_tol=1e-6)
    assert all(seconds >= 0 for seconds in charged.values())
    assert math.isclose(charged["work"], flow["busy_s"])
    assert charged["untimed"] < 0.05
    assert charged["own_code"] < 0.05 * flow["wall_s"]
    for activity in ("engine", "dispatch", "worker", "flow_engine"):
        assert charged[activity] > 0, activity
    # Work by stage and by task (thread-seconds), and Prefect's time by task.
    staged = sum(s["work_s"] for s in flow["stages"]) + flow["outside_stages_work_s"]
    assert math.isclose(staged, flow["work_s"], rel_tol=1e-9)
    assert math.isclose(sum(t["work_s"] for t in flow["tasks"].values()), flow["work_s"])
    assert all(t["work_s"] > 0 for t in flow["tasks"].values())  # every task's function timed
    assert flow["outside_stages_work_s"] < 0.5 * flow["work_s"]  # work found in its stages
    assert all(t["engine_s"] > -0.01 for t in flow["tasks"].values())
    assert all(f["engine_s"] > -0.01 for f in flow["flows"].values())
    render = [t for name, t in flow["tasks"].items() if name.startswith("render-")]
    assert sum(t["runs"] for t in render) == sum(t["sent"] for t in render) == 2
    assert all(t["delay_s"] > 0 for t in render)
    assert math.isclose(flow["render_work_s"], sum(t["work_s"] for t in render))
    assert flow["render_work_s"] > 0
    clip_s = flow["clip_load_s"] + flow["clip_render_s"]
    assert clip_s <= flow["render_work_s"] + flow["render_artifacts_s"] + 0.01
    assert flow["dispatcher"]["polls"] >= 1 and flow["dispatcher"]["worker_start_s"] > 0
    stages = {s["stage"]: s for s in flow["stages"]}
    assert math.isclose(stages["generate"]["work_s"], flow["render_work_s"])
    assert len(flow["stages"]) >= 5
    for stage in flow["stages"]:
        assert 0 <= stage["work_s"] <= stage["wall_s"] + 0.01, stage
        assert any(line.startswith(f"  {stage['stage']} ") for line in lines), stage
    verdict = "PASS" if flow["passed"] else "FAIL"
    assert lines[-1].startswith(f"overhead: {verdict} (")


@pytest.mark.slow
def test_the_fleet_benchmark_runs_the_flow_on_simulated_gpu_workers(tmp_path):
    """3 items (one per model, the second held for approval) through the whole flow on 1 and 2
    simulated GPU worker processes, at a tiny time scale: the figures exist and are sane."""
    script = ROOT / "benchmarks" / "fleet.py"
    command = [sys.executable, str(script), "--items", "3", "--workers", "1", "2"]
    result = subprocess.run(
        [*command, "--time-scale", "0.002", "--no-warm-up", "--json"],
        cwd=tmp_path,  # not the repository root: the script must find its imports itself
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.splitlines()[-1])
    models = figures["models"]
    assert models == 3
    assert figures["solo"]["status"] == "succeeded"
    assert figures["solo"]["statuses"].get("published") == 1
    runs = figures["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    for run in runs:
        workers = run["workers"]
        assert run["status"] == "succeeded", run
        assert run["items"] == run["shots"] == run["shots_rendered"] == run["worker_shots"] == 3
        assert run["statuses"].get("published") == 2 and run["statuses"].get("held") == 1
        # Every model loaded once by some worker, never twice by the same one.
        assert models <= run["model_loads"] <= workers * models
        assert run["targets"]["one_load_per_worker_per_model"] is True
        assert len(run["loads_per_worker"]) == workers
        assert 0 < run["gpu_busy_fraction"] <= 1
        assert 0 < run["busy_while_queued"] <= 1 and run["stranded_idle_s"] >= 0
        assert 0 < run["render_s"] < run["wall_s"]
        assert 0 < run["dispatch_overhead_s"] < run["wall_s"]
        assert 0 < run["first_publish_s"] < run["wall_s"]
        assert isinstance(run["clean_published_while_held"], bool)
        assert run["speedup"] > 0 and isinstance(run["cpu_bound"], bool)
        assert run["load_avg"]["before"] and run["load_avg"]["after"]
        assert set(run["targets"]) >= {
            "busy_while_queued",
            "one_load_per_worker_per_model",
            "dispatch_overhead",
            "first_publish",
        }
    assert runs[0]["speedup"] == 1.0 and "speedup" in runs[1]["targets"]
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("targets: speedup") for line in lines)
