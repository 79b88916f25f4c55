"""Lossless speed options applied to a loaded pipeline, and recorded with every clip.

Measured on a lent H100 (reference figures in benchmarks/RESULTS.md): PyTorch's default SDPA
already runs cuDNN's Hopper flash kernel (forcing ``_native_cudnn`` was 4 % slower,
``_native_flash`` 26 %); FlashAttention-3 and SageAttention are faster where installed. Regional
compilation of the transformer blocks took an A14B expert forward from 12.76 s to 11.38 s and
TI2V-5B's from 1.24 s to 0.94 s, for 12–20 s of compile per load. Neither changes what the model
computes beyond kernel rounding, which is why
SageAttention (it quantises to INT8/FP8) is never chosen automatically.

Blocks compile without ``fullgraph``: the step caches of the fast preset and group offloading
hook each block with functions Dynamo must not trace, so a full graph would refuse them; shots
without hooks still compile to whole graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Lossless kernels, fastest first, with diffusers' own flag saying it can use each (installed
# at a version it supports). ``*_hub`` backends download kernels at run time: never offline.
_AUTO_ORDER = (("_flash_3", "_CAN_USE_FLASH_ATTN_3"), ("flash", "_CAN_USE_FLASH_ATTN"))


@dataclass(frozen=True)
class Speed:
    """What a pipeline runs with; part of each clip's record."""

    attention: str
    compiled: bool

    def label(self) -> str:
        return f"{self.attention}{'+compiled' if self.compiled else ''}"


def attention_backend(setting: str, device: str) -> str:
    """The backend to use: the setting, or for ``auto`` the fastest installed kernel on CUDA
    (PyTorch SDPA, ``native``, otherwise and on the CPU)."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    if setting != "auto":
        names = [b.value for b in AttentionBackendName if not b.value.endswith("_hub")]
        if setting not in names:
            raise ValueError(
                f"WANFLOW_ATTENTION_BACKEND={setting!r} is not a diffusers attention backend "
                f"usable offline; accepted: auto, {', '.join(names)}"
            )
        return setting
    if device != "cuda":
        return "native"
    from diffusers.models import attention_dispatch

    for backend, flag in _AUTO_ORDER:
        if getattr(attention_dispatch, flag, False):
            return backend
    return "native"


def should_compile(setting: str, device: str) -> bool:
    """``auto`` compiles on CUDA, where it pays back its compile time within one shot."""
    return device == "cuda" if setting == "auto" else setting == "true"


def apply_speed(
    pipe: Any, *, attention: str, compile_blocks: bool, compile_backend: str = "inductor"
) -> Speed:
    """Set the attention backend and compile the repeated blocks of every transformer
    (``compile_backend`` other than inductor only for tests)."""
    for name in ("transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if attention != "native":
            module.set_attention_backend(attention)
        if compile_blocks:
            module.compile_repeated_blocks(backend=compile_backend)
    return Speed(attention=attention, compiled=compile_blocks)
