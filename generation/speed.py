"""Lossless speed options applied to a loaded pipeline, and recorded with every clip.

Measured on an H100 (FIELD-NOTES): PyTorch's default SDPA already runs cuDNN's Hopper flash
kernel (forcing ``_native_cudnn`` was 4 % slower, ``_native_flash`` 26 %); FlashAttention-3 and
SageAttention are faster where installed. Regional compilation of the transformer blocks took an
A14B expert forward from 12.76 s to 11.38 s and TI2V-5B's from 1.24 s to 0.94 s, for 12–20 s of
compile per load. Neither changes what the model computes beyond kernel rounding.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

# Installed kernels, fastest first, with the module that provides each. ``*_hub`` backends
# download kernels at run time and never work offline, so they are not offered.
_INSTALLED_ORDER = (
    ("_flash_3", "flash_attn_interface"),
    ("sage", "sageattention"),
    ("flash", "flash_attn"),
)


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
    for backend, module in _INSTALLED_ORDER:
        if importlib.util.find_spec(module) is not None:
            return backend
    return "native"


def should_compile(setting: str, device: str) -> bool:
    """``auto`` compiles on CUDA, where it pays back its compile time within one shot."""
    return device == "cuda" if setting == "auto" else setting == "true"


def apply_speed(pipe: Any, *, attention: str, compile_blocks: bool) -> Speed:
    """Set the attention backend and compile the repeated blocks of every transformer."""
    for name in ("transformer", "transformer_2"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if attention != "native":
            module.set_attention_backend(attention)
        if compile_blocks:
            module.compile_repeated_blocks(fullgraph=True)
    return Speed(attention=attention, compiled=compile_blocks)
