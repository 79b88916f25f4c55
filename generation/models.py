"""Which weights render a shot: the model registry and where each model's files are found.

A shot's ``GenerationParams`` say what to render (a Wan2.2 model's official schedule at a
supported size). The registry says which weights do it: the real model from a local directory or
the Hugging Face cache, or — for CPU tests and the offline demo — a tiny random-weight stand-in of
the same layout (``generation.tiny``), which renders the same frames and fps at a small size.

Weights are never downloaded at run time: the hub is reached only when ``hf_offline`` is off,
and missing weights are one ``MissingWeights`` error that says what was looked for and how to
provide it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generation.presets import Model, default_presets
from wanflow.settings import Settings

Layout = Literal["single", "experts", "ti2v"]
TINY = "tiny"
TINY_SHORT_SIDE = 64  # tiny stand-ins render with this short side, keeping the aspect ratio

# Settings field holding each real model's source (a local directory or a hub id).
SOURCE_SETTING = {
    "t2v-a14b": "model_t2v",
    "i2v-a14b": "model_i2v",
    "ti2v-5b": "model_ti2v",
    "flf2v-14b": "model_flf2v",
}
# The tiny stand-in of each real model (same pipeline class, experts and timestep layout).
TINY_STAND_IN = {
    "t2v-a14b": "tiny-t2v-a14b",
    "i2v-a14b": "tiny-i2v-a14b",
    "ti2v-5b": "tiny-ti2v-5b",
    "flf2v-14b": "tiny-flf2v-14b",
}
_LAYOUT = {"t2v-a14b": "experts", "i2v-a14b": "experts", "ti2v-5b": "ti2v", "flf2v-14b": "single"}

# A one-transformer text-to-video model is Wan2.1's layout; its official schedule (Wan2.1
# generate.py: 50 steps, guidance 5, shift 5; 81 frames at 16 fps) serves ``tiny`` and any such
# directory given as a model.
WAN21_T2V = Model(
    name="wan2.1-t2v",
    repo="",
    task="t2v",
    sizes=((1280, 720), (720, 1280), (832, 480), (480, 832)),
    size_multiple=16,
    fps=16,
    frames=81,
    steps=50,
    guidance=5.0,
    shift=5.0,
    solver="unipc",
)


class MissingWeights(FileNotFoundError):
    """A model whose files are not on this machine; the message says how to provide them."""


@dataclass(frozen=True)
class ModelSpec:
    """One model as the renderer loads it."""

    name: str  # registry name ("t2v-a14b", "tiny-ti2v-5b") or the directory given
    source: str  # a local directory or a Hugging Face repo id
    layout: Layout
    task: str  # t2v, i2v, ti2v or flf2v: what the model accepts
    defaults: Model  # the official values the model was released with
    tiny: bool = False

    @property
    def last_frame(self) -> bool:
        """Whether the model honours a shot's last frame (``last_image``), not only its first."""
        return self.defaults.last_frame

    @property
    def size_multiple(self) -> int:
        return self.defaults.size_multiple

    def render_size(self, width: int, height: int) -> tuple[int, int]:
        """The size this model renders a (width, height) request at: itself, or for a tiny
        stand-in the same aspect ratio with a short side of ``TINY_SHORT_SIDE``."""
        if not self.tiny:
            return width, height
        m = self.size_multiple
        short, long = sorted((width, height))
        scaled = max(m, round(long * TINY_SHORT_SIDE / short / m) * m)
        base = max(m, TINY_SHORT_SIDE // m * m)
        return (scaled, base) if width >= height else (base, scaled)

    def cache_key(self) -> str:
        return f"{self.name}@{self.source}"


def resolve_model(name: str, settings: Settings) -> ModelSpec:
    """A registry name (``t2v-a14b``, ``tiny``, ``tiny-ti2v-5b`` …) or a model directory → spec.

    A real model's source comes from its setting (``WANFLOW_MODEL_T2V`` …); the value ``tiny``
    there swaps in the tiny stand-in, which is how the embedded defaults run without weights.
    """
    models = default_presets().models
    if name in SOURCE_SETTING:
        source = getattr(settings, SOURCE_SETTING[name])
        if source == TINY:
            return _tiny(TINY_STAND_IN[name], settings)
        return ModelSpec(name, source, _LAYOUT[name], models[name].task, models[name])
    if name == TINY or name in TINY_STAND_IN.values():
        return _tiny(name, settings)
    path = Path(name).expanduser()
    if path.is_dir():
        return _from_directory(path)
    accepted = ", ".join([*SOURCE_SETTING, TINY, *TINY_STAND_IN.values()])
    raise MissingWeights(
        f"unknown model {name!r}: not a registry name ({accepted}) nor a model directory"
    )


def _tiny(name: str, settings: Settings) -> ModelSpec:
    """Tiny stand-ins keep their real model's schedule; ``tiny`` is the Wan2.1 layout."""
    real = next((r for r, t in TINY_STAND_IN.items() if t == name), None)
    defaults = default_presets().models[real] if real else WAN21_T2V
    layout: Layout = _LAYOUT[real] if real else "single"
    source = str(settings.model_dir / name)
    return ModelSpec(name, source, layout, defaults.task, defaults, tiny=True)


def _from_directory(path: Path) -> ModelSpec:
    """A diffusers directory: its layout from ``model_index.json``, defaults from its real
    counterpart (a single transformer without TI2V timesteps is treated as Wan2.1 T2V)."""
    index_file = path / "model_index.json"
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as exc:
        raise MissingWeights(
            f"{path}: not a diffusers model directory ({index_file.name}: {exc})"
        ) from None
    models = default_presets().models
    if index.get("_class_name") == "WanImageToVideoPipeline" and index.get("transformer_2"):
        real = "i2v-a14b"
    elif index.get("_class_name") == "WanImageToVideoPipeline" and _two_images(path):
        real = "flf2v-14b"
    elif index.get("expand_timesteps"):
        real = "ti2v-5b"
    elif index.get("boundary_ratio") is not None:
        real = "t2v-a14b"
    else:
        real = None
    if real is None:
        return ModelSpec(str(path), str(path), "single", "t2v", WAN21_T2V)
    return ModelSpec(str(path), str(path), _LAYOUT[real], models[real].task, models[real])


def _two_images(path: Path) -> bool:
    """A Wan2.1 image transformer that embeds the CLIP tokens of two images (first and last
    frame) has a position embedding for them: FLF2V's 514 is twice ViT-H's 257."""
    try:
        config = json.loads((path / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return config.get("pos_embed_seq_len") is not None


def configure_hub(settings: Settings) -> None:
    """Point the Hugging Face libraries at the settings' cache and offline mode.

    They read these variables once, when first imported, so this runs before diffusers or
    transformers is imported; ``locate`` also passes ``local_files_only`` explicitly, which holds
    whatever was imported first.
    """
    if settings.hf_offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    if settings.model_cache:
        os.environ["HF_HUB_CACHE"] = str(settings.model_cache)


def locate(spec: ModelSpec, settings: Settings) -> str:
    """The directory ``from_pretrained`` will read for ``spec``, building a tiny model if needed.

    Raises ``MissingWeights`` naming the directory or repo id and the cache searched.
    """
    if spec.tiny:
        from generation.tiny import tiny_model_dir

        return str(tiny_model_dir(spec.name, settings.model_dir))
    path = Path(spec.source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise MissingWeights(f"{path}: no model_index.json; is this a diffusers directory?")
        return str(path)
    if spec.source.startswith(("/", ".", "~")) or spec.source.count("/") != 1:
        raise MissingWeights(
            f"model {spec.name}: directory {spec.source} does not exist; set "
            f"WANFLOW_{SOURCE_SETTING.get(spec.name, 'model_t2v').upper()} to the directory "
            "holding its diffusers files"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = str(settings.model_cache) if settings.model_cache else None
    try:
        return snapshot_download(spec.source, cache_dir=cache, local_files_only=settings.hf_offline)
    except LocalEntryNotFoundError:
        where = cache or os.environ.get("HF_HUB_CACHE") or "the default Hugging Face cache"
        setting = SOURCE_SETTING.get(spec.name, "model_t2v").upper()
        raise MissingWeights(
            f"model {spec.name}: {spec.source} is not in {where} and downloads are off "
            f"(WANFLOW_HF_OFFLINE). On a machine with network run `huggingface-cli download "
            f"{spec.source} --local-dir DIR`, copy DIR here and set WANFLOW_{setting}=DIR "
            f"(or fill WANFLOW_MODEL_CACHE with the hub cache)"
        ) from None
