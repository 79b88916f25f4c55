"""Clips as the pipeline hands them around: jobs for GPU workers, content-hash keys, records
(:class:`wanflow.clip.Clip`).

A clip's key is the hash of everything that decides its frames (the weights, the request, the
reference image's bytes), so a rerun — of the same manifest or of another asking for the same
shot — finds it in the bucket and skips the GPU.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from generation.adapters import effective_cache
from generation.models import ModelSpec
from generation.plan import Shot, ShotPlan
from generation.presets import GenerationParams
from generation.render import Rendered, ShotRequest
from wanflow import keys
from wanflow.clip import Clip

CLIPS = keys.join(keys.WORK, "clips") + "/"
HASH_VERSION = 1  # bump when a change to rendering changes the frames of the same request


class ClipJob(BaseModel):
    """One shot to render. ``image_key`` is a bucket key; with ``continue_story`` a shot with
    no image of its own starts from the previous shot's last frame where the model can. A
    keyframe shot starts on its keyframe (``image_key``) and, where the model honours a last
    frame, ends on the next (``last_image_key``); it never continues from the shot before."""

    item_id: str
    shot: int = Field(ge=1)
    model: str = Field(description="registry name (t2v-a14b …), resolved on the worker")
    request: ShotRequest
    image_key: str | None = None
    last_image_key: str | None = None
    continue_story: bool = True


def clip_hash(
    spec: ModelSpec,
    request: ShotRequest,
    image_sha256: str | None,
    inputs: dict[str, object] | None = None,
    last_image_sha256: str | None = None,
) -> str:
    """Stable across processes and machines: canonical JSON of what decides the frames.

    ``inputs`` holds the rest of it: fingerprints of the weights and of any LoRA files, and
    calibration data such as MagCache ratios, so that replacing any of them makes new clips.
    """
    decided = request.model_dump(mode="json", exclude={"image", "last_image"})
    payload = {
        "v": HASH_VERSION,
        "model": spec.name,
        "request": decided,
        "image": image_sha256,
        "inputs": inputs or {},
    }
    if last_image_sha256 is not None:  # absent otherwise: earlier clips keep their hashes
        payload["last_image"] = last_image_sha256
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=64)
def files_fingerprint(directory: str) -> str:
    """Every file's relative name, size and first 64 KiB (safetensors headers, configs): it
    changes when weights are replaced, without reading gigabytes. Hub snapshots are symlinks
    into the blob store; they are followed."""
    digest = hashlib.sha256()
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if ".cache" in path.relative_to(root).parts:  # hub download bookkeeping
            continue
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            digest.update(f.read(65536))
    return digest.hexdigest()


def clip_keys(digest: str) -> tuple[str, str, str]:
    """(mp4, last frame png, meta json) keys of a clip; the meta is written last, so its
    presence means the clip is complete."""
    base = keys.join(CLIPS.rstrip("/"), keys.check_part(digest, "clip hash"))
    return f"{base}/clip.mp4", f"{base}/last.png", f"{base}/meta.json"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cache_problem(record: Clip, mp4_sha256: str | None, png_sha256: str | None) -> str | None:
    """Why a cached clip may not be reused (None: it is the model's output, byte for byte).

    The bucket is shared: a clip swapped or cut short in ``work/clips/`` must not be published
    as the model's, nor reused on every rerun. A record from before checksums were kept cannot
    be vouched for either."""
    if not record.sha256 or not record.last_frame_sha256:
        return "has no checksum to verify it by"
    if mp4_sha256 is None or png_sha256 is None:
        return "is missing a file"
    if mp4_sha256 != record.sha256:
        return "clip.mp4 does not match its checksum (replaced or truncated)"
    if png_sha256 != record.last_frame_sha256:
        return "last.png does not match its checksum (replaced or truncated)"
    return None


def rendering(rendered: Rendered, request: ShotRequest) -> dict[str, object]:
    """What the renderer and the request decided of a clip, rounded as records keep it: the
    flow's record and ``wanflow generate``'s printout say it the same way."""
    return {
        "model": rendered.model,
        "device": rendered.device,
        "dtype": rendered.dtype,
        "plan": rendered.plan,
        "speed": rendered.speed,
        "width": rendered.width,
        "height": rendered.height,
        "frames": int(rendered.frames.shape[0]),
        "fps": rendered.fps,
        "steps": request.steps,
        "seed": request.seed,
        "experts": rendered.experts,
        "load_s": round(rendered.load_s, 3),
        "step_s": round(rendered.step_s, 4),
        "render_s": round(rendered.total_s, 3),
    }


def clip_record(
    job: ClipJob,
    digest: str,
    rendered: Rendered,
    request: ShotRequest,
    checksums: tuple[str, str],
    warnings: list[str],
) -> Clip:
    """The record of a clip just rendered and uploaded under ``clip_keys(digest)``;
    ``checksums`` are clip.mp4's and last.png's as written."""
    mp4_key, png_key, _ = clip_keys(digest)
    return Clip(
        item_id=job.item_id,
        shot=job.shot,
        hash=digest,
        key=mp4_key,
        last_frame_key=png_key,
        image_key=job.image_key,
        sha256=checksums[0],
        last_frame_sha256=checksums[1],
        warnings=warnings,
        **rendering(rendered, request),
    )


def jobs_for(
    plan: ShotPlan, *, continue_story: bool = True, fast_cache: str = "preset"
) -> list[ClipJob]:
    """A plan's shots as render jobs, in order (continuity needs the order)."""
    p = plan.params
    cache = effective_cache(p.cache, fast_cache)
    return [
        ClipJob(
            item_id=plan.item_id,
            shot=shot.index,
            **_images(plan, shot, continue_story),
            model=p.model,
            request=request_for(
                p,
                prompt=shot.prompt,
                negative_prompt=shot.negative_prompt,
                seed=shot.seed,
                num_frames=shot.num_frames,
                cache=cache,
            ),
        )
        for shot in plan.shots
    ]


def _images(plan: ShotPlan, shot: Shot, continue_story: bool) -> dict[str, object]:
    if shot.start_image is None:
        return {"image_key": plan.image, "continue_story": continue_story}
    return {
        "image_key": shot.start_image,
        "last_image_key": shot.end_image if shot.end_pinned else None,
        "continue_story": False,  # it starts on its own keyframe, not on the last frame before
    }


def request_for(
    params: GenerationParams,
    *,
    prompt: str,
    negative_prompt: str,
    seed: int,
    num_frames: int,
    cache: str | None,
) -> ShotRequest:
    """A shot's request: its own words, seed and length, the preset's sampling values."""
    return ShotRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        width=params.width,
        height=params.height,
        num_frames=num_frames,
        fps=params.fps,
        steps=params.steps,
        guidance=params.guidance,
        guidance_2=params.guidance_2,
        shift=params.shift,
        lora=params.lora,
        cache=cache,
    )
