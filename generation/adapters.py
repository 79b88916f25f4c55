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
TAYLORSEER_IDS = [r"^blocks\.\d+\.attn\d$"]  # Wan's self- and cross-attention modules
_NAMES = ("transformer", "transformer_2")
CACHES = ("first-block", "taylorseer", "magcache")


def effective_cache(preset_cache: str | None, setting: str) -> str | None:
    """The cache a shot runs with: only presets that ask for one get one (they are the lossy,
    explicit ones); ``WANFLOW_FAST_CACHE`` may swap its kind or turn it off."""
    if preset_cache is None or setting == "none":
        return None
    return preset_cache if setting == "preset" else setting


def magcache_ratios(settings: Settings, spec: ModelSpec) -> dict[str, list[float]]:
    """The operator's calibrated ratios for this model, per transformer.

    The JSON file maps model names to a list (one transformer) or, for the two-expert models,
    to ``{"transformer": [...], "transformer_2": [...]}``: each expert counts its own steps, so
    one list for both would give the low-noise expert the high-noise expert's ratios.
    """
    import json

    path = settings.magcache_ratios
    if path is None:
        raise MissingWeights(
            "MagCache needs magnitude ratios calibrated for the model: set "
            "WANFLOW_MAGCACHE_RATIOS to a JSON file mapping model names to ratio lists "
            "(diffusers' MagCacheConfig(calibrate=True) prints them), or choose another cache"
        )
    table = json.loads(Path(path).read_text())
    entry = next((table[n] for n in (spec.name, spec.defaults.name) if n in table), None)
    if entry is None:
        raise MissingWeights(f"WANFLOW_MAGCACHE_RATIOS={path}: no ratios for {spec.name}")
    experts = ["transformer", "transformer_2"] if spec.layout == "experts" else ["transformer"]
    if isinstance(entry, list):
        entry = {"transformer": entry}
    missing = [name for name in experts if name not in entry]
    if missing:
        raise MissingWeights(
            f"WANFLOW_MAGCACHE_RATIOS={path}: {spec.name} has two experts; give "
            f'{{"transformer": [...], "transformer_2": [...]}} (missing {", ".join(missing)})'
        )
    return {name: [float(r) for r in entry[name]] for name in experts}


def expert_steps(pipe: Any, steps: int) -> dict[str, int]:
    """How many of ``steps`` each transformer runs, from the pipeline's own schedule."""
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    ratio = pipe.config.get("boundary_ratio")
    if ratio is None or getattr(pipe, "transformer_2", None) is None:
        return {"transformer": steps}
    boundary = ratio * scheduler.config.num_train_timesteps
    high = sum(1 for t in scheduler.timesteps.tolist() if t >= boundary)
    return {"transformer": high, "transformer_2": steps - high}


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
    """Switch the pipeline's LoRA set on (loading it the first time) or off.

    A set loaded from another directory than these settings name (another renderer's release,
    on the same resident pipeline) is replaced: its name alone would serve the old weights.
    """
    pipe = loaded.pipe
    if lora is None:
        for module in transformers(pipe):
            if getattr(module, "peft_config", None):
                module.disable_adapters()
        return
    directory = lightning_dir(settings, spec)
    if loaded.adapters.get(lora) != str(directory):
        if lora in loaded.adapters:
            pipe.delete_adapters(lora)
            del loaded.adapters[lora]
        pipe.load_lora_weights(directory, weight_name=LIGHTNING_FILES[0], adapter_name=lora)
        if getattr(pipe, "transformer_2", None) is not None:
            pipe.load_lora_weights(
                directory,
                weight_name=LIGHTNING_FILES[1],
                adapter_name=lora,
                load_into_transformer_2=True,
            )
        loaded.adapters[lora] = str(directory)
    for module in transformers(pipe):
        module.enable_adapters()
        module.set_adapters([lora])


def enable_cache(
    loaded: Any,
    cache: str | None,
    *,
    settings: Settings,
    spec: ModelSpec | None = None,
    steps: int = 0,
) -> None:
    """Turn a step cache on for one shot, or every cache off (``None``)."""
    from diffusers import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

    pipe = loaded.pipe
    configs: dict[str, Any] = {}
    if cache == "first-block":
        configs = dict.fromkeys(_NAMES, FirstBlockCacheConfig(threshold=FIRST_BLOCK_THRESHOLD))
    elif cache == "taylorseer":
        configs = dict.fromkeys(_NAMES, TaylorSeerCacheConfig(cache_identifiers=TAYLORSEER_IDS))
    elif cache == "magcache":
        if spec is None:
            raise ValueError("MagCache needs the model for its ratios")
        ratios, counts = magcache_ratios(settings, spec), expert_steps(pipe, steps)
        configs = {
            name: MagCacheConfig(mag_ratios=ratios[name], num_inference_steps=counts[name])
            for name in ratios
            if counts.get(name)
        }
    elif cache is not None:
        raise ValueError(f"unknown cache {cache!r}; accepted: {', '.join(CACHES)}")
    for name in _NAMES:
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if module.is_cache_enabled:
            module.disable_cache()
        if name in configs:
            module.enable_cache(configs[name])
