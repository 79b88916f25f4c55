"""Shots → frames with Wan2.2 through diffusers, on the process's resident pipelines.

Every sampling value is passed explicitly: diffusers' call defaults are not Wan's official ones.
A CUDA out-of-memory error becomes ``OutOfMemory`` naming the next, more frugal memory plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from generation.adapters import enable_cache, transformers, use_adapters
from generation.cfg import batched_guidance
from generation.models import ModelSpec, configure_hub
from generation.pipelines import Loaded, load, out_of_memory, pick_device, resident
from wanflow.settings import Settings

Progress = Callable[[int, int, float], None]  # (step done, steps, seconds since the call began)


class ShotRequest(BaseModel):
    """Everything that decides a shot's frames; the same request on one device gives the same
    frames (the content hash of a clip is taken over this)."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    seed: int = Field(ge=0, lt=2**63)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    num_frames: int = Field(ge=1)
    fps: int = Field(gt=0)
    steps: int = Field(ge=1)
    guidance: float = Field(ge=0)
    guidance_2: float | None = Field(None, ge=0)
    shift: float = Field(gt=0)
    lora: Literal["lightning"] | None = None  # a distilled adapter set (the "fast" preset)
    cache: Literal["first-block", "taylorseer", "magcache"] | None = None  # the "fast" preset
    image: Path | None = None  # reference image (image-to-video): the shot's first frame
    last_image: Path | None = None  # the shot's last frame, for a model that honours one


@dataclass
class Rendered:
    """A shot's frames (float32, (F, H, W, 3) in [0, 1]) and how they were made."""

    frames: Any
    fps: int
    model: str
    device: str
    dtype: str
    plan: str
    speed: str  # attention backend, "+compiled" when the blocks were compiled
    experts: list[str]  # the transformer(s) each step ran: "transformer" or "transformer_2"
    load_s: float  # 0 when the pipeline was already resident
    encode_s: float
    step_s: float
    decode_s: float
    total_s: float
    width: int
    height: int


class Renderer:
    """Renders shots on the process's resident pipelines (``generation.pipelines``)."""

    def __init__(self, settings: Settings) -> None:
        configure_hub(settings)  # before diffusers is imported
        self.settings = settings
        self.device = pick_device(settings.device)

    def load(self, spec: ModelSpec, shot_size: tuple[int, int, int] | None = None) -> Loaded:
        """The resident pipeline for ``spec`` (``MissingWeights`` when its files are not here)."""
        return load(spec, self.settings, self.device, shot_size)[0]

    def is_resident(self, spec: ModelSpec) -> bool:
        """Whether a copy of ``spec`` loaded under these settings is resident."""
        return resident(spec, self.device, self.settings) is not None

    def render(
        self,
        spec: ModelSpec,
        request: ShotRequest,
        *,
        progress: Progress | None = None,
        progress_bar: bool = False,
    ) -> Rendered:
        """One shot. ``ValueError`` for a request the model cannot take (an image for a
        text-only model, none for an image-only one, a size off the model's grid);
        ``OutOfMemory`` naming the next plan when the device ran out, the model unloaded."""
        import torch

        shot = _prepare(spec, request, self.settings)
        loaded, fresh = load(spec, self.settings, self.device, shot.size)
        try:
            run = _run(loaded, spec, request, shot, self.settings, progress, progress_bar)
        except torch.OutOfMemoryError as error:
            plan = loaded.plan.name
            del loaded  # the new error's traceback holds this frame: it must not hold the model
            raise out_of_memory(error, spec, self.device, plan) from error
        return _rendered(spec, request, loaded, fresh, shot, run)


@dataclass(frozen=True)
class _Shot:
    """What the pipeline is asked, settled before anything loads."""

    width: int
    height: int
    frames: int
    inputs: dict[str, Any]  # the reference image and the second expert's guidance, if any
    batch: bool  # both guidance branches in one batch of two

    @property
    def size(self) -> tuple[int, int, int]:
        return self.width, self.height, self.frames


@dataclass
class _Run:
    """One pipeline call: its frames, the experts each step ran and when the steps ended."""

    frames: Any
    experts: list[str]
    start: float
    step_ends: list[float]
    end: float


def _prepare(spec: ModelSpec, request: ShotRequest, settings: Settings) -> _Shot:
    _check(spec, request)
    width, height = spec.render_size(request.width, request.height)
    inputs: dict[str, Any] = {}
    if request.image is not None:
        inputs["image"] = fit_image(request.image, width, height)
    if request.last_image is not None:
        inputs["last_image"] = fit_image(request.last_image, width, height)
    if spec.layout == "experts":
        inputs["guidance_scale_2"] = request.guidance_2 or request.guidance
    # One batch of two for both guidance branches, when asked and there are two (a step cache
    # keeps per-branch state, so the two do not mix).
    batch = settings.cfg_batch and request.guidance > 1 and request.cache is None
    return _Shot(width, height, request.num_frames, inputs, batch)


def _run(
    loaded: Loaded,
    spec: ModelSpec,
    request: ShotRequest,
    shot: _Shot,
    settings: Settings,
    progress: Progress | None,
    progress_bar: bool,
) -> _Run:
    """Denoise and decode on the resident pipeline, which serves one shot at a time; the
    shot's LoRA set and step cache are switched on for it and its cache off again after."""
    import torch

    pipe = loaded.image_pipe if request.image is not None else loaded.pipe
    with loaded.lock:
        _set_shift(pipe, request.shift)
        pipe.set_progress_bar_config(disable=not progress_bar)
        experts, marks = _watch_experts(pipe)
        start = time.perf_counter()
        step_ends: list[float] = []

        def on_step(_pipe, i, _t, tensors):
            step_ends.append(time.perf_counter())
            experts.close_step()
            if progress:
                progress(i + 1, request.steps, step_ends[-1] - start)
            return tensors

        try:
            use_adapters(loaded, request.lora, settings, spec)
            enable_cache(loaded, request.cache, settings=settings, spec=spec, steps=request.steps)
            on_cpu = loaded.plan.text_encoder_on_cpu
            text = _text_inputs(
                pipe,
                request,
                on_cpu or shot.batch,
                loaded.device,
                encode_on="cpu" if on_cpu else loaded.device,
            )
            guidance = (
                batched_guidance(transformers(pipe), text["negative_prompt_embeds"])
                if shot.batch
                else nullcontext()
            )
            with guidance:
                out = pipe(
                    **text,
                    height=shot.height,
                    width=shot.width,
                    num_frames=shot.frames,
                    num_inference_steps=request.steps,
                    guidance_scale=request.guidance,
                    generator=torch.Generator("cpu").manual_seed(request.seed),
                    output_type="np",
                    callback_on_step_end=on_step,
                    **shot.inputs,
                )
        finally:
            enable_cache(loaded, None, settings=settings)
            for handle in marks:
                handle.remove()
        return _Run(out.frames[0], experts.by_step, start, step_ends, time.perf_counter())


def _rendered(
    spec: ModelSpec, request: ShotRequest, loaded: Loaded, fresh: bool, shot: _Shot, run: _Run
) -> Rendered:
    """The frames with how they were made and where the time went."""
    ends, start = run.step_ends, run.start
    steps = len(ends)
    step_s = (ends[-1] - ends[0]) / (steps - 1) if steps > 1 else 0.0
    first_step = step_s if steps > 1 else (ends[0] - start if steps else 0.0)
    return Rendered(
        frames=run.frames,
        fps=request.fps,
        model=spec.name,
        device=loaded.device,
        dtype=loaded.dtype,
        plan=loaded.plan.name,
        speed=loaded.speed.label()
        + ("+cfg-batch" if shot.batch else "")
        + (f"+{request.cache}" if request.cache else "")
        + (f"+{request.lora}" if request.lora else ""),
        experts=run.experts,
        load_s=loaded.load_s if fresh else 0.0,
        encode_s=max(0.0, (ends[0] - start - first_step) if steps else 0.0),
        step_s=step_s or first_step,
        decode_s=run.end - (ends[-1] if steps else start),
        total_s=run.end - start,
        width=int(run.frames.shape[2]),
        height=int(run.frames.shape[1]),
    )


def _text_inputs(
    pipe: Any, request: ShotRequest, as_embeds: bool, device: str, *, encode_on: str
) -> dict[str, Any]:
    """Prompts as text, or as embeddings encoded on ``encode_on`` and handed over on the
    device in the transformer's dtype: for a text encoder kept on the CPU (the pipeline would
    run it on the device) and for batched guidance (which must see the negative embeddings)."""
    negative = request.negative_prompt or None
    if not as_embeds:
        return {"prompt": request.prompt, "negative_prompt": negative}
    import torch

    dtype = pipe.transformer.dtype
    with torch.no_grad():
        positive, negative_embeds = pipe.encode_prompt(
            prompt=request.prompt,
            negative_prompt=negative,
            do_classifier_free_guidance=request.guidance > 1.0,
            max_sequence_length=512,
            device=torch.device(encode_on),
        )
    return {
        "prompt_embeds": positive.to(device, dtype),
        "negative_prompt_embeds": (
            negative_embeds.to(device, dtype) if negative_embeds is not None else None
        ),
    }


def _check(spec: ModelSpec, request: ShotRequest) -> None:
    if request.image is not None and spec.task == "t2v":
        raise ValueError(f"{spec.name} makes video from text only; it cannot take an image")
    if request.image is None and spec.task in ("i2v", "flf2v"):
        raise ValueError(f"{spec.name} needs a reference image")
    if request.last_image is not None and not spec.last_frame:
        raise ValueError(f"{spec.name} honours only a first frame; it cannot take a last one")
    if request.last_image is None and spec.last_frame:
        raise ValueError(f"{spec.name} renders between two frames: it needs a last image too")
    m = spec.size_multiple
    if request.width % m or request.height % m:
        raise ValueError(
            f"{spec.name}: size {request.width}x{request.height} is not a multiple of {m}"
        )
    if (request.num_frames - 1) % 4:
        raise ValueError(f"num_frames must be 4k+1 (Wan's VAE), got {request.num_frames}")


def _set_shift(pipe: Any, shift: float) -> None:
    """The flow shift lives in the scheduler's config; swap the scheduler when it differs."""
    if pipe.scheduler.config.get("flow_shift") != shift:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, flow_shift=shift)


class _Experts:
    """Which transformer ran in each step, observed (forward hooks), not inferred."""

    def __init__(self) -> None:
        self.by_step: list[str] = []
        self._current: list[str] = []

    def saw(self, name: str) -> None:
        if name not in self._current:
            self._current.append(name)

    def close_step(self) -> None:
        self.by_step.append("+".join(self._current))
        self._current = []


def _watch_experts(pipe: Any) -> tuple[_Experts, list[Any]]:
    experts, handles = _Experts(), []
    for name in ("transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if module is not None:
            handles.append(module.register_forward_pre_hook(lambda *_, n=name: experts.saw(n)))
    return experts, handles


def fit_image(path: Path, width: int, height: int):
    """The reference image centre-cropped to the shot's aspect ratio, then resized: the
    pipeline would otherwise stretch it."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
