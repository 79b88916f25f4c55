"""Where OpenCLIP weights come from: never the network.

``weights`` is one of

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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from moderation.signals import ClassifierError

WEIGHTS_SETTING = "WANFLOW_CLIP_WEIGHTS"
MODEL_SETTING = "WANFLOW_CLIP_MODEL"
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_FOLDER_SUFFIXES = (".safetensors", ".bin", ".pth")  # what open_clip looks for in a folder
_HF_CONFIG = "open_clip_config.json"
_HF_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def resolve(open_clip: Any, model: str, weights: str, cache_dir: str | None):
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


def refuse_downloads(open_clip: Any, name: str, model: str) -> None:
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


__all__ = ["MODEL_SETTING", "WEIGHTS_SETTING", "refuse_downloads", "resolve"]
