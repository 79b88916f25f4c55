"""Rendering shots with the real diffusers pipelines on tiny random-weight Wan models (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from generation.models import MissingWeights, locate, resolve_model
from generation.render import Renderer, ShotRequest
from tests.conftest import WANFLOW
from wanflow.settings import Settings


def request(**overrides) -> ShotRequest:
    values = {
        "prompt": "海怪从深海升起",
        "negative_prompt": "模糊",
        "seed": 7,
        "width": 1280,
        "height": 720,
        "num_frames": 9,
        "fps": 16,
        "steps": 3,
        "guidance": 4.0,
        "shift": 12.0,
    }
    return ShotRequest(**(values | overrides))


def test_same_request_same_frames_and_the_seed_matters(settings, renderer):
    spec = resolve_model("tiny", settings)
    first = renderer.render(spec, request())
    again = renderer.render(spec, request())
    other = renderer.render(spec, request(seed=8))
    assert first.frames.shape == (9, 64, 112, 3)
    assert np.array_equal(first.frames, again.frames)
    assert not np.allclose(first.frames, other.frames)
    assert first.frames.dtype == np.float32 and 0 <= first.frames.min() <= first.frames.max() <= 1


def test_a_model_stays_resident_across_shots(settings, renderer):
    spec = resolve_model("tiny", settings)
    renderer.render(spec, request())
    pipe = renderer.load(spec).pipe
    again = renderer.render(spec, request(seed=3))
    assert renderer.load(spec).pipe is pipe
    assert again.load_s == 0.0
    assert Renderer(settings).load(spec).pipe is pipe  # per process, not per instance


@pytest.mark.parametrize(("steps", "shift"), [(4, 12.0), (6, 12.0), (5, 3.0)])
def test_the_experts_switch_at_the_boundary_step(settings, renderer, steps, shift):
    """The high-noise expert runs while t ≥ 0.875 × 1000, then the low-noise one, every step
    observed on the modules themselves."""
    spec = resolve_model("tiny-t2v-a14b", settings)
    rendered = renderer.render(
        spec, request(steps=steps, shift=shift, guidance=4.0, guidance_2=3.0)
    )
    scheduler = renderer.load(spec).pipe.scheduler
    assert scheduler.config.flow_shift == shift
    scheduler.set_timesteps(steps)
    expected = [
        "transformer" if t >= 875 else "transformer_2" for t in scheduler.timesteps.tolist()
    ]
    assert "transformer_2" in expected  # the case exercises a switch
    assert rendered.experts == expected


def test_one_transformer_models_never_use_a_second(settings, renderer):
    rendered = renderer.render(resolve_model("tiny", settings), request(steps=4))
    assert rendered.experts == ["transformer"] * 4


@pytest.mark.parametrize("name", ["tiny-i2v-a14b", "tiny-ti2v-5b"])
def test_image_to_video_follows_the_reference_image(settings, renderer, tmp_path, name):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        path = tmp_path / f"ref{i}.png"
        Image.fromarray(rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    spec = resolve_model(name, settings)
    height = 704 if name == "tiny-ti2v-5b" else 720
    one = renderer.render(spec, request(image=paths[0], height=height, shift=5.0))
    same = renderer.render(spec, request(image=paths[0], height=height, shift=5.0))
    two = renderer.render(spec, request(image=paths[1], height=height, shift=5.0))
    assert one.frames.shape[0] == 9
    assert np.array_equal(one.frames, same.frames)
    assert not np.allclose(one.frames, two.frames)


def test_the_ti2v_model_also_makes_video_from_text_alone(settings, renderer):
    rendered = renderer.render(
        resolve_model("tiny-ti2v-5b", settings), request(height=704, shift=5.0)
    )
    assert rendered.frames.shape == (9, 64, 128, 3)


def test_requests_a_model_cannot_take_are_refused(settings, renderer, tmp_path):
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(image)
    with pytest.raises(ValueError, match="text only"):
        renderer.render(resolve_model("tiny-t2v-a14b", settings), request(image=image))
    with pytest.raises(ValueError, match="needs a reference image"):
        renderer.render(resolve_model("tiny-i2v-a14b", settings), request())
    with pytest.raises(ValueError, match="4k\\+1"):
        renderer.render(resolve_model("tiny", settings), request(num_frames=10))
    with pytest.raises(ValueError, match="multiple of 32"):
        renderer.render(resolve_model("tiny-ti2v-5b", settings), request(height=720))


def test_tiny_stand_ins_keep_the_aspect_ratio_on_the_models_grid(settings):
    assert resolve_model("tiny", settings).render_size(1280, 720) == (112, 64)
    assert resolve_model("tiny", settings).render_size(480, 832) == (64, 112)
    assert resolve_model("tiny-ti2v-5b", settings).render_size(1280, 704) == (128, 64)
    assert resolve_model("tiny-ti2v-5b", settings).render_size(704, 1280) == (64, 128)


def test_a_real_model_setting_of_tiny_swaps_in_its_stand_in(settings):
    swapped = settings.model_copy(update={"model_ti2v": "tiny"})
    spec = resolve_model("ti2v-5b", swapped)
    assert spec.tiny and spec.name == "tiny-ti2v-5b" and spec.defaults.steps == 50


def test_missing_weights_say_what_was_looked_for_and_how_to_provide_it(settings, tmp_path):
    gone = settings.model_copy(update={"model_t2v": str(tmp_path / "nowhere")})
    with pytest.raises(MissingWeights, match="nowhere does not exist; set WANFLOW_MODEL_T2V"):
        locate(resolve_model("t2v-a14b", gone), gone)
    empty_cache = settings.model_copy(update={"model_cache": tmp_path / "hub"})
    with pytest.raises(MissingWeights) as caught:
        locate(resolve_model("ti2v-5b", empty_cache), empty_cache)
    message = str(caught.value)
    assert "Wan-AI/Wan2.2-TI2V-5B-Diffusers is not in" in message and "hub" in message
    assert "huggingface-cli download" in message and "WANFLOW_MODEL_TI2V" in message
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    with pytest.raises(MissingWeights, match="not a diffusers model directory"):
        resolve_model(str(not_a_model), settings)
    with pytest.raises(MissingWeights, match="unknown model 'sdxl'"):
        resolve_model("sdxl", settings)


def test_a_model_directory_is_recognised_by_its_layout(settings):
    for name, layout, task in [
        ("tiny", "single", "t2v"),
        ("tiny-t2v-a14b", "experts", "t2v"),
        ("tiny-i2v-a14b", "experts", "i2v"),
        ("tiny-ti2v-5b", "ti2v", "ti2v"),
    ]:
        directory = locate(resolve_model(name, settings), settings)
        spec = resolve_model(directory, settings)
        assert (spec.layout, spec.task, spec.tiny) == (layout, task, False), name


def test_cli_generate_writes_an_h264_clip_and_its_last_frame(settings, tmp_path):
    from wanflow.video import probe

    out = tmp_path / "clip.mp4"
    env = {"WANFLOW_MODEL_DIR": str(settings.model_dir), "WANFLOW_DEVICE": "cpu"}
    args = ["--model", "tiny", "--prompt", "星空下的猎人", "--frames", "17", "--steps", "2"]
    result = subprocess.run(
        [WANFLOW, "generate", *args, "--seed", "5", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    info = probe(out)
    assert (info.frames, info.fps, info.width, info.height) == (17, 16, 112, 64)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert payload["frames"] == 17 and payload["seed"] == 5 and payload["model"] == "tiny"
    assert (tmp_path / "clip.last.png").is_file()


def test_cli_generate_reports_missing_weights_with_exit_2(tmp_path):
    env = {
        **os.environ,
        "WANFLOW_MODEL_T2V": str(tmp_path / "missing"),
        "WANFLOW_DEVICE": "cpu",
    }
    result = subprocess.run(
        [WANFLOW, "generate", "--model", "t2v-a14b", "-p", "x", "--out", str(tmp_path / "a.mp4")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 2
    assert "WANFLOW_MODEL_T2V" in result.stderr
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "1000001"], "--frames 1000001: tiny takes 4k+1 frames from 1 to 81"),
        (["--frames", "0"], "--frames 0: use a positive 4k+1 count"),
        (["--frames", "10"], "--frames 10: tiny takes 4k+1 frames"),
        (["--steps", "100000000"], "--steps 100000000: use 1 to 200"),
        (["--steps", "0"], "--steps 0: use 1 to 200"),
        (["--size", "64x1048576"], "--size 64x1048576: width x height must be 1 to 921600"),
        (["--size", "1280x160"], "the longer side may be at most 4x the shorter"),
        (["--size", "840x480"], "--size 840x480: tiny needs each side a multiple of 16"),
        (["--seed", "-1"], "--seed -1: use 0 to"),
        (["--prompt", "a\x1bb"], "--prompt: control character U+001B (ESC)"),
    ],
)
def test_cli_generate_refuses_sizes_no_model_can_take_before_loading(
    settings, tmp_path, args, message
):
    out = tmp_path / "clip.mp4"
    env = {"WANFLOW_MODEL_DIR": str(settings.model_dir), "WANFLOW_DEVICE": "cpu"}
    result = subprocess.run(
        [WANFLOW, "generate", "--model", "tiny", "-p", "x", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def _png_header(width: int, height: int) -> bytes:
    """A PNG's header and an empty image data chunk: what PIL reads to learn the size."""
    import struct
    import zlib

    def chunk(body: bytes) -> bytes:
        return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(ihdr) + chunk(b"IDAT")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an image at all", "not an image PIL can read"),
        (_png_header(10_000, 10_000), "10000x10000 is over 67108864 pixels"),
    ],
)
def test_cli_generate_refuses_a_reference_image_it_cannot_use(settings, tmp_path, data, message):
    image = tmp_path / "ref.png"
    image.write_bytes(data)
    out = tmp_path / "clip.mp4"
    env = {"WANFLOW_MODEL_DIR": str(settings.model_dir), "WANFLOW_DEVICE": "cpu"}
    args = ["--model", "tiny-ti2v-5b", "-p", "x", "--image", str(image), "--out", str(out)]
    result = subprocess.run(
        [WANFLOW, "generate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_settings_offer_exactly_the_memory_plans():
    from typing import get_args

    from generation.memory import CPU_PLANS, GPU_PLANS

    offered = set(get_args(Settings.model_fields["memory_plan"].annotation))
    assert offered == {"auto", *(p.name for p in (*GPU_PLANS, *CPU_PLANS))}


def test_encoding_prompts_apart_gives_the_same_frames(settings):
    """The text-encoder-on-CPU path (embeddings handed to the pipeline) changes nothing."""
    from generation.pipelines import unload

    spec = resolve_model("tiny-t2v-a14b", settings)
    unload()
    plain = Renderer(settings).render(spec, request(guidance_2=3.0))
    unload()
    apart = Renderer(settings.model_copy(update={"memory_plan": "cpu-tiled"}))
    rendered = apart.render(spec, request(guidance_2=3.0))
    unload()
    assert (plain.plan, rendered.plan) == ("cpu", "cpu-tiled")
    assert np.allclose(plain.frames, rendered.frames, atol=1e-6)


class _RunsOutOnce:
    """Makes the next pipeline call raise CUDA's out-of-memory error, as a full GPU would."""

    def __init__(self, monkeypatch):
        from diffusers import WanPipeline

        self.raised = 0
        real = WanPipeline.__call__

        def call(pipe, *args, **kwargs):
            if self.raised == 0:
                self.raised += 1
                import torch

                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return real(pipe, *args, **kwargs)

        monkeypatch.setattr(WanPipeline, "__call__", call)


def test_out_of_memory_unloads_and_names_the_next_plan(settings, monkeypatch):
    from generation.pipelines import OutOfMemory, forget_out_of_memory, unload

    unload()
    forget_out_of_memory()
    renderer, spec = Renderer(settings), resolve_model("tiny", settings)
    _RunsOutOnce(monkeypatch)
    with pytest.raises(OutOfMemory) as caught:
        renderer.render(spec, request())
    assert (caught.value.plan, caught.value.next_plan, caught.value.tried) == (
        "cpu",
        "cpu-tiled",
        ["cpu"],
    )
    assert not renderer.is_resident(spec)
    again = renderer.render(spec, request())
    assert again.plan == "cpu-tiled" and again.load_s > 0
    forget_out_of_memory()
    unload()


def test_the_generate_task_retries_an_out_of_memory_shot_once_on_the_next_plan(
    prefect_api, wanflow_env, storage, monkeypatch
):
    from generation.clips import ClipJob
    from generation.pipelines import forget_out_of_memory, unload
    from tasks.generate import generate_clip

    unload()
    forget_out_of_memory()
    runs_out = _RunsOutOnce(monkeypatch)
    job = ClipJob(item_id="a", shot=1, model="t2v-a14b", request=request(guidance_2=3.0))
    record = generate_clip.with_options(retry_delay_seconds=0)(job, Settings())
    assert runs_out.raised == 1
    assert record.plan == "cpu-tiled"
    meta = json.loads(storage.get_bytes(record.key.replace("clip.mp4", "meta.json")))
    assert meta["plan"] == "cpu-tiled"
    forget_out_of_memory()
    unload()


def test_a_second_out_of_memory_is_not_retried(prefect_api, wanflow_env, monkeypatch):
    from generation.clips import ClipJob
    from generation.pipelines import OutOfMemory, forget_out_of_memory, unload
    from tasks.generate import generate_clip

    unload()
    forget_out_of_memory()
    from diffusers import WanPipeline

    def always(pipe, *args, **kwargs):
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(WanPipeline, "__call__", always)
    job = ClipJob(item_id="a", shot=1, model="t2v-a14b", request=request(seed=99))
    with pytest.raises(OutOfMemory) as caught:
        generate_clip.with_options(retry_delay_seconds=0)(job, Settings())
    assert caught.value.tried == ["cpu", "cpu-tiled"]
    forget_out_of_memory()
    unload()


def test_attention_backend_choice_and_validation():
    from generation.speed import attention_backend, should_compile

    assert attention_backend("auto", "cpu") == "native"
    assert attention_backend("auto", "cuda") == "native"  # no faster kernel installed here
    assert attention_backend("_native_math", "cpu") == "_native_math"
    with pytest.raises(ValueError, match="usable offline; accepted: auto, flash"):
        attention_backend("flash_hub", "cuda")
    assert should_compile("auto", "cuda") and not should_compile("auto", "cpu")
    assert should_compile("true", "cpu") and not should_compile("false", "cuda")


def test_a_chosen_attention_backend_is_set_and_recorded(settings):
    from generation.pipelines import unload

    spec = resolve_model("tiny", settings)
    unload()
    default = Renderer(settings).render(spec, request())
    unload()
    math = Renderer(settings.model_copy(update={"attention_backend": "_native_math"}))
    rendered = math.render(spec, request())
    processor = math.load(spec).pipe.transformer.blocks[0].attn1.processor
    unload()
    assert (default.speed, rendered.speed) == ("native", "_native_math")
    assert processor._attention_backend.value == "_native_math"
    assert np.allclose(default.frames, rendered.frames, atol=1e-4)


@pytest.fixture(scope="module")
def lightning(tmp_path_factory, settings):
    """A Lightning-layout LoRA release for the tiny two-expert model, with random weights."""
    import torch
    from diffusers import WanPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from generation.tiny import build_tiny_pipeline

    directory = tmp_path_factory.mktemp("lightning")
    pipe = build_tiny_pipeline("tiny-t2v-a14b")
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    torch.manual_seed(0)
    for name, file in (
        ("transformer", "high_noise_model.safetensors"),
        ("transformer_2", "low_noise_model.safetensors"),
    ):
        module = getattr(pipe, name)
        module.add_adapter(config)
        with torch.no_grad():  # LoRA B starts at zero: give it weights that change the output
            for pname, param in module.named_parameters():
                if "lora_B" in pname:
                    param.normal_(0, 0.5)
        WanPipeline.save_lora_weights(
            directory, transformer_lora_layers=get_peft_model_state_dict(module), weight_name=file
        )
    return directory


def test_the_fast_preset_loads_lightning_into_both_experts_and_never_leaks(settings, lightning):
    from generation.pipelines import unload

    unload()
    with_lora = settings.model_copy(update={"lightning_lora_t2v": lightning})
    renderer, spec = Renderer(with_lora), resolve_model("tiny-t2v-a14b", with_lora)
    fast = request(steps=4, guidance=1.0, guidance_2=1.0, lora="lightning", cache="first-block")
    plain = request(steps=4, guidance=1.0, guidance_2=1.0)
    before = renderer.render(spec, plain)
    lora = renderer.render(spec, fast)
    after = renderer.render(spec, plain)
    pipe = renderer.load(spec).pipe
    assert set(pipe.transformer.peft_config) == set(pipe.transformer_2.peft_config) == {"lightning"}
    assert not pipe.transformer.is_cache_enabled and not pipe.transformer_2.is_cache_enabled
    assert not np.allclose(before.frames, lora.frames, atol=1e-3)
    assert np.array_equal(before.frames, after.frames)  # adapters off again
    assert set(lora.experts) == {"transformer", "transformer_2"}  # both experts, with LoRA
    unload()


def test_the_fast_preset_without_its_loras_says_which_setting(settings):
    from generation.pipelines import unload

    unload()
    spec = resolve_model("tiny-t2v-a14b", settings)
    with pytest.raises(MissingWeights, match="set WANFLOW_LIGHTNING_LORA_T2V"):
        Renderer(settings).render(spec, request(lora="lightning", guidance=1.0))
    unload()


@pytest.mark.parametrize("name", ["tiny-t2v-a14b", "tiny-ti2v-5b", "tiny-i2v-a14b"])
def test_guidance_in_one_batch_gives_the_same_frames(settings, tmp_path, name):
    from PIL import Image

    from generation.pipelines import unload

    image = None
    if name == "tiny-i2v-a14b":
        image = tmp_path / "ref.png"
        rng = np.random.default_rng(1)
        Image.fromarray(rng.integers(0, 256, (64, 112, 3), dtype=np.uint8)).save(image)
    height = 704 if name == "tiny-ti2v-5b" else 720
    shot = request(steps=4, guidance=4.0, guidance_2=3.0, height=height, image=image)
    spec = resolve_model(name, settings)
    unload()
    separate = Renderer(settings).render(spec, shot)
    batched_renderer = Renderer(settings.model_copy(update={"cfg_batch": True}))
    calls: list[int] = []  # the batch size reaching the transformer's first layer
    embed = batched_renderer.load(spec).pipe.transformer.patch_embedding
    embed.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    batched = batched_renderer.render(spec, shot)
    unload()
    assert batched.speed.endswith("+cfg-batch") and not separate.speed.endswith("+cfg-batch")
    assert batched.experts == separate.experts
    assert np.allclose(batched.frames, separate.frames, atol=1e-5)
    assert calls and set(calls) == {2}  # every forward ran both branches at once


def test_hub_settings_reach_the_environment_before_diffusers_is_imported(tmp_path, monkeypatch):
    """In a fresh process the renderer sets the variables before the first diffusers import."""
    from generation.models import configure_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    configure_hub(Settings(hf_offline=True, model_cache=tmp_path / "hub"))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["HF_HUB_CACHE"] == str(tmp_path / "hub")
    code = (
        "import sys\n"
        "from generation.render import Renderer\n"
        "from wanflow.settings import Settings\n"
        "assert 'diffusers' not in sys.modules\n"
        "Renderer(Settings(device='cpu'))\n"
        "import huggingface_hub.constants as c\n"
        "print(c.HF_HUB_OFFLINE)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_only_caching_presets_cache_and_the_setting_picks_the_kind():
    from generation.adapters import effective_cache

    assert effective_cache(None, "taylorseer") is None  # a lossless preset never caches
    assert effective_cache("first-block", "preset") == "first-block"
    assert effective_cache("first-block", "magcache") == "magcache"
    assert effective_cache("first-block", "none") is None


@pytest.mark.parametrize("cache", ["first-block", "taylorseer", "magcache"])
def test_each_step_cache_runs_on_both_experts_for_one_shot_only(settings, tmp_path, cache):
    from generation.pipelines import unload

    ratios = tmp_path / "ratios.json"
    per_expert = {"transformer": [1.0] * 8, "transformer_2": [1.0] * 8}
    ratios.write_text(json.dumps({"t2v-a14b": per_expert}))
    configured = settings.model_copy(update={"magcache_ratios": ratios})
    renderer, spec = Renderer(configured), resolve_model("tiny-t2v-a14b", configured)
    unload()
    plain = renderer.render(spec, request(steps=8, guidance_2=3.0))
    cached = renderer.render(spec, request(steps=8, guidance_2=3.0, cache=cache))
    again = renderer.render(spec, request(steps=8, guidance_2=3.0))
    pipe = renderer.load(spec).pipe
    assert not pipe.transformer.is_cache_enabled and not pipe.transformer_2.is_cache_enabled
    unload()
    assert cached.speed.endswith(f"+{cache}") and plain.speed == "native"
    assert np.array_equal(plain.frames, again.frames)
    assert not np.array_equal(plain.frames, cached.frames)  # the cache really skipped work


def test_magcache_without_calibrated_ratios_says_how_to_get_them(settings):
    from generation.pipelines import unload

    unload()
    spec = resolve_model("tiny-t2v-a14b", settings)
    with pytest.raises(MissingWeights, match="WANFLOW_MAGCACHE_RATIOS"):
        Renderer(settings).render(spec, request(cache="magcache"))
    unload()


def test_compiled_blocks_still_take_the_fast_presets_caches(settings):
    """Caches hook every block with functions Dynamo must not trace: compiled blocks must
    allow graph breaks (the eager backend runs Dynamo's tracing without inductor's compile)."""
    from types import SimpleNamespace

    import torch
    from diffusers import DiffusionPipeline

    from generation.adapters import enable_cache
    from generation.speed import apply_speed
    from generation.tiny import tiny_model_dir

    pipe = DiffusionPipeline.from_pretrained(
        tiny_model_dir("tiny-t2v-a14b", settings.model_dir), local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)
    speed = apply_speed(pipe, attention="native", compile_blocks=True, compile_backend="eager")
    loaded = SimpleNamespace(pipe=pipe)

    def shot():
        return pipe(
            prompt="海怪",
            height=64,
            width=64,
            num_frames=5,
            num_inference_steps=3,
            guidance_scale=4.0,
            guidance_scale_2=3.0,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).frames[0]

    for cache in ("first-block", "taylorseer"):
        enable_cache(loaded, cache, settings=settings)
        try:
            frames = shot()
        finally:
            enable_cache(loaded, None, settings=settings)
        assert np.isfinite(frames).all()
    assert speed.label() == "native+compiled"


def test_magcache_ratios_are_per_expert_with_each_experts_own_step_count(settings, tmp_path):
    from generation.adapters import expert_steps, magcache_ratios

    ratios = tmp_path / "ratios.json"
    ratios.write_text(json.dumps({"t2v-a14b": [1.0] * 8, "tiny": [0.9] * 4}))
    configured = settings.model_copy(update={"magcache_ratios": ratios})
    with pytest.raises(MissingWeights, match="has two experts"):
        magcache_ratios(configured, resolve_model("tiny-t2v-a14b", configured))
    assert magcache_ratios(configured, resolve_model("tiny", configured)) == {
        "transformer": [0.9] * 4
    }
    renderer = Renderer(settings)
    spec = resolve_model("tiny-t2v-a14b", settings)
    rendered = renderer.render(spec, request(steps=8, guidance_2=3.0))
    counts = expert_steps(renderer.load(spec).pipe, 8)
    assert counts == {
        "transformer": rendered.experts.count("transformer"),
        "transformer_2": rendered.experts.count("transformer_2"),
    }
    assert counts["transformer_2"] > 0


def test_the_clip_hash_follows_the_weights_lora_and_calibration(settings, tmp_path):
    from generation.clips import clip_hash, files_fingerprint

    weights = tmp_path / "weights"
    (weights / "transformer").mkdir(parents=True)
    shard = weights / "transformer" / "model.safetensors"
    shard.write_bytes(b"header" + bytes(100))
    first = files_fingerprint(str(weights))
    shard.write_bytes(b"HEADER" + bytes(100))  # same size, new header
    files_fingerprint.cache_clear()
    second = files_fingerprint(str(weights))
    shard.write_bytes(b"HEADER" + bytes(101))
    files_fingerprint.cache_clear()
    third = files_fingerprint(str(weights))
    assert len({first, second, third}) == 3

    spec, shot = resolve_model("tiny", settings), request()
    base = clip_hash(spec, shot, None, {"weights": first})
    assert base == clip_hash(spec, shot, None, {"weights": first})
    assert base != clip_hash(spec, shot, None, {"weights": second})
    assert base != clip_hash(spec, shot, None, {"weights": first, "lora": "x"})
    assert base != clip_hash(spec, shot, "ab" * 32, {"weights": first})
    assert base != clip_hash(spec, request(seed=8), None, {"weights": first})
