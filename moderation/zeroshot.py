"""Violence, gore, blood and weapons (and a sexual cross-check) by OpenCLIP zero-shot prompts.

No detector for these categories ships with usable weights, and CLIP compares a frame with any
sentence, so one checkpoint covers every category and new ones cost a prompt, not a training run.

Weights never come from the network. ``weights`` is one of

* a checkpoint file (``.safetensors``, ``.bin``, ``.pt``, ``.pth``) for the architecture ``model``;
* ``local-dir:DIR`` — a folder with ``open_clip_config.json`` and a checkpoint (what
  ``huggingface-cli download ORG/NAME --local-dir DIR`` leaves); the folder's config decides the
  architecture and ``model`` only names it in ``source``;
* ``hf-hub:ORG/NAME`` — the same files already in the Hugging Face cache (``cache_dir`` or
  ``HF_HUB_CACHE``); looked up with ``local_files_only`` and then read as a local folder, so
  nothing is fetched even when ``huggingface_hub`` was imported before ``HF_HUB_OFFLINE=1`` was
  set (it reads that variable only at import);
* a pretrained tag of ``model`` (``laion2b_s34b_b79k`` …) whose files are in that cache.

Architectures whose text tower or tokenizer comes from transformers by name (xlm-roberta, nllb,
mt5, SigLIP) would fetch it past all of that; they load only when the hub is in offline mode.

Unset weights fail closed: ``score`` raises ``ClassifierError`` and the policy sends the item to
a person. Random weights exist only through ``random_weights()``, for tests and timings.

Scoring: one softmax over every prompt, unsafe and safe, at the checkpoint's logit scale; a
category's score is the *sum* of its prompts' probabilities — the probability mass that says
"this category rather than anything else listed". A max would split that mass between
paraphrases, so adding a synonym would lower a category's score; the sum does not care how a
concept is worded. The price is a prior: a frame that matches nothing in particular gives each
category about (its prompts / all prompts), 4/36 ≈ 0.11 with the defaults, well under the
review thresholds — so keep the prompt counts balanced and the safe list the longest.

Chinese prompts: CLIP's BPE vocabulary is English; it splits Chinese mostly into single UTF-8 bytes,
which an English checkpoint barely saw in training, so their similarities are close to
noise and would only blur the softmax. They are therefore used only when asked for
(``languages=("en", "zh")``): right for a multilingual checkpoint (``xlm-roberta-*-ViT-*``,
``nllb-clip-*``), not for English ones such as ``ViT-B-32``; until then they are kept so that
such a deployment needs no code change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.signals import ClassifierError, Frame, Score

WEIGHTS_SETTING = "WANFLOW_CLIP_WEIGHTS"
MODEL_SETTING = "WANFLOW_CLIP_MODEL"
SAFE = "safe"  # the contrast prompts' label; never emitted as a Score category

# Four prompts per unsafe category (balanced, see the module docstring), English and Chinese.
DEFAULT_PROMPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "violence": {
        "en": (
            "a photo of people fighting violently",
            "a photo of someone being beaten or attacked",
            "a violent brawl with punches and kicks",
            "a scene of a violent assault",
        ),
        "zh": (
            "人们激烈打斗的照片",
            "有人被殴打或袭击的照片",
            "拳打脚踢的暴力斗殴",
            "暴力袭击的场景",
        ),
    },
    "gore": {
        "en": (
            "a photo of a gory wound with exposed flesh",
            "a mutilated body",
            "a graphic image of a severe injury",
            "a dead body with visible injuries",
        ),
        "zh": (
            "血肉模糊的伤口的照片",
            "残缺不全的尸体",
            "严重受伤的血腥画面",
            "带有明显伤痕的尸体",
        ),
    },
    "blood": {
        "en": (
            "a photo of blood splattered on the floor",
            "a person bleeding heavily",
            "a pool of blood",
            "blood stains on clothes and walls",
        ),
        "zh": (
            "地上溅满鲜血的照片",
            "一个人大量流血",
            "一滩血",
            "衣服和墙上的血迹",
        ),
    },
    "weapons": {
        "en": (
            "a photo of a gun",
            "a person holding a knife as a weapon",
            "a person aiming a rifle",
            "a photo of weapons such as guns, knives or explosives",
        ),
        "zh": (
            "一把枪的照片",
            "一个人手持刀作为武器",
            "一个人举枪瞄准",
            "枪支、刀具或爆炸物等武器的照片",
        ),
    },
    # A cross-check for the nudity detectors, and a place for such frames to go other than gore.
    "sexual": {
        "en": (
            "a sexually explicit photo",
            "a photo of naked people having sex",
            "a pornographic image",
            "an erotic photo of a nude person",
        ),
        "zh": (
            "色情露骨的照片",
            "裸体人物发生性行为的照片",
            "一张色情图片",
            "裸体人物的情色照片",
        ),
    },
}

# Ordinary scenes, plus look-alikes that should not count: kitchen knives, red paint, sport.
DEFAULT_SAFE_PROMPTS: dict[str, tuple[str, ...]] = {
    "en": (
        "a peaceful landscape",
        "a person smiling",
        "an animated cartoon scene",
        "a starry night sky",
        "people talking at a table",
        "a city street in daylight",
        "a cute animal",
        "a plate of food",
        "people dancing at a party",
        "a chef cutting vegetables in a kitchen",
        "red paint or tomato sauce",
        "a car driving on a road",
        "an empty room",
        "abstract colorful shapes",
        "a person walking in a park",
        "people playing a sport",
    ),
    "zh": (
        "宁静的风景",
        "一个微笑的人",
        "动画卡通场景",
        "星空",
        "人们围坐在桌旁聊天",
        "白天的城市街道",
        "一只可爱的动物",
        "一盘食物",
        "人们在派对上跳舞",
        "厨师在厨房里切菜",
        "红色颜料或番茄酱",
        "一辆在路上行驶的汽车",
        "一个空房间",
        "抽象的彩色图形",
        "一个人在公园里散步",
        "人们在进行体育运动",
    ),
}

_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_FOLDER_SUFFIXES = (".safetensors", ".bin", ".pth")  # what open_clip looks for in a folder
_HF_CONFIG = "open_clip_config.json"
_HF_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def default_prompts(
    languages: Sequence[str] = ("en",),
) -> tuple[dict[str, list[str]], list[str]]:
    """The shipped category prompts and safe prompts in ``languages``, ready for the constructor."""
    known = set(DEFAULT_SAFE_PROMPTS)
    unknown = [lang for lang in languages if lang not in known]
    if unknown or not languages:
        raise ValueError(f"prompt languages {list(languages)}: choose from {sorted(known)}")
    prompts = {
        category: [p for lang in languages for p in by_lang[lang]]
        for category, by_lang in DEFAULT_PROMPTS.items()
    }
    return prompts, [p for lang in languages for p in DEFAULT_SAFE_PROMPTS[lang]]


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
        """(frames, labels) softmax probabilities; each row sums to 1 over ``self.labels``."""
        images = [_checked_image(frame) for frame in frames]
        model, preprocess, _ = self.load()  # even for no frames: unset weights always fail
        if not images:
            return np.zeros((0, len(self.labels)))
        import torch

        text = self.text_features()
        device = _parameter_device(model)
        rows = []
        with torch.inference_mode():
            scale = model.logit_scale.exp().clamp(max=100)  # CLIP's own cap
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                batch = torch.stack([preprocess(image) for image in chunk])
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
        """(model, preprocess, tokenizer), loaded once; ``ClassifierError`` when it cannot be."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._build()
        return self._loaded

    def _build(self) -> tuple[Any, Any, Any]:
        if self.weights is None and self._random_seed is None:
            raise ClassifierError(
                f"no OpenCLIP weights configured ({WEIGHTS_SETTING} is unset): the zero-shot check "
                f"for {', '.join(self.categories)} cannot run, so a person must look. Set "
                f"{WEIGHTS_SETTING} to a checkpoint file for {MODEL_SETTING}={self.model}, to "
                "local-dir:DIR, or to hf-hub:ORG/NAME already in the Hugging Face cache"
            )
        try:
            import open_clip
            import torch
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise ClassifierError(f"open_clip is not importable: {exc}") from exc
        device = _device(self.device, torch)
        if self._random_seed is not None:
            _refuse_downloads(open_clip, self.model, self.model)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._random_seed)
                return self._create(open_clip, self.model, {"pretrained": None}, device, False)
        name, kwargs = _resolve(open_clip, self.model, self.weights, self.cache_dir)
        _refuse_downloads(open_clip, name, self.model)
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


def _resolve(open_clip: Any, model: str, weights: str, cache_dir: str | None):
    """``weights`` → (the name for ``create_model_and_transforms``, its keyword arguments),
    touching only local files."""
    if weights.startswith("local-dir:"):
        folder = Path(weights.removeprefix("local-dir:")).expanduser()
        _check_folder(folder, weights)
        return f"local-dir:{folder}", {}
    if weights.startswith("hf-hub:"):
        repo = weights.removeprefix("hf-hub:")
        config = _cached(repo, (_HF_CONFIG,), cache_dir, weights)
        _cached(repo, _HF_WEIGHTS, cache_dir, weights)
        # The snapshot folder holds both files; open_clip reads it as a local folder, so neither
        # the model nor the tokenizer asks the Hub for anything.
        return f"local-dir:{Path(config).parent}", {}
    path = Path(weights).expanduser()
    if path.suffix in _CHECKPOINT_SUFFIXES or os.sep in weights or path.exists():
        if not path.is_file():
            raise ClassifierError(
                f"OpenCLIP checkpoint {path} ({WEIGHTS_SETTING}) does not exist or is not a file"
            )
        return model, {"pretrained": str(path)}
    tags = open_clip.list_pretrained_tags_by_model(model)
    if weights not in tags:
        raise ClassifierError(
            f"{WEIGHTS_SETTING}={weights!r} is not a checkpoint file, local-dir:DIR, "
            f"hf-hub:ORG/NAME nor a pretrained tag of {model} (tags: {', '.join(tags) or 'none'})"
        )
    cfg = open_clip.get_pretrained_cfg(model, weights)
    hub = cfg.get("hf_hub", "")
    if not hub:
        raise ClassifierError(
            f"pretrained tag {model}/{weights} is only a download URL; fetch the file elsewhere "
            f"and set {WEIGHTS_SETTING} to its path"
        )
    repo, filename = os.path.split(hub)  # "org/name/" means open_clip's default file names
    names = (_safetensors_name(filename), filename) if filename else _HF_WEIGHTS
    checkpoint = _cached(repo, tuple(n for n in names if n), cache_dir, f"{weights} ({model} tag)")
    kwargs: dict[str, Any] = {
        "pretrained": checkpoint,
        # What open_clip would take from the tag itself: its preprocessing, and QuickGELU for
        # the OpenAI weights (plain GELU runs but scores worse).
        "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
        "image_mean": cfg.get("mean"),
        "image_std": cfg.get("std"),
        "image_interpolation": cfg.get("interpolation"),
        "image_resize_mode": cfg.get("resize_mode"),
    }
    return model, kwargs


def _refuse_downloads(open_clip: Any, name: str, model: str) -> None:
    """Architectures with a Hugging Face text tower or tokenizer (xlm-roberta, nllb, mt5,
    SigLIP …) fetch those parts through transformers by name, past every local path given here;
    only the hub's offline mode keeps that from the network, and it is read at import, so it
    cannot be switched on here — refuse instead of downloading."""
    config = open_clip.get_model_config(name) or {}
    text = config.get("text_cfg", {})
    needs = [text.get(key) for key in ("hf_model_name", "hf_tokenizer_name") if text.get(key)]
    if not name.startswith(("local-dir:", "hf-hub:")) and "siglip" in name.lower():
        needs.append("its SigLIP tokenizer")
    if not needs:
        return
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        raise ClassifierError(
            f"OpenCLIP {model} also loads {' and '.join(dict.fromkeys(needs))} from the Hugging "
            "Face hub by name, and huggingface_hub is not in offline mode: set HF_HUB_OFFLINE=1 "
            "(WANFLOW_HF_OFFLINE) before anything imports it and fill the cache, so that a "
            "missing file fails instead of downloading"
        )


def _safetensors_name(filename: str) -> str:
    if filename.endswith((".bin", ".pth")):
        return filename.rsplit(".", 1)[0] + ".safetensors"
    return ""


def _check_folder(folder: Path, weights: str) -> None:
    if not folder.is_dir():
        raise ClassifierError(f"{WEIGHTS_SETTING}={weights}: {folder} is not a folder")
    if not (folder / _HF_CONFIG).is_file():
        raise ClassifierError(f"{WEIGHTS_SETTING}={weights}: {folder} has no {_HF_CONFIG}")
    if not any(p.suffix in _FOLDER_SUFFIXES for p in folder.iterdir() if p.is_file()):
        # open_clip would build the model anyway, with random weights, and only log a warning.
        raise ClassifierError(f"{WEIGHTS_SETTING}={weights}: {folder} has no checkpoint file")


def _cached(repo: str, filenames: tuple[str, ...], cache_dir: str | None, tried: str) -> str:
    """The first of ``filenames`` present in the local HF cache for ``repo``; never downloads."""
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError as exc:  # pragma: no cover - open_clip depends on it
        raise ClassifierError(f"huggingface_hub is not importable: {exc}") from exc
    for filename in filenames:
        try:
            return hf_hub_download(repo, filename, cache_dir=cache_dir, local_files_only=True)
        except Exception:  # not cached (or not a valid repo id): try the next name
            continue
    where = cache_dir or constants.HF_HUB_CACHE
    raise ClassifierError(
        f"{WEIGHTS_SETTING}={tried}: none of {', '.join(filenames)} of {repo} is in {where} "
        "(offline: nothing is downloaded; fill the cache on a machine with network, "
        "or download to a folder and use local-dir:DIR)"
    )


def _checked_image(frame: Frame) -> Any:
    """The frame as a PIL image; anything but uint8 RGB (H, W, 3) is a caller's bug — a float
    frame in [0, 1] would be silently scaled wrong, which is worse than an error."""
    image = frame.image
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame {frame.index}: image is {type(image).__name__}, not a numpy array")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(
            f"frame {frame.index}: need uint8 RGB (height, width, 3), "
            f"got {image.dtype} {image.shape}"
        )
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))


def _device(device: str, torch: Any) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _parameter_device(model: Any) -> Any:
    return next(model.parameters()).device


def _short(exc: BaseException, limit: int = 600) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " …"
