"""GPU-time estimates for a shot plan, and the chooser that fits a preset to a time budget.

Figures come from ``data/costs.toml``, each with its source. A configuration without its own
figure is scaled from the nearest one of the same transformer on the same GPU by floating-point
work: linear layers grow with the token count, self-attention with its square, so a 480p clip
is not simply (480/720)² of a 720p one. Every estimate lists how it was obtained.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from generation.presets import GenerationParams


class NoFigures(LookupError):
    """No figure for this model on this GPU: the estimate would be a guess, so there is none."""


@dataclass(frozen=True)
class Architecture:
    name: str
    models: tuple[str, ...]
    dim: int
    ffn_dim: int
    layers: int
    text_tokens: int
    patch: tuple[int, int, int]
    vae_stride: tuple[int, int, int]
    vae: str

    def tokens(self, width: int, height: int, frames: int) -> int:
        t = (frames - 1) // self.vae_stride[0] + 1
        h = height // (self.vae_stride[1] * self.patch[1])
        w = width // (self.vae_stride[2] * self.patch[2])
        return (t // self.patch[0]) * h * w

    def forward_flops(self, width: int, height: int, frames: int) -> float:
        """FLOPs of one forward: per layer, self-attention projections (4d²), cross-attention
        query/output (2d²) and key/value over the text (2d² per text token), the MLP (2·d·ffn)
        per token, plus the attention products (2·n²·d each for scores and values)."""
        n, d, text = self.tokens(width, height, frames), self.dim, self.text_tokens
        per_token = 6 * d * d + 2 * d * self.ffn_dim
        linear = 2 * (n * per_token + text * 2 * d * d)
        attention = 4 * n * n * d + 4 * n * text * d
        return float(self.layers * (linear + attention))


@dataclass(frozen=True)
class Figure:
    kind: str  # forward, run, decode or load
    seconds: float
    source: str
    gpu: str = ""
    size: tuple[int, int] = (0, 0)
    frames: int = 0
    steps: int = 0
    key: str = ""  # architecture, model or vae

    def describe(self) -> str:
        what = (
            f"{self.key} {self.size[0]}x{self.size[1]}/{self.frames}f" if self.frames else self.key
        )
        return f"{self.kind} {what} on {self.gpu or 'any GPU'}: {self.seconds:g} s ({self.source})"


@dataclass
class Estimate:
    """Seconds of GPU time for one item's shots; ``basis`` says where each number came from."""

    model: str
    gpu: str
    denoise_s: float
    decode_s: float
    load_s: float
    basis: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.denoise_s + self.decode_s + self.load_s


class CostModel:
    def __init__(self, data: dict[str, Any]) -> None:
        self.architectures: dict[str, Architecture] = {}
        for name, spec in data["architectures"].items():
            self.architectures[name] = Architecture(
                name=name,
                models=tuple(spec["models"]),
                dim=spec["dim"],
                ffn_dim=spec["ffn_dim"],
                layers=spec["layers"],
                text_tokens=spec["text_tokens"],
                patch=tuple(spec["patch"]),
                vae_stride=tuple(spec["vae_stride"]),
                vae=spec["vae"],
            )
        self.figures: list[Figure] = []
        for kind, keyname in (("forward", "architecture"), ("run", "model"), ("decode", "vae")):
            for row in data.get(kind, []):
                self.figures.append(_figure(kind, row, row[keyname]))
        for row in data.get("load", []):
            self.figures.append(
                Figure("load", float(row["seconds"]), row["source"], key=row["model"])
            )

    def architecture_of(self, model: str) -> Architecture:
        for arch in self.architectures.values():
            if model in arch.models:
                return arch
        raise NoFigures(f"no architecture is recorded for {model!r} in costs.toml")

    def gpus(self) -> list[str]:
        return sorted({f.gpu for f in self.figures if f.gpu})

    def estimate(
        self, params: GenerationParams, frames: list[int], gpu: str, *, include_load: bool = True
    ) -> Estimate:
        """GPU seconds to make clips of ``frames`` each with ``params`` on ``gpu``."""
        arch = self.architecture_of(params.model)
        gpu_key = _gpu(gpu)
        passes = 2 if params.guidance > 1 else 1  # classifier-free guidance runs two branches
        est = Estimate(params.model, gpu, 0.0, 0.0, 0.0)
        forward = self._nearest("forward", arch.name, gpu_key, arch, params, frames)
        if forward is not None:
            for n in frames:
                scale = self._scale(arch, forward, params, n)
                est.denoise_s += params.steps * passes * forward.seconds * scale
            est.basis.append(f"denoise scaled by FLOPs from {forward.describe()}")
            decode = self._nearest_decode(arch, gpu_key, params, frames)
            if decode is None:
                est.basis.append(f"no {arch.vae} VAE decode figure on {gpu}: decode not counted")
            else:
                for n in frames:
                    pixels = params.width * params.height * n
                    est.decode_s += (
                        decode.seconds * pixels / (decode.size[0] * decode.size[1] * decode.frames)
                    )
                est.basis.append(f"decode scaled by pixels from {decode.describe()}")
        else:
            run = self._nearest("run", None, gpu_key, arch, params, frames)
            if run is None:
                raise NoFigures(
                    f"no figures for {params.model} on {gpu}; GPUs with figures: "
                    f"{', '.join(self.gpus())}. Add a row to costs.toml"
                )
            per_step = run.seconds / run.steps
            for n in frames:
                est.denoise_s += params.steps * per_step * self._scale(arch, run, params, n)
            est.basis.append(
                f"whole-run figure (decode and encoding included) scaled by FLOPs from "
                f"{run.describe()}"
            )
        if include_load:
            load = next(
                (f for f in self.figures if f.kind == "load" and f.key == params.model), None
            )
            if load is None:
                est.basis.append(f"no load figure for {params.model}: load not counted")
            else:
                est.load_s = load.seconds
                est.basis.append(f"model load {load.describe()}")
        return est

    def _nearest(
        self,
        kind: str,
        arch_key: str | None,
        gpu: str,
        arch: Architecture,
        params: GenerationParams,
        frames: list[int],
    ) -> Figure | None:
        keys = {arch_key} if arch_key else set(arch.models)
        rows = [f for f in self.figures if f.kind == kind and f.gpu == gpu and f.key in keys]
        if not rows:
            return None
        # Prefer the same model over its sibling, then the closest amount of work.
        target = arch.forward_flops(params.width, params.height, max(frames))
        return min(
            rows,
            key=lambda f: (
                f.key != params.model and kind == "run",
                abs(arch.forward_flops(f.size[0], f.size[1], f.frames) / target - 1),
            ),
        )

    def _nearest_decode(
        self, arch: Architecture, gpu: str, params: GenerationParams, frames: list[int]
    ) -> Figure | None:
        rows = [
            f for f in self.figures if f.kind == "decode" and f.key == arch.vae and f.gpu == gpu
        ]
        return rows[0] if rows else None

    @staticmethod
    def _scale(arch: Architecture, figure: Figure, params: GenerationParams, frames: int) -> float:
        return arch.forward_flops(params.width, params.height, frames) / arch.forward_flops(
            figure.size[0], figure.size[1], figure.frames
        )


def _gpu(name: str) -> str:
    """GPU names compare without spaces, dashes or case: "RTX 4090" = "rtx4090"."""
    return "".join(ch for ch in name.upper() if ch.isalnum())


def _figure(kind: str, row: dict[str, Any], key: str) -> Figure:
    width, height = (int(n) for n in row["size"].lower().split("x"))
    return Figure(
        kind=kind,
        seconds=float(row["seconds"]),
        source=row["source"],
        gpu=_gpu(row["gpu"]),
        size=(width, height),
        frames=int(row["frames"]),
        steps=int(row.get("steps", 0)),
        key=key,
    )


@lru_cache(maxsize=1)
def default_cost_model() -> CostModel:
    text = resources.files("generation").joinpath("data/costs.toml").read_text("utf-8")
    return CostModel(tomllib.loads(text))
