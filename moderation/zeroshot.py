"""Violence, gore, blood and weapons (and a sexual cross-check) by OpenCLIP zero-shot prompts.

No detector for these categories ships with usable weights, and CLIP compares a frame with any
sentence, so one checkpoint covers every category and new ones cost a prompt, not a training run.

Weights never come from the network (:mod:`moderation.clip_weights` says where they may come
from); the shipped prompts are in :mod:`moderation.clip_prompts`.

Unset weights fail closed: ``score`` raises ``ClassifierError`` and the policy sends the item to
a person. Random weights exist only through ``random_weights()``, for tests and timings.

Scoring: one softmax over every prompt, unsafe and safe, at the checkpoint's logit scale; a
category's score is the *sum* of its prompts' probabilities — the probability mass that says
"this category rather than anything else listed". A max would split that mass between
paraphrases, so adding a synonym would lower a category's score; the sum does not care how a
concept is worded. The price is a prior: a frame that matches nothing in particular gives each
category about (its prompts / all prompts), 4/36 ≈ 0.11 with the defaults, well under the
review thresholds — so keep the prompt counts balanced and the safe list the longest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moderation.clip_prompts import SAFE, default_prompts
from moderation.clip_weights import MODEL_SETTING, WEIGHTS_SETTING, refuse_downloads, resolve
from moderation.signals import ClassifierError, Frame, Score


class ZeroShotClassifier:
    """Scores frames against unsafe and safe prompts with one OpenCLIP checkpoint.

    The model loads on first use (or ``load()``) and stays; build one per worker and reuse it,
    since loading ViT-B-32 costs a second or two and its text embeddings are computed once.
    Categories without a policy threshold go to review on any score, so custom categories need
    thresholds (``WANFLOW_REVIEW_THRESHOLDS``).
    """

    def __init__(
        self,
        model: str = "ViT-B-32",
        weights: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        prompts: Mapping[str, Sequence[str]] | None = None,
        safe_prompts: Sequence[str] | None = None,
        languages: Sequence[str] = ("en",),
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        shipped, shipped_safe = default_prompts(languages)
        chosen = shipped if prompts is None else {c: list(p) for c, p in prompts.items()}
        safe = shipped_safe if safe_prompts is None else list(safe_prompts)
        self.labels: list[tuple[str, str]] = _labels(chosen, safe)
        self.categories: list[str] = list(chosen)
        self.model = model
        self.weights = None if weights is None else os.fspath(weights)
        self.device = device
        self.batch_size = batch_size
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.name = f"openclip:{model}"
        self._random_seed: int | None = None
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None  # (model, preprocess, tokenizer)
        self._text: Any = None  # normalised text embeddings, one row per label
        self._indices = {c: [i for i, (lc, _) in enumerate(self.labels) if lc == c] for c in chosen}

    @classmethod
    def random_weights(
        cls, model: str = "ViT-S-32", *, seed: int = 0, **options: Any
    ) -> ZeroShotClassifier:
        """A randomly initialised model (``pretrained=None``), built offline: its scores mean
        nothing, so it serves tests and timings only; ``source`` says ``[random]``."""
        classifier = cls(model, None, **options)
        classifier._random_seed = seed
        classifier.name = f"openclip:{model}[random]"
        return classifier

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> ZeroShotClassifier:
        """From Wanflow's settings (``clip_model``, ``clip_weights``, ``model_cache``,
        ``device``) so the weights setting named in errors is the one the operator sets."""
        device = getattr(settings, "device", "cpu")
        return cls(
            getattr(settings, "clip_model", "ViT-B-32"),
            getattr(settings, "clip_weights", None),
            device=options.pop("device", device),
            cache_dir=options.pop("cache_dir", getattr(settings, "model_cache", None)),
            **options,
        )

    # --- the Classifier protocol ----------------------------------------------------------------

    def score(self, frames: list[Frame]) -> list[Score]:
        probabilities = self.probabilities(frames)
        label = self.name.removeprefix("openclip:")
        scores: list[Score] = []
        for frame, row in zip(frames, probabilities, strict=True):
            for category in self.categories:
                indices = self._indices[category]
                best = max(indices, key=lambda i: row[i])
                scores.append(
                    Score(
                        category=category,
                        score=min(1.0, max(0.0, float(row[indices].sum()))),
                        time_s=frame.time_s,
                        frame=frame.index,
                        source=f"openclip:{label}:{self.labels[best][1]}",
                    )
                )
        return scores

    # --- the parts, exposed for tests and calibration --------------------------------------------

    def probabilities(self, frames: list[Frame]) -> np.ndarray:
        """(frames, labels) softmax probabilities; each row sums to 1 over ``self.labels``.

        One forward pass per ``batch_size`` frames: on a CPU a batch of 16 costs well under
        16 single frames, and the numbers do not depend on how frames are batched."""
        images = [_checked_image(frame) for frame in frames]
        model, preprocess, _ = self.load()  # even for no frames: unset weights always fail
        if not images:
            return np.zeros((0, len(self.labels)))
        import torch
        from PIL import Image

        text = self.text_features()
        device = _parameter_device(model)
        rows = []
        with torch.inference_mode():
            scale = model.logit_scale.exp().clamp(max=100)  # CLIP's own cap
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                batch = torch.stack([preprocess(Image.fromarray(image)) for image in chunk])
                features = model.encode_image(batch.to(device))
                features = features / features.norm(dim=-1, keepdim=True)
                rows.append((scale * features @ text.T).softmax(dim=-1).float().cpu())
        return torch.cat(rows).double().numpy()

    def text_features(self) -> Any:
        """The labels' normalised text embeddings, computed once per classifier (its model and
        prompts are fixed): on a CPU, encoding the 36 default prompts costs as much as scoring
        25–50 frames."""
        if self._text is None:
            import torch

            model, _, tokenizer = self.load()
            with self._lock:
                if self._text is None:
                    tokens = tokenizer([prompt for _, prompt in self.labels])
                    with torch.inference_mode():
                        text = model.encode_text(tokens.to(_parameter_device(model)))
                    self._text = text / text.norm(dim=-1, keepdim=True)
        return self._text

    @property
    def module(self) -> Any:
        """The loaded ``open_clip`` model (loading it if needed)."""
        return self.load()[0]

    def load(self) -> tuple[Any, Any, Any]:
        """(model, preprocess, tokenizer), loaded once per process for the same model, weights
        and device (:func:`_shared`); ``ClassifierError`` when it cannot be. The weights are
        known by the files they resolve to, so two settings that name one checkpoint (with
        different model caches, say) share a load."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    source = self._source()
                    key = (self.model, repr(source), self._random_seed, self.device)
                    self._loaded = _shared(key, lambda: self._build(source))
        return self._loaded

    def _source(self) -> tuple[str, dict[str, Any]] | None:
        """The configured weights as ``create_model_and_transforms`` takes them (name,
        keyword arguments), from local files only; ``None`` for random or no weights."""
        if self.weights is None or self._random_seed is not None:
            return None
        return resolve(_open_clip(), self.model, self.weights, self.cache_dir)

    def _build(self, source: tuple[str, dict[str, Any]] | None) -> tuple[Any, Any, Any]:
        if source is None and self._random_seed is None:
            raise ClassifierError(
                f"no OpenCLIP weights configured ({WEIGHTS_SETTING} is unset): the zero-shot check "
                f"for {', '.join(self.categories)} cannot run, so a person must look. Set "
                f"{WEIGHTS_SETTING} to a checkpoint file for {MODEL_SETTING}={self.model}, to "
                "local-dir:DIR, or to hf-hub:ORG/NAME already in the Hugging Face cache"
            )
        open_clip = _open_clip()
        import torch

        device = _device(self.device, torch)
        if source is None:
            refuse_downloads(open_clip, self.model, self.model)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._random_seed)
                return self._create(open_clip, self.model, {"pretrained": None}, device, False)
        name, kwargs = source
        refuse_downloads(open_clip, name, self.model)
        return self._create(open_clip, name, kwargs, device, True)

    def _create(self, open_clip: Any, name: str, kwargs: dict, device: str, require: bool):
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name,
                device=device,
                pretrained_text=False,  # an HF text tower must not fetch its own base weights
                # Otherwise a folder or cache entry without weights loads as random, with a warning.
                require_pretrained=require,
                **kwargs,
            )
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            source = self.weights or "random init"
            file = kwargs.get("pretrained")
            file = f", {file}" if file and file != self.weights else ""
            raise ClassifierError(
                f"could not load OpenCLIP {self.model} from {source} (as {name}{file}; "
                f"{WEIGHTS_SETTING}, {MODEL_SETTING}): {type(exc).__name__}: {_short(exc)}"
            ) from exc
        model.eval()
        return model, preprocess, tokenizer


def _open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ClassifierError(f"open_clip is not importable: {exc}") from exc
    return open_clip


# Loaded models by (model, weights as resolved, random seed, device): a ViT-B-32 takes 9-20 s to
# load on a CPU, and review builds a classifier per configuration, a test or a benchmark many.
_MODELS: dict[tuple, tuple[Any, Any, Any]] = {}
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 4


def _shared(key: tuple, build: Any) -> tuple[Any, Any, Any]:
    """The model loaded under ``key``, building it (once, under a lock) if it is not held.
    A failed load is not remembered: weights put in place later load on the next review."""
    with _MODELS_LOCK:
        if key not in _MODELS:
            loaded = build()
            while len(_MODELS) >= _MODELS_KEPT:  # the oldest first
                del _MODELS[next(iter(_MODELS))]
            _MODELS[key] = loaded
        return _MODELS[key]


def _labels(prompts: Mapping[str, list[str]], safe: list[str]) -> list[tuple[str, str]]:
    if not prompts:
        raise ValueError("at least one unsafe category with prompts is needed")
    if not safe:
        raise ValueError("safe prompts are needed: without a contrast every frame is unsafe")
    labels: list[tuple[str, str]] = []
    for category, texts in prompts.items():
        if category == SAFE or not category:
            raise ValueError(f"{category!r} cannot name an unsafe category")
        if not texts:
            raise ValueError(f"category {category!r} has no prompts")
        labels += [(category, text) for text in texts]
    labels += [(SAFE, text) for text in safe]
    seen: dict[str, str] = {}
    for category, text in labels:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty prompt in {category!r}")
        if text in seen:
            raise ValueError(f"prompt {text!r} is in both {seen[text]!r} and {category!r}")
        seen[text] = category
    return labels


def _checked_image(frame: Frame) -> np.ndarray:
    """The frame's pixels; anything but uint8 RGB (H, W, 3) is a caller's bug — a float frame
    in [0, 1] would be silently scaled wrong, which is worse than an error."""
    image = frame.image
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame {frame.index}: image is {type(image).__name__}, not a numpy array")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            f"frame {frame.index}: need uint8 RGB (height, width, 3), "
            f"got {image.dtype} {image.shape}"
        )
    return np.ascontiguousarray(image)


def _device(device: str, torch: Any) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _parameter_device(model: Any) -> Any:
    return next(model.parameters()).device


def _short(exc: BaseException, limit: int = 600) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " …"


__all__ = ["ZeroShotClassifier"]
