"""The lossy speed-ups of the explicit "fast" preset: distilled LoRAs and step caches.

Lightning LoRAs (lightx2v's Wan2.2-Lightning) distil the A14B experts to 4 steps without
classifier-free guidance; a release directory holds ``high_noise_model.safetensors`` for the
high-noise expert and ``low_noise_model.safetensors`` for the low-noise one. They load once into a
resident pipeline and are switched off again for shots of other presets, so a fast shot never
changes the frames of the next standard one.

Step caches reuse work between denoising steps. On Wan they work with its separate cond/uncond
passes — FirstBlockCache (skips a step's remaining blocks when its first block barely changed),
TaylorSeer (needs the attention modules named as cache identifiers, or it does nothing) and
MagCache (needs magnitude ratios calibrated for the model) — while FasterCache does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generation.models import MissingWeights, ModelSpec
from wanflow.settings import Settings

LIGHTNING_FILES = ("high_noise_model.safetensors", "low_noise_model.safetensors")
FIRST_BLOCK_THRESHOLD = 0.05  # diffusers' documented starting point for Wan
TAYLORSEER_IDENTIFIERS = [r"^blocks\.\d+\.attn\d$"]  # Wan's self- and cross-attention
CACHES = ("first-block", "taylorseer", "magcache")


def effective_cache(preset_cache: str | None, setting: str) -> str | None:
    """The cache a shot runs with: only presets that ask for one get one (they are the lossy,
    explicit ones); ``WANFLOW_FAST_CACHE`` may swap its kind or turn it off."""
    if preset_cache is None or setting == "none":
        return None
    return preset_cache if setting == "preset" else setting


def magcache_ratios(settings: Settings, spec: ModelSpec) -> list[float]:
    """The operator's calibrated ratios for this model (JSON: model name → list of floats)."""
    import json

    path = settings.magcache_ratios
    if path is None:
        raise MissingWeights(
            "MagCache needs magnitude ratios calibrated for the model: set "
            "WANFLOW_MAGCACHE_RATIOS to a JSON file mapping model names to ratio lists "
            "(diffusers' MagCacheConfig(calibrate=True) prints them), or choose another cache"
        )
    table = json.loads(Path(path).read_text())
    for name in (spec.name, spec.defaults.name):
        if name in table:
            return [float(r) for r in table[name]]
    raise MissingWeights(f"WANFLOW_MAGCACHE_RATIOS={path}: no ratios for {spec.name}")


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


def enable_cache(
    loaded: Any,
    cache: str | None,
    *,
    settings: Settings | None = None,
    spec: ModelSpec | None = None,
    steps: int = 0,
) -> None:
    """Turn a step cache on for one shot, or every cache off (``None``)."""
    from diffusers import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    config: Any = None
    if cache == "first-block":
        config = FirstBlockCacheConfig(threshold=FIRST_BLOCK_THRESHOLD)
    elif cache == "taylorseer":
        config = TaylorSeerCacheConfig(cache_identifiers=TAYLORSEER_IDENTIFIERS)
    elif cache == "magcache":
        assert settings is not None and spec is not None
        ratios = magcache_ratios(settings, spec)
        config = MagCacheConfig(mag_ratios=ratios, num_inference_steps=steps)
    elif cache is not None:
        raise ValueError(f"unknown cache {cache!r}; accepted: {', '.join(CACHES)}")
    for module in transformers(loaded.pipe):
        if getattr(module, "is_cache_enabled", False):
            module.disable_cache()
        if config is not None:
            module.enable_cache(config)
