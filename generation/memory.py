"""Memory plans: how a pipeline's components are placed so that a shot fits the device.

The plans are ordered from fastest to most frugal. The renderer picks the first whose estimated
peak fits the device's free memory; a CUDA out-of-memory error moves it one plan down (once).
Estimates come from the weights' own sizes (safetensors headers, at the dtype they run in) and
activation figures measured on a lent H100: an A14B expert forward at 75,600 tokens ×
5,120 width peaked 8.0 GiB above its weights (≈ 22 bytes per token per channel), and a Wan2.1 VAE
decode of 81 frames at 1280×720 took 9.9 GiB in bf16 (≈ 140 bytes per output pixel; fp32 twice
that), tiling cutting it 3–5×.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

GiB = 1024**3
ACTIVATION_BYTES_PER_TOKEN_CHANNEL = 22
DECODE_BYTES_PER_PIXEL_FP32 = 285
TILED_DECODE_FACTOR = 1 / 3  # the smaller cut measured (3×), to stay on the safe side
HEADROOM = 1.10  # allocator fragmentation and the CUDA context


@dataclass(frozen=True)
class MemoryPlan:
    name: str
    description: str
    text_encoder_on_cpu: bool = False  # encode on the CPU, hand embeddings to the device
    model_offload: bool = False  # each component on the device only while it runs
    group_offload: bool = False  # transformer blocks streamed in groups on a CUDA stream
    vae_tiling: bool = False


GPU_PLANS = (
    MemoryPlan("gpu", "every component resident on the GPU"),
    MemoryPlan(
        "gpu-lean",
        "transformers and VAE on the GPU, text encoder on the CPU, VAE decode tiled",
        text_encoder_on_cpu=True,
        vae_tiling=True,
    ),
    MemoryPlan(
        "model-offload",
        "each component on the GPU only while it runs, VAE decode tiled",
        model_offload=True,
        vae_tiling=True,
    ),
    MemoryPlan(
        "group-offload",
        "transformer blocks streamed to the GPU one group at a time (CUDA streams), VAE tiled",
        group_offload=True,
        vae_tiling=True,
    ),
)
CPU_PLANS = (
    MemoryPlan("cpu", "every component on the CPU"),
    MemoryPlan(
        "cpu-tiled",
        "every component on the CPU, prompts encoded apart, VAE decode tiled",
        text_encoder_on_cpu=True,
        vae_tiling=True,
    ),
)


def plans_for(device: str) -> tuple[MemoryPlan, ...]:
    return GPU_PLANS if device == "cuda" else CPU_PLANS


def plan_named(name: str) -> MemoryPlan:
    for plan in (*GPU_PLANS, *CPU_PLANS):
        if plan.name == name:
            return plan
    names = ", ".join(p.name for p in (*GPU_PLANS, *CPU_PLANS))
    raise ValueError(f"unknown memory plan {name!r}; accepted: auto, {names}")


@dataclass(frozen=True)
class Footprint:
    """Bytes of each component at the dtype it runs in (transformers and text encoder in the
    compute dtype, the VAE in fp32)."""

    text_encoder: int
    transformers: tuple[int, ...]
    vae: int
    width: int  # the transformer's hidden width (for activations)

    @property
    def total(self) -> int:
        return self.text_encoder + sum(self.transformers) + self.vae


def safetensors_params(folder: Path) -> int:
    """Parameter count of a component folder, read from the safetensors headers (no load)."""
    count = 0
    for file in sorted(folder.glob("*.safetensors")):
        with file.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            numel = 1
            for dim in entry["shape"]:
                numel *= dim
            count += numel
    return count


def footprint(directory: str | Path, compute_bytes: int = 2) -> Footprint:
    """The footprint of a diffusers Wan directory, from its files alone."""
    root = Path(directory)
    width = 0
    config = root / "transformer" / "config.json"
    if config.is_file():
        spec = json.loads(config.read_text())
        width = spec.get("num_attention_heads", 0) * spec.get("attention_head_dim", 0)
    experts = tuple(
        safetensors_params(root / name) * compute_bytes
        for name in ("transformer", "transformer_2")
        if (root / name).is_dir()
    )
    return Footprint(
        text_encoder=safetensors_params(root / "text_encoder") * compute_bytes,
        transformers=experts,
        vae=safetensors_params(root / "vae") * 4,
        width=width,
    )


@dataclass(frozen=True)
class Geometry:
    """What a shot asks of memory: its latent tokens and its decoded pixels."""

    tokens: int
    pixels: int  # frames × height × width


def geometry(width: int, height: int, frames: int, spatial: int = 8, patch: int = 2) -> Geometry:
    latent_frames = (frames - 1) // 4 + 1
    tokens = latent_frames * (height // spatial // patch) * (width // spatial // patch)
    return Geometry(tokens=tokens, pixels=frames * height * width)


def peak_bytes(plan: MemoryPlan, fp: Footprint, shot: Geometry) -> int:
    """Estimated device memory at the worst moment of a shot under ``plan``."""
    activations = ACTIVATION_BYTES_PER_TOKEN_CHANNEL * shot.tokens * fp.width
    decode = DECODE_BYTES_PER_PIXEL_FP32 * shot.pixels
    if plan.vae_tiling:
        decode = int(decode * TILED_DECODE_FACTOR)
    if plan.group_offload:
        # One group of blocks (of ~40) and the non-block layers stay on the device.
        largest = max(fp.transformers, default=0) // 10
        peak = max(largest + activations, fp.vae + decode)
    elif plan.model_offload:
        peak = max(max(fp.transformers, default=0) + activations, fp.vae + decode)
    else:
        resident = sum(fp.transformers) + fp.vae
        if not plan.text_encoder_on_cpu:
            resident += fp.text_encoder
        peak = resident + max(activations, decode)
    return int(peak * HEADROOM)


def choose(
    plans: tuple[MemoryPlan, ...], free: int, fp: Footprint, shot: Geometry, exclude=()
) -> MemoryPlan:
    """The first plan whose estimated peak fits ``free`` bytes; the most frugal otherwise."""
    candidates = [p for p in plans if p.name not in exclude] or [plans[-1]]
    for plan in candidates:
        if peak_bytes(plan, fp, shot) <= free:
            return plan
    return candidates[-1]


def next_plan(plans: tuple[MemoryPlan, ...], current: str) -> MemoryPlan | None:
    names = [p.name for p in plans]
    index = names.index(current) if current in names else len(names)
    return plans[index + 1] if index + 1 < len(plans) else None
