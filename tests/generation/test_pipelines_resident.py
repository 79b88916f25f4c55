"""How many models a process keeps loaded: WANFLOW_RESIDENT_MODELS per device, least recently
used out first, and never a new model loaded beside the one it replaces; which loaded copy a
renderer's settings may reuse; what running out of memory leaves behind (tiny models, CPU)."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from generation import pipelines
from generation.models import resolve_model
from generation.pipelines import (
    OutOfMemory,
    forget_out_of_memory,
    load,
    load_key,
    resident,
    resident_names,
    unload,
)
from generation.render import Renderer
from tests.generation import test_generate
from tests.generation.test_generate import request

lightning = test_generate.lightning  # the tiny two-expert model's LoRA release, as a fixture here


@pytest.fixture(autouse=True)
def _nothing_resident():
    unload()
    forget_out_of_memory()
    yield
    unload()
    forget_out_of_memory()


def _spec(name, settings):
    return resolve_model(name, settings)


def test_switching_model_unloads_the_old_one_before_loading_the_new(settings, monkeypatch):
    assert settings.resident_models == 1
    first, _ = load(_spec("tiny", settings), settings, "cpu")
    assert resident_names() == ["tiny"]
    old = weakref.ref(first.pipe)
    del first

    seen_while_loading = []
    real = pipelines._load

    def watched(spec, *args, **kwargs):
        seen_while_loading.append(resident_names())
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pipelines, "_load", watched)
    second, fresh = load(_spec("tiny-t2v-a14b", settings), settings, "cpu")
    assert fresh and second.name == "tiny-t2v-a14b"
    assert seen_while_loading == [[]]  # the old model was gone before the new one loaded
    assert resident_names() == ["tiny-t2v-a14b"]
    gc.collect()
    assert old() is None, "the unloaded pipeline is still referenced somewhere"

    # Back to the first: loaded again (not kept aside), the second unloaded first.
    _, fresh = load(_spec("tiny", settings), settings, "cpu")
    assert fresh and seen_while_loading == [[], []]
    assert resident_names() == ["tiny"]


def test_with_room_for_two_the_least_recently_used_goes(settings):
    roomy = settings.model_copy(update={"resident_models": 2})
    a, b, c = (_spec(n, roomy) for n in ("tiny", "tiny-t2v-a14b", "tiny-ti2v-5b"))
    load(a, roomy, "cpu")
    load(b, roomy, "cpu")
    assert resident_names() == ["tiny", "tiny-t2v-a14b"]
    _, fresh = load(a, roomy, "cpu")  # used again: now b is the least recent
    assert not fresh and resident_names() == ["tiny-t2v-a14b", "tiny"]
    load(c, roomy, "cpu")
    assert resident_names() == ["tiny", "tiny-ti2v-5b"]
    assert resident_names("cpu") == resident_names() and resident_names("cuda") == []


class _WatchedLock:
    """A pipeline's lock that says when another thread starts waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def __enter__(self):
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def test_a_model_rendering_a_shot_is_unloaded_only_after_the_shot(settings, monkeypatch):
    busy, _ = load(_spec("tiny", settings), settings, "cpu")
    busy.lock = watched = _WatchedLock()
    order: list[str] = []
    real = pipelines._load

    def recorded(spec, *args, **kwargs):
        order.append(f"load {spec.name}")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(pipelines, "_load", recorded)
    with watched:  # a shot renders on "tiny" (Renderer.render holds this lock meanwhile)
        loader = threading.Thread(
            target=load, args=(_spec("tiny-t2v-a14b", settings), settings, "cpu")
        )
        loader.start()
        assert watched.contended.wait(120), "the loader never waited for the shot"
        assert order == [] and resident_names() == ["tiny"]
        order.append("shot ends")
    loader.join(120)
    assert order == ["shot ends", "load tiny-t2v-a14b"]
    assert resident_names() == ["tiny-t2v-a14b"]


def test_the_renderer_reloads_a_model_it_switched_away_from(settings):
    renderer = Renderer(settings)
    tiny, experts = _spec("tiny", settings), _spec("tiny-t2v-a14b", settings)
    first = renderer.render(tiny, request(steps=2))
    other = renderer.render(experts, request(steps=2, guidance_2=3.0))
    back = renderer.render(tiny, request(steps=2))
    assert first.load_s > 0 and other.load_s > 0 and back.load_s > 0
    assert not renderer.is_resident(experts) and renderer.is_resident(tiny)
    assert (first.frames == back.frames).all()  # the same weights, loaded again


@pytest.mark.parametrize(
    "change",
    [
        {"memory_plan": "cpu-tiled"},
        {"attention_backend": "_native_math"},
        {"compile_transformer": "true"},
        {"model_dir": Path("elsewhere")},  # a tiny model's weights directory
    ],
)
def test_every_setting_that_shapes_a_load_is_in_its_key(settings, change):
    other = settings.model_copy(update=change)
    before = load_key(_spec("tiny", settings), settings, "cpu")
    assert before != load_key(_spec("tiny", other), other, "cpu")


def test_where_a_hub_model_is_looked_up_is_in_its_key(settings, tmp_path):
    hub = settings.model_copy(update={"model_t2v": "Wan-AI/Wan2.2-T2V-A14B-Diffusers"})
    spec = _spec("t2v-a14b", hub)
    elsewhere = hub.model_copy(update={"model_cache": tmp_path / "hub"})
    assert load_key(spec, hub, "cpu") != load_key(spec, elsewhere, "cpu")
    tiny = _spec("tiny", settings)  # a directory: no hub cache is read for it
    assert load_key(tiny, settings, "cpu") == load_key(tiny, elsewhere, "cpu")


def test_settings_a_shot_applies_itself_share_the_loaded_copy(settings, tmp_path):
    spec = _spec("tiny-t2v-a14b", settings)
    per_shot = {
        "cfg_batch": True,
        "fast_cache": "none",
        "magcache_ratios": tmp_path / "ratios.json",
        "lightning_lora_t2v": tmp_path / "lightning",
        "resident_models": 3,
        "hf_offline": False,
    }
    assert load_key(spec, settings, "cpu") == load_key(
        spec, settings.model_copy(update=per_shot), "cpu"
    )
    assert load_key(spec, settings, "cpu") != load_key(spec, settings, "cuda")


def test_a_renderer_with_another_plan_or_backend_loads_its_own_copy(settings):
    roomy = settings.model_copy(update={"resident_models": 3})
    tiled = roomy.model_copy(update={"memory_plan": "cpu-tiled"})
    math = roomy.model_copy(update={"attention_backend": "_native_math"})
    spec = _spec("tiny", roomy)
    first, fresh = load(spec, roomy, "cpu")
    assert fresh and first.plan.name == "cpu" and first.speed.attention == "native"
    other, fresh = load(spec, tiled, "cpu")
    assert fresh and other.pipe is not first.pipe and other.plan.name == "cpu-tiled"
    third, fresh = load(spec, math, "cpu")
    assert fresh and third.speed.attention == "_native_math" and third.plan.name == "cpu"
    again, fresh = load(spec, roomy, "cpu")
    assert not fresh and again is first
    assert resident_names() == ["tiny"] * 3
    assert resident(spec, "cpu", tiled) is other and resident(spec, "cpu", math) is third
    assert resident(spec, "cpu", roomy) is first
    assert Renderer(tiled).is_resident(spec)


def test_another_key_counts_against_the_resident_limit(settings):
    spec = _spec("tiny", settings)
    first, _ = load(spec, settings, "cpu")
    tiled = settings.model_copy(update={"memory_plan": "cpu-tiled"})
    renderer = Renderer(tiled)
    assert not renderer.is_resident(spec)
    rendered = renderer.render(spec, request(steps=1))
    assert rendered.plan == "cpu-tiled" and rendered.load_s > 0
    assert resident_names() == ["tiny"] and resident(spec, "cpu", settings) is None
    assert resident(spec, "cpu", tiled) not in (None, first)


def test_unload_without_a_device_unloads_every_copy_of_that_model(settings):
    roomy = settings.model_copy(update={"resident_models": 3})
    tiny, experts = _spec("tiny", roomy), _spec("tiny-t2v-a14b", roomy)
    load(tiny, roomy, "cpu")
    load(tiny, roomy.model_copy(update={"memory_plan": "cpu-tiled"}), "cpu")
    load(experts, roomy, "cpu")
    unload(tiny, "cuda")  # another device: nothing of it there
    assert resident_names() == ["tiny", "tiny", "tiny-t2v-a14b"]
    unload(tiny)
    assert resident_names() == ["tiny-t2v-a14b"]
    load(tiny, roomy, "cpu")
    unload(tiny, "cpu")
    assert resident_names() == ["tiny-t2v-a14b"]
    unload()
    assert resident_names() == []


def _runs_out_in_the_transformer(pipe) -> None:
    """The next forward of the transformer fails as a full GPU's would, deep in the call."""
    import torch

    def full(_module, _args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    pipe.transformer.register_forward_pre_hook(full)


def test_running_out_mid_shot_leaves_nothing_holding_the_model(settings):
    """The retry loads the model again under the next plan: the error it was raised with must
    not keep the old copy (and its tensors) alive beside it."""
    import torch

    renderer, spec = Renderer(settings), _spec("tiny", settings)
    loaded = renderer.load(spec)
    pipe = weakref.ref(loaded.pipe)
    _runs_out_in_the_transformer(loaded.pipe)
    del loaded
    with pytest.raises(OutOfMemory) as caught:
        renderer.render(spec, request(steps=1))
    gc.collect()
    assert pipe() is None, "the out-of-memory error keeps the unloaded pipeline alive"
    assert (caught.value.plan, caught.value.next_plan) == ("cpu", "cpu-tiled")
    assert isinstance(caught.value.__cause__, torch.OutOfMemoryError)
    assert "20.00 GiB" in str(caught.value.__cause__)  # what torch said is kept
    assert resident_names() == []
    assert renderer.render(spec, request(steps=1)).plan == "cpu-tiled"


def test_running_out_while_loading_leaves_nothing_holding_the_model(settings, monkeypatch):
    import torch

    placed = []

    def full(pipe, plan, device):
        placed.append(weakref.ref(pipe))
        raise torch.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(pipelines, "place", full)
    spec = _spec("tiny", settings)
    with pytest.raises(OutOfMemory) as caught:
        load(spec, settings, "cpu")
    gc.collect()
    assert placed and placed[0]() is None
    assert (caught.value.plan, caught.value.tried) == ("cpu", ["cpu"])
    assert resident_names() == []


def _scaled_release(source, target, factor: float):
    """A copy of a LoRA release whose weights differ (another release under another path)."""
    from safetensors.torch import load_file, save_file

    target.mkdir()
    for file in source.iterdir():
        tensors = load_file(file)
        save_file(
            {k: v * factor if "lora_B" in k else v for k, v in tensors.items()}, target / file.name
        )
    return target


def test_a_lora_set_from_another_directory_replaces_the_loaded_one(
    settings,
    lightning,
    tmp_path,
):
    other = _scaled_release(lightning, tmp_path / "other", 3.0)
    spec = _spec("tiny-t2v-a14b", settings)
    shot = request(steps=4, guidance=1.0, guidance_2=1.0, lora="lightning")
    first = Renderer(settings.model_copy(update={"lightning_lora_t2v": lightning}))
    second = Renderer(settings.model_copy(update={"lightning_lora_t2v": other}))
    a = first.render(spec, shot)
    b = second.render(spec, shot)
    loaded = second.load(spec)
    assert first.load(spec) is loaded  # one resident copy: the LoRA set is the shot's own
    assert loaded.adapters == {"lightning": str(other)}
    assert set(loaded.pipe.transformer.peft_config) == {"lightning"}
    assert not np.allclose(a.frames, b.frames, atol=1e-3)
    assert np.array_equal(first.render(spec, shot).frames, a.frames)
