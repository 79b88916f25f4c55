"""Resident pipelines: each model loaded once per process and configuration, placed by a plan.

Loading Wan2.2-A14B takes minutes and a shot a few, so a worker keeps a loaded copy resident and
serves every shot of a batch from it. A copy is found again only under the same ``LoadKey``: the
model and where its weights are, the device and dtype, the memory plan asked for, the attention
backend and whether the blocks compile. A renderer whose settings differ in any of these loads
its own copy rather than render on one shaped by other settings. At most
``WANFLOW_RESIDENT_MODELS`` copies stay resident per device: loading another first unloads the
least recently used one (after the shot it is rendering, if any), so with the default of 1 a
65 GiB model is never loaded beside another. A plan that ran out of memory for a model is not
chosen for it again in this process.

What a shot may change on a resident copy is put back or tracked by the shot itself: step caches
are switched off after it and a LoRA set remembers the directory it came from
(``generation.adapters``), so neither belongs in the key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.memory import (
    Geometry,
    MemoryPlan,
    choose,
    footprint,
    geometry,
    next_plan,
    plan_named,
    plans_for,
)
from generation.models import ModelSpec, locate
from generation.speed import Speed, apply_speed, attention_backend, should_compile
from wanflow.settings import Settings


class OutOfMemory(RuntimeError):
    """A shot ran out of device memory under ``plan``; ``next_plan`` is the one to try."""

    def __init__(self, model: str, plan: str, next_plan: str | None, tried: list[str]) -> None:
        self.model, self.plan, self.next_plan, self.tried = model, plan, next_plan, tried
        then = f"; next plan: {next_plan}" if next_plan else "; no more frugal plan is left"
        super().__init__(f"{model}: out of device memory under plan {plan!r}{then}")


@dataclass(frozen=True)
class LoadKey:
    """Every setting that shapes a loaded pipeline: two loads under one key are the same object.

    ``memory_plan`` is the setting, not the plan it gave: ``auto`` keeps the plan it chose at load
    time (from the free memory and the shot's size, both of which change while the copy stays
    resident), and a named plan that ran out stands for the more frugal one that replaced it.
    """

    model: str  # ModelSpec.cache_key(): its name and source
    weights: str  # the cache a hub id is looked up in ("" for a directory or a tiny model)
    device: str
    dtype: str
    memory_plan: str
    attention: str  # the backend resolved for the device
    compile: bool  # asked to compile the blocks (a group-offloaded plan still does not)


@dataclass
class Loaded:
    pipe: Any  # text-to-video (or image-to-video for an i2v-only model)
    load_s: float
    device: str
    dtype: str
    plan: MemoryPlan
    speed: Speed
    image_pipe: Any = None  # the image-to-video view of the same components, when it exists
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA set → directory loaded from
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while a shot renders
    name: str = ""  # the model's name (``ModelSpec.name``)
    key: LoadKey | None = None


# Each loaded copy by its key, least recently used first.
_RESIDENT: OrderedDict[LoadKey, Loaded] = OrderedDict()
_OUT_OF_MEMORY: dict[tuple[str, str], list[str]] = {}  # plans that ran out, per model and device
_GUARD = threading.RLock()  # ran_out unloads while load holds it
# Held only to change or copy _RESIDENT: a heartbeat reads what is resident while a load holds
# _GUARD for minutes.
_INDEX = threading.Lock()
_log = logging.getLogger(__name__)


def pick_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("WANFLOW_DEVICE=cuda but torch sees no CUDA device")
    return setting


def compute_dtype(device: str) -> str:
    """bf16 for transformers and the text encoder on a GPU (the VAE always runs in fp32)."""
    return "bfloat16" if device == "cuda" else "float32"


def load_key(spec: ModelSpec, settings: Settings, device: str) -> LoadKey:
    """The key ``load`` finds or stores ``spec``'s pipeline under with these settings.

    ``ValueError`` for an attention backend diffusers does not offer, before anything loads.
    """
    return LoadKey(
        model=spec.cache_key(),
        weights=str(settings.model_cache or "") if _is_hub_id(spec) else "",
        device=device,
        dtype=compute_dtype(device),
        memory_plan=settings.memory_plan,
        attention=attention_backend(settings.attention_backend, device),
        compile=should_compile(settings.compile_transformer, device),
    )


def _is_hub_id(spec: ModelSpec) -> bool:
    """As ``locate`` tells a hub id from a directory (where the hub cache plays no part)."""
    source = spec.source
    if spec.tiny or source.startswith(("/", ".", "~")) or source.count("/") != 1:
        return False
    return not Path(source).expanduser().is_dir()


def resident(spec: ModelSpec, device: str, settings: Settings) -> Loaded | None:
    """The copy of ``spec`` these ``settings`` would render on, or None when it is not loaded:
    settings that load it otherwise (another memory plan, attention) have their own copy."""
    key = load_key(spec, settings, device)
    with _INDEX:
        return _RESIDENT.get(key)


def resident_names(device: str | None = None) -> list[str]:
    """The models loaded now (on ``device``, or on any), one entry per loaded copy, least
    recently used first."""
    with _INDEX:
        entries = list(_RESIDENT.items())
    return [m.name for key, m in entries if device in (None, key.device)]


def unload(spec: ModelSpec | None = None, device: str | None = None) -> None:
    """Drop resident copies and give their memory back: every copy of ``spec`` (on ``device``,
    or on any device), or with no ``spec`` every copy of every model."""
    with _GUARD, _INDEX:
        for key in [k for k in _RESIDENT if _holds(k, spec, device)]:
            del _RESIDENT[key]
    _release_memory()


def _holds(key: LoadKey, spec: ModelSpec | None, device: str | None) -> bool:
    return (spec is None or key.model == spec.cache_key()) and device in (None, key.device)


def _oom_error() -> type[BaseException]:
    import torch

    return torch.OutOfMemoryError


def _release_memory() -> None:
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def forget_out_of_memory() -> None:
    _OUT_OF_MEMORY.clear()


def ran_out(spec: ModelSpec, device: str, plan: str) -> OutOfMemory:
    """Record that ``plan`` ran out for ``spec``, unload it, and say what comes next.

    Every copy of the model on the device goes, whatever settings loaded it: memory ran short,
    and the retry loads it again under the next plan.
    """
    tried = _OUT_OF_MEMORY.setdefault((spec.cache_key(), device), [])
    if plan not in tried:
        tried.append(plan)
    unload(spec, device)
    following = next_plan(plans_for(device), plan)
    return OutOfMemory(spec.name, plan, following.name if following else None, list(tried))


def out_of_memory(error: BaseException, spec: ModelSpec, device: str, plan: str) -> OutOfMemory:
    """torch's out-of-memory ``error`` as the ``OutOfMemory`` to raise from its handler.

    The error's traceback holds the frames of the call that failed, and they hold its tensors
    and the pipeline: it is dropped first, so that unloading frees the memory and the error
    (the new one's cause) keeps nothing alive while the task retries under the next plan.
    """
    error.__traceback__ = None
    return ran_out(spec, device, plan)


def load(spec: ModelSpec, settings: Settings, device: str, shot_size=None) -> tuple[Loaded, bool]:
    """The resident pipeline for ``spec`` under these settings and whether this call loaded it.

    ``shot_size`` (width, height, frames) sizes the automatic plan choice; a model already
    resident keeps its plan. ``MissingWeights`` when its files are not here.
    """
    key = load_key(spec, settings, device)
    with _GUARD:
        with _INDEX:
            loaded = _RESIDENT.get(key)
            if loaded is not None:
                _RESIDENT.move_to_end(key)
                return loaded, False
        start = time.perf_counter()
        directory = locate(spec, settings)
        located = time.perf_counter() - start
        _make_room(device, settings.resident_models, spec.name)
        start = time.perf_counter() - located  # load_s: locating and loading, not the wait
        _release_memory()  # what an unloaded model left behind, before loading another copy
        plan = _choose_plan(spec, settings, device, directory, shot_size)
        try:
            loaded = _load(spec, key, settings, directory, plan)
        except _oom_error() as error:
            raise out_of_memory(error, spec, device, plan.name) from error
        loaded.load_s = time.perf_counter() - start
        loaded.name, loaded.key = spec.name, key
        with _INDEX:
            _RESIDENT[key] = loaded
        return loaded, True


def _make_room(device: str, keep: int, incoming: str) -> None:
    """Unload the least recently used copies on ``device`` until one more fits in ``keep``.

    A model rendering a shot is unloaded once that shot ends (its lock is free): dropping it
    mid-shot would not free its memory, and the new model would load beside it. The caller holds
    ``_GUARD``; nothing takes ``_GUARD`` while holding a pipeline's lock, so this cannot deadlock.
    """
    here = [key for key in _RESIDENT if key.device == device]
    while len(here) >= max(1, keep):
        key = here.pop(0)
        victim = _RESIDENT[key]
        _log.info("unloading %s from %s to load %s", victim.name, device, incoming)
        with victim.lock, _INDEX:  # the shot it is rendering, if any, ends first
            del _RESIDENT[key]
        del victim


def _choose_plan(spec, settings, device, directory, shot_size) -> MemoryPlan:
    plans = plans_for(device)
    excluded = _OUT_OF_MEMORY.get((spec.cache_key(), device), [])
    if settings.memory_plan != "auto":
        wanted = plan_named(settings.memory_plan)
        if wanted not in plans:
            raise ValueError(
                f"WANFLOW_MEMORY_PLAN={wanted.name} is not a plan for {device}; use one of "
                f"auto, {', '.join(p.name for p in plans)}"
            )
        if wanted.name not in excluded:
            return wanted
        following = [p for p in plans[plans.index(wanted) + 1 :] if p.name not in excluded]
        return following[0] if following else plans[-1]
    if device != "cuda":
        return next((p for p in plans if p.name not in excluded), plans[-1])
    import torch

    free, _total = torch.cuda.mem_get_info()
    spatial = 16 if spec.layout == "ti2v" else 8
    width, height, frames = shot_size or (*spec.defaults.sizes[0], spec.defaults.frames)
    shot = geometry(width, height, frames, spatial=spatial)
    if settings.cfg_batch:  # both guidance branches in one forward: twice the activations
        shot = Geometry(tokens=2 * shot.tokens, pixels=shot.pixels)
    return choose(plans, free, footprint(directory), shot, exclude=set(excluded))


def _load(spec, key: LoadKey, settings, directory, plan: MemoryPlan) -> Loaded:
    import torch
    from diffusers import DiffusionPipeline, WanImageToVideoPipeline

    # bf16 transformers and text encoder, fp32 VAE, as diffusers recommends for Wan.
    dtypes = {"default": getattr(torch, key.dtype), "vae": torch.float32}
    pipe = DiffusionPipeline.from_pretrained(
        directory, dtype=dtypes, local_files_only=settings.hf_offline
    )
    place(pipe, plan, key.device)
    speed = apply_speed(
        pipe,
        attention=key.attention,
        # Group offloading hooks every block to move it in and out: nothing left to compile.
        compile_blocks=key.compile and not plan.group_offload,
    )
    image_pipe = None
    if spec.task in ("i2v", "flf2v"):
        image_pipe = pipe
    elif spec.task == "ti2v":
        # TI2V-5B conditions on an image by fixing the first latent frame: the same components
        # behind diffusers' image-to-video pipeline. Not ``from_pipe``: it casts every shared
        # module to one dtype (fp32 by default).
        image_pipe = WanImageToVideoPipeline(
            tokenizer=pipe.tokenizer,
            text_encoder=pipe.text_encoder,
            vae=pipe.vae,
            scheduler=pipe.scheduler,
            transformer=pipe.transformer,
            transformer_2=getattr(pipe, "transformer_2", None),
            boundary_ratio=pipe.config.get("boundary_ratio"),
            expand_timesteps=True,
        )
    return Loaded(pipe, 0.0, key.device, key.dtype, plan, speed, image_pipe)


def place(pipe: Any, plan: MemoryPlan, device: str) -> None:
    """Put the components where ``plan`` says."""
    import torch

    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    if device != "cuda":
        pipe.to(device)
        return
    if plan.group_offload:
        pipe.enable_group_offload(
            onload_device=torch.device(device),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    elif plan.model_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        for name in ("transformer", "transformer_2", "vae"):
            module = getattr(pipe, name, None)
            if module is not None:
                module.to(device)
        pipe.text_encoder.to("cpu" if plan.text_encoder_on_cpu else device)
