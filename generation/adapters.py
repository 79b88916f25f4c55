"""The lossy speed-ups of the explicit "fast" preset: distilled LoRAs and step caches.

Lightning LoRAs (lightx2v's Wan2.2-Lightning) distil the A14B experts to 4 steps without
classifier-free guidance; a release directory holds ``high_noise_model.safetensors`` for the
high-noise expert and ``low_noise_model.safetensors`` for the low-noise one. They load once into a
resident pipeline and are switched off again for shots of other presets, so a fast shot never
changes the frames of the next standard one. FirstBlockCache skips the remaining blocks of a step
whose first block barely changed its output: it works with Wan's separate cond/uncond passes
(FasterCache does not; MagCache needs calibrated ratios; TaylorSeer needs cache identifiers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generation.models import MissingWeights, ModelSpec
from wanflow.settings import Settings

LIGHTNING_FILES = ("high_noise_model.safetensors", "low_noise_model.safetensors")
FIRST_BLOCK_THRESHOLD = 0.05  # diffusers' documented starting point for Wan


def lightning_dir(settings: Settings, spec: ModelSpec) -> Path:
    """The operator's Lightning release for this model's task, checked complete."""
    setting = "lightning_lora_i2v" if spec.task == "i2v" else "lightning_lora_t2v"
    directory = getattr(settings, setting)
    variable = f"WANFLOW_{setting.upper()}"
    if directory is None:
        raise MissingWeights(
            f"the fast preset needs the Wan2.2 Lightning LoRAs for {spec.name}: set {variable} "
            f"to the directory holding {' and '.join(LIGHTNING_FILES)}"
        )
    needed = LIGHTNING_FILES if spec.layout == "experts" else LIGHTNING_FILES[:1]
    missing = [name for name in needed if not (Path(directory) / name).is_file()]
    if missing:
        raise MissingWeights(f"{variable}={directory}: missing {', '.join(missing)}")
    return Path(directory)


def transformers(pipe: Any) -> list[Any]:
    return [m for m in (pipe.transformer, getattr(pipe, "transformer_2", None)) if m is not None]


def use_adapters(loaded: Any, lora: str | None, settings: Settings, spec: ModelSpec) -> None:
    """Switch the pipeline's LoRA set on (loading it the first time) or off."""
    pipe = loaded.pipe
    if lora is None:
        for module in transformers(pipe):
            if getattr(module, "peft_config", None):
                module.disable_adapters()
        return
    if lora not in loaded.adapters:
        directory = lightning_dir(settings, spec)
        pipe.load_lora_weights(directory, weight_name=LIGHTNING_FILES[0], adapter_name=lora)
        if getattr(pipe, "transformer_2", None) is not None:
            pipe.load_lora_weights(
                directory,
                weight_name=LIGHTNING_FILES[1],
                adapter_name=lora,
                load_into_transformer_2=True,
            )
        loaded.adapters.add(lora)
    for module in transformers(pipe):
        module.enable_adapters()
        module.set_adapters([lora])


def enable_cache(loaded: Any, cache: str | None) -> None:
    """Turn a step cache on for one shot, or every cache off (``None``)."""
    from diffusers import FirstBlockCacheConfig

    for module in transformers(loaded.pipe):
        if getattr(module, "is_cache_enabled", False):
            module.disable_cache()
        if cache == "first-block":
            module.enable_cache(FirstBlockCacheConfig(threshold=FIRST_BLOCK_THRESHOLD))
