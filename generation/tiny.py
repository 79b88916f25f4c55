"""Tiny random-weight stand-ins for the Wan2.1/Wan2.2 model layouts, built offline.

CPU tests and the offline demo must exercise the real loading and sampling code
(``DiffusionPipeline.from_pretrained`` on a local diffusers-layout directory, then the
pipeline's ``__call__``), not a mock. These builders make pipelines with the same component
classes, channel counts and ``model_index.json`` extras as the real checkpoints, but with
2-layer transformers (~30k parameters), a 70k-110k-parameter VAE and a 32-wide text encoder
(~0.7M parameters, nearly all vocabulary embedding), so a 2-step 64x64 generation takes a
fraction of a second on one CPU thread.

Everything is deterministic across processes: each component is built under its own fixed
torch seed (inside ``torch.random.fork_rng`` so the caller's RNG is left alone) and the
tokenizer uses a hand-written vocabulary instead of one trained in-process, whose ids would
differ from run to run. The same name therefore gives byte-identical weights and the same
token ids everywhere, so a tiny "video" is reproducible from its seed.
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline
    from transformers import T5Tokenizer

# Bump when any size, seed or vocabulary below changes: cached directories are keyed on it, so a
# stale build is never loaded in place of the new one.
TINY_FORMAT_VERSION = 1

# Transformer sizes shared by every layout (the real models differ in depth and width, not shape).
_HEADS = 2
_HEAD_DIM = 12  # Wan's 3-axis RoPE splits the head dim into t/h/w parts: 12 -> 4/4/4.
_FFN_DIM = 32
_LAYERS = 2
_FREQ_DIM = 256  # sinusoidal timestep width, as in the real models (costs a 256x24 matmul).
_TEXT_DIM = 32  # == the text encoder's d_model: the transformer projects text from this width.

# Text encoder sizes (UMT5, like the real umt5-xxl encoder, but 2 layers of width 32).
_TEXT_LAYERS = 2
_TEXT_HEADS = 4
_TEXT_HEAD_DIM = 8
_TEXT_FFN = 64

# VAE sizes: 4 levels of width 8 keep the real 8x (16x with patching) spatial and 4x temporal
# compression while costing next to nothing.
_VAE_BASE_DIM = 8

# Fixed per-component seeds. transformer and transformer_2 differ so the two experts of an
# A14B stand-in really are two models (a routing bug then changes the output).
_SEEDS = {
    "text_encoder": 1001,
    "vae": 1002,
    "transformer": 1003,
    "transformer_2": 1004,
    "image_encoder": 1005,
}

# CLIP vision sizes of a Wan2.1 image model's stand-in: a 32 px input cut into 8 px patches
# gives 16 + 1 tokens per image (the real ViT-H/14 gives 257 at 224 px).
_CLIP_DIM = 32
_CLIP_IMAGE = 32
_CLIP_PATCH = 8
_CLIP_TOKENS = (_CLIP_IMAGE // _CLIP_PATCH) ** 2 + 1


@dataclass(frozen=True)
class TinySpec:
    """One tiny layout: what it mirrors and the few settings that distinguish it."""

    name: str
    description: str
    mirrors: str
    pipeline: str  # diffusers pipeline class name
    in_channels: int  # transformer input channels (I2V adds mask + image latents)
    latent_channels: int  # VAE z_dim == transformer output channels
    two_experts: bool
    boundary_ratio: float | None
    expand_timesteps: bool
    flow_shift: float  # a plausible default only; callers set each model's shift per run
    # Wan2.1 image models condition on CLIP image features too; a first-last-frame model on
    # those of both its frames, in that order (so the transformer embeds two images' tokens).
    clip_images: int = 0

    @property
    def min_multiple(self) -> int:
        """Height and width must be multiples of this (VAE compression x transformer patch)."""
        return 32 if self.latent_channels == 48 else 16


TINY_MODELS: dict[str, TinySpec] = {
    spec.name: spec
    for spec in (
        TinySpec(
            name="tiny",
            description="single-transformer text-to-video (Wan2.1 layout), Wan2.1 VAE",
            mirrors="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
            pipeline="WanPipeline",
            in_channels=16,
            latent_channels=16,
            two_experts=False,
            boundary_ratio=None,
            expand_timesteps=False,
            flow_shift=3.0,
        ),
        TinySpec(
            name="tiny-t2v-a14b",
            description="two-expert text-to-video (high/low noise, boundary 0.875), Wan2.1 VAE",
            mirrors="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
            pipeline="WanPipeline",
            in_channels=16,
            latent_channels=16,
            two_experts=True,
            boundary_ratio=0.875,
            expand_timesteps=False,
            flow_shift=12.0,
        ),
        TinySpec(
            name="tiny-i2v-a14b",
            description="two-expert image-to-video (36 input channels, boundary 0.9), no CLIP",
            mirrors="Wan-AI/Wan2.2-I2V-A14B-Diffusers",
            pipeline="WanImageToVideoPipeline",
            in_channels=36,  # 16 noisy latents + 4 mask + 16 first-frame latents
            latent_channels=16,
            two_experts=True,
            boundary_ratio=0.900,
            expand_timesteps=False,
            flow_shift=5.0,
        ),
        TinySpec(
            name="tiny-ti2v-5b",
            description="single-transformer text/image-to-video with the 48-channel Wan2.2 VAE",
            mirrors="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
            pipeline="WanPipeline",
            in_channels=48,
            latent_channels=48,
            two_experts=False,
            boundary_ratio=None,
            expand_timesteps=True,
            flow_shift=5.0,
        ),
        TinySpec(
            name="tiny-flf2v-14b",
            description="first-last-frame-to-video (Wan2.1 layout: one transformer, CLIP of both "
            "frames, 36 input channels)",
            mirrors="Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
            pipeline="WanImageToVideoPipeline",
            in_channels=36,  # 16 noisy latents + 4 mask + 16 first- and last-frame latents
            latent_channels=16,
            two_experts=False,
            boundary_ratio=None,
            expand_timesteps=False,
            flow_shift=16.0,
            clip_images=2,
        ),
    )
}


def tiny_spec(name: str) -> TinySpec:
    """The spec for ``name``; an unknown name raises ``ValueError`` listing the accepted ones."""
    try:
        return TINY_MODELS[name]
    except KeyError:
        accepted = ", ".join(sorted(TINY_MODELS))
        raise ValueError(f"unknown tiny model {name!r}; accepted: {accepted}") from None


def tiny_vocabulary() -> list[tuple[str, float]]:
    """The fixed Unigram vocabulary: specials, ASCII pieces and single CJK characters.

    Ids are the list positions, so they never change between processes. T5's layout is kept
    (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2; the tokenizer hard-codes unk id 2). Scores make a
    ``▁x`` piece (-10) beat ``▁`` + ``x`` (-2 - 10), so English words start with a prefixed
    piece; Chinese text (no spaces) becomes ``▁`` followed by one piece per character.
    """
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    ascii_chars = string.ascii_letters + string.digits + string.punctuation
    pieces += [(f"▁{c}", -10.0) for c in ascii_chars]
    pieces += [(c, -10.0) for c in ascii_chars]
    cjk = [chr(c) for c in range(0x4E00, 0xA000)]  # CJK Unified Ideographs
    cjk += [chr(c) for c in range(0x3001, 0x3040)]  # CJK symbols and punctuation (、。「」…)
    cjk += [chr(c) for c in range(0xFF01, 0xFF5F)]  # full-width forms (，！？：…)
    pieces += [(c, -10.0) for c in cjk]
    return pieces


def build_tiny_tokenizer() -> T5Tokenizer:
    """A T5 (Unigram) tokenizer over :func:`tiny_vocabulary`, built without any file."""
    from transformers import T5Tokenizer

    # model_max_length as in the real Wan (umt5-xxl) tokenizer; the pipelines pad to 512 anyway.
    return T5Tokenizer(vocab=tiny_vocabulary(), extra_ids=0, model_max_length=512)


@contextmanager
def _seeded(component: str) -> Iterator[None]:
    """Run a builder under the component's fixed seed without touching the caller's RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEEDS[component])
        yield


def _build_text_encoder(vocab_size: int):
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=vocab_size,
        d_model=_TEXT_DIM,
        d_kv=_TEXT_HEAD_DIM,
        d_ff=_TEXT_FFN,
        num_layers=_TEXT_LAYERS,
        num_heads=_TEXT_HEADS,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
    )
    with _seeded("text_encoder"):
        return UMT5EncoderModel(config).eval()


def _build_vae(spec: TinySpec):
    from diffusers import AutoencoderKLWan

    common = dict(
        base_dim=_VAE_BASE_DIM,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        scale_factor_temporal=4,
    )
    with _seeded("vae"):
        if spec.latent_channels == 48:
            # Wan2.2 VAE: 2x2 pixel patching in front of residual 8x blocks -> 16x spatial.
            vae = AutoencoderKLWan(
                **common,
                z_dim=48,
                is_residual=True,
                in_channels=12,
                out_channels=12,
                patch_size=2,
                scale_factor_spatial=16,
                latents_mean=[0.0] * 48,
                latents_std=[1.0] * 48,
            )
        else:
            vae = AutoencoderKLWan(**common, z_dim=16, scale_factor_spatial=8)
    return vae.eval()


def _build_transformer(spec: TinySpec, component: str):
    from diffusers import WanTransformer3DModel

    with _seeded(component):
        model = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=_HEADS,
            attention_head_dim=_HEAD_DIM,
            in_channels=spec.in_channels,
            out_channels=spec.latent_channels,
            text_dim=_TEXT_DIM,
            freq_dim=_FREQ_DIM,
            ffn_dim=_FFN_DIM,
            num_layers=_LAYERS,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=1024,
            **(
                dict(
                    image_dim=_CLIP_DIM,
                    added_kv_proj_dim=_HEADS * _HEAD_DIM,
                    pos_embed_seq_len=_CLIP_TOKENS * spec.clip_images,
                )
                if spec.clip_images
                else {}
            ),
        )
    return model.eval()


def _build_image_encoder():
    """A CLIP vision tower and its processor, as Wan2.1's image models have (ViT-H/14 there)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=_CLIP_DIM,
        intermediate_size=2 * _CLIP_DIM,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=_CLIP_IMAGE,
        patch_size=_CLIP_PATCH,
        projection_dim=_CLIP_DIM,
    )
    with _seeded("image_encoder"):
        encoder = CLIPVisionModel(config).eval()
    processor = CLIPImageProcessor(
        size={"shortest_edge": _CLIP_IMAGE}, crop_size={"height": _CLIP_IMAGE, "width": _CLIP_IMAGE}
    )
    return encoder, processor


def build_tiny_pipeline(name: str) -> DiffusionPipeline:
    """Build the ``name`` stand-in in memory (float32, CPU) with fixed-seed random weights.

    Used by :func:`tiny_model_dir`; call it directly only when a saved copy is not needed,
    since the point of the stand-ins is to exercise ``from_pretrained`` too.
    """
    import diffusers
    from diffusers import UniPCMultistepScheduler

    spec = tiny_spec(name)
    tokenizer = build_tiny_tokenizer()
    components = dict(
        tokenizer=tokenizer,
        text_encoder=_build_text_encoder(len(tokenizer)),
        vae=_build_vae(spec),
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            num_train_timesteps=1000,
            flow_shift=spec.flow_shift,
        ),
        transformer=_build_transformer(spec, "transformer"),
        transformer_2=_build_transformer(spec, "transformer_2") if spec.two_experts else None,
        boundary_ratio=spec.boundary_ratio,
        expand_timesteps=spec.expand_timesteps,
    )
    if spec.pipeline == "WanImageToVideoPipeline" and spec.clip_images:
        encoder, processor = _build_image_encoder()
        components.update(image_encoder=encoder, image_processor=processor)
    elif spec.pipeline == "WanImageToVideoPipeline":
        # Wan2.2 I2V conditions on VAE latents only; image_dim=None means no CLIP is asked for.
        components.update(image_encoder=None, image_processor=None)
    return getattr(diffusers, spec.pipeline)(**components)


def tiny_model_dir(name: str, cache_dir: Path) -> Path:
    """The saved ``name`` stand-in under ``cache_dir``, building it only if it is missing.

    Returns ``cache_dir / f"{name}-v{TINY_FORMAT_VERSION}"``, a diffusers-layout directory
    (safetensors weights) that ``DiffusionPipeline.from_pretrained(path, local_files_only=True)``
    loads. The build goes to a temporary directory inside ``cache_dir`` and is renamed into
    place, so the final path only ever appears complete; when two processes race, the rename
    of the second fails on the now non-empty target and it discards its (identical) copy.
    """
    spec = tiny_spec(name)
    cache_dir = Path(cache_dir)
    final = cache_dir / f"{spec.name}-v{TINY_FORMAT_VERSION}"
    if (final / "model_index.json").is_file():
        return final
    if final.exists():
        raise FileExistsError(
            f"{final} exists but holds no model_index.json (not written by tiny_model_dir?); "
            "remove it to rebuild"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=cache_dir))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the cache may be shared.
        build_tiny_pipeline(spec.name).save_pretrained(tmp, safe_serialization=True)
        for path in tmp.rglob("*"):  # weights are written 0600; the cache may be shared.
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "model_index.json").is_file():
                raise
            # Another process won the race; its copy is identical to ours.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
