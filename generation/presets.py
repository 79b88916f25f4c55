"""Wan2.2 models, quality presets, and duration → frame count.

A preset resolves to ``GenerationParams``: every value the diffusers pipeline needs, always one
Wan2.2 accepts (a supported size, 4k+1 frames, the official schedule). The generation stage sets
all of them explicitly because diffusers' call defaults are not Wan's official ones.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wanflow.manifest import Item

Orientation = Literal["landscape", "portrait"]
SIZE_CLASSES = {"480p": 480, "720p": 720}  # the short side of a size in that class, ±16 px


class PresetError(ValueError):
    """An unknown preset or one that cannot serve the item; the message lists what can."""


@dataclass(frozen=True)
class Model:
    name: str
    repo: str
    task: str  # t2v, i2v (needs an image), ti2v (text, optionally an image), flf2v (two images)
    sizes: tuple[tuple[int, int], ...]
    size_multiple: int
    fps: int
    frames: int
    steps: int
    guidance: float
    shift: float
    solver: str
    guidance_2: float | None = None
    boundary_ratio: float | None = None

    @property
    def last_frame(self) -> bool:
        """Whether the model is given a shot's last frame as well as its first (FLF2V), so that
        a keyframe shot ends on the next keyframe rather than wherever it drifts."""
        return self.task == "flf2v"

    def accepts_image(self) -> bool:
        return self.task in ("i2v", "ti2v", "flf2v")

    def accepts_text_only(self) -> bool:
        return self.task in ("t2v", "ti2v")

    def size(self, size_class: str | None, orientation: Orientation) -> tuple[int, int]:
        """The supported (width, height) of a size class and orientation."""
        candidates = [(w, h) for w, h in self.sizes if (w >= h) == (orientation == "landscape")]
        if size_class is not None:
            short = SIZE_CLASSES[size_class]
            candidates = [(w, h) for w, h in candidates if abs(min(w, h) - short) <= 16]
        if not candidates:
            raise PresetError(f"{self.name} has no {size_class or ''} {orientation} size")
        return max(candidates, key=lambda s: s[0] * s[1])


class GenerationParams(BaseModel):
    """What one shot's generation needs besides its prompt, seed and frame count."""

    model_config = ConfigDict(frozen=True)

    preset: str
    model: str
    repo: str
    task: str
    width: int
    height: int
    fps: int
    max_frames: int = Field(description="the model's trained clip length; longer shots split")
    steps: int
    guidance: float
    guidance_2: float | None = None
    boundary_ratio: float | None = None
    shift: float
    solver: str
    lora: str | None = Field(None, description="adapter set of an explicit preset (lightning)")
    cache: str | None = Field(None, description="diffusers cache of an explicit preset")


@dataclass(frozen=True)
class Preset:
    name: str
    zh: str
    description: str
    t2v: str
    i2v: str
    size: str | None = None
    steps: int | None = None
    aliases: tuple[str, ...] = ()
    guidance: float | None = None  # explicit presets only: one scale for every expert
    lora: str | None = None  # explicit presets only: a named adapter set (``lightning``)
    cache: str | None = None  # explicit presets only: a diffusers cache (``first-block``)


class Presets:
    """Models and presets from ``data/presets.toml``, checked against each other on load."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.models = {name: _model(name, spec) for name, spec in data["models"].items()}
        self.order: list[str] = list(data["order"])
        self.explicit: list[str] = list(data.get("explicit", []))
        self.presets = {
            name: Preset(name=name, **{**spec, "aliases": tuple(spec.get("aliases", ()))})
            for name, spec in data["presets"].items()
        }
        self._names = {_key(n): n for n in self.models}
        for preset in self.presets.values():
            for spelling in (preset.name, preset.zh, *preset.aliases):
                self._names[_key(spelling)] = preset.name
        listed = self.order + self.explicit
        if sorted(listed) != sorted(self.presets) or len(set(listed)) != len(listed):
            raise ValueError(
                "presets.toml: `order` and `explicit` together must list every preset once"
            )
        for preset in self.presets.values():
            lossy = (preset.guidance, preset.lora, preset.cache) != (None, None, None)
            if lossy and preset.name not in self.explicit:
                raise ValueError(
                    f"presets.toml: {preset.name} changes guidance, LoRA or cache: list it in "
                    "`explicit`, not `order`"
                )
        for preset in self.presets.values():  # fail at load, not on the first manifest
            for model in (preset.t2v, preset.i2v):
                self.models[model].size(preset.size, "landscape")
                self.models[model].size(preset.size, "portrait")
            if preset.steps is not None and not 1 <= preset.steps <= self.models[preset.t2v].steps:
                raise ValueError(f"presets.toml: {preset.name} steps must be 1..official")

    def names(self) -> list[str]:
        return [*self.order, *self.explicit, *self.models]

    def accepted(self) -> list[str]:
        zh = [f"{self.presets[n].zh}/{n}" for n in (*self.order, *self.explicit)]
        return [*zh, *self.models, "自动/auto"]

    def canonical(self, name: str) -> str | None:
        """The preset or model a manifest spelling names; ``None`` for unknown or auto."""
        return self._names.get(_key(name))

    def resolve(
        self,
        name: str,
        *,
        has_image: bool = False,
        orientation: Orientation = "landscape",
        keyframes: bool = False,
    ) -> GenerationParams:
        """A preset or model name → parameters; raises ``PresetError`` naming what would do.
        Keyframe items (``keyframes``) render each gap from an image: a preset gives its
        image model, which pins only the first frame unless it is a first-last-frame model."""
        key = self.canonical(name) or name
        preset = self.presets.get(key)
        has_image = has_image or keyframes
        if preset is not None:
            model = self.models[preset.i2v if has_image else preset.t2v]
        elif key in self.models:
            model = self.models[key]
            if model.last_frame and not keyframes:
                raise PresetError(
                    f"{model.name} renders between a first and a last frame: it needs keyframes "
                    "(the images column, two or more)"
                )
            if has_image and not model.accepts_image():
                raise PresetError(
                    f"{model.name} makes video from text only, but the item has an image; "
                    f"use {', '.join(self._image_models())}"
                )
            if not has_image and not model.accepts_text_only():
                raise PresetError(
                    f"{model.name} needs a reference image (the image column); "
                    f"without one use {', '.join(self._text_models())}"
                )
        else:
            raise PresetError(f"unknown preset {name!r}; accepted: {', '.join(self.accepted())}")
        return params_of(model, key, preset, orientation)

    def _image_models(self) -> list[str]:
        return [m for m, model in self.models.items() if model.task in ("i2v", "ti2v")]

    def _text_models(self) -> list[str]:
        return [m for m in self.models if self.models[m].accepts_text_only()]

    def check_item(self, item: Item) -> list[tuple[str, str]]:
        """A named preset must exist and suit the item (image or not); ingestion reports it."""
        if item.preset is None or is_auto(item.preset):
            return []
        try:
            self.resolve(
                item.preset, has_image=item.image is not None, keyframes=item.images is not None
            )
        except PresetError as exc:
            return [("preset", str(exc))]
        return []


def params_of(
    model: Model,
    name: str,
    preset: Preset | None = None,
    orientation: Orientation = "landscape",
) -> GenerationParams:
    """``model``'s official values at the largest size of its class, as ``preset`` (if any)
    narrows them; ``name`` is what the parameters are recorded as."""
    size_class, steps = (preset.size, preset.steps) if preset else (None, None)
    width, height = model.size(size_class, orientation)
    return GenerationParams(
        preset=name,
        model=model.name,
        repo=model.repo,
        task=model.task,
        width=width,
        height=height,
        fps=model.fps,
        max_frames=model.frames,
        steps=steps or model.steps,
        guidance=_first(preset and preset.guidance, model.guidance),
        guidance_2=_first(preset and preset.guidance, model.guidance_2),
        boundary_ratio=model.boundary_ratio,
        shift=model.shift,
        solver=model.solver,
        lora=preset.lora if preset else None,
        cache=preset.cache if preset else None,
    )


def _first(override, default):
    return default if override is None else override


def is_auto(name: str) -> bool:
    return _key(name) in ("auto", "自动")


def _key(name: str) -> str:
    return (
        unicodedata.normalize("NFKC", name).strip().casefold().replace("_", "-").replace(" ", "-")
    )


def _model(name: str, spec: dict[str, Any]) -> Model:
    sizes = tuple(tuple(int(n) for n in s.lower().split("x")) for s in spec["sizes"])
    for w, h in sizes:
        if w % spec["size_multiple"] or h % spec["size_multiple"]:
            raise ValueError(f"presets.toml: {name} size {w}x{h} is not a multiple of its grid")
    if (spec["frames"] - 1) % 4:
        raise ValueError(f"presets.toml: {name} frames must be 4k+1")
    return Model(name=name, sizes=sizes, **{k: v for k, v in spec.items() if k != "sizes"})


def frames_for(duration_s: float, fps: int, max_frames: int) -> int:
    """The 4k+1 frame count nearest to ``duration_s`` at ``fps``, between 5 and ``max_frames``.

    Wan's VAE compresses time by 4 and keeps the first frame, so only 4k+1 frames decode
    without the pipeline silently rounding the request.
    """
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    k = max(1, round((duration_s * fps - 1) / 4))
    return min(4 * k + 1, max_frames - (max_frames - 1) % 4)


@lru_cache(maxsize=1)
def default_presets() -> Presets:
    text = resources.files("generation").joinpath("data/presets.toml").read_text("utf-8")
    return Presets(tomllib.loads(text))
