"""The GPU task: render one shot on the worker's resident pipeline, store it under its hash.

Tagged ``gpu`` so that a tag concurrency limit keeps one shot per GPU. Retried once after running
out of device memory (under the next memory plan); storage faults are retried inside ``Storage``,
and a bad request or missing weights fail at once. GPU time is the expensive part: a rendered
clip stays on the worker while its upload rides out a storage outage for up to
``WANFLOW_UPLOAD_RETRY_S``, and is never rendered again for it. A cached clip is reused only when
its bytes match the checksums recorded when it was made.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from generation.clips import (
    ClipJob,
    cache_problem,
    clip_hash,
    clip_keys,
    clip_record,
    files_fingerprint,
    sha256_file,
)
from generation.models import locate, resolve_model
from generation.render import Renderer
from tasks.artifacts import ProgressArtifact
from tasks.common import storage
from tasks.retry import first_out_of_memory
from wanflow import markdown as md
from wanflow.clip import Clip
from wanflow.settings import Settings
from wanflow.storage import ObjectNotFoundError


@task(
    name="generate-clip",
    tags=["gpu"],
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=first_out_of_memory,
    cache_policy=NO_CACHE,
    timeout_seconds=3 * 3600,
)
def generate_clip(job: ClipJob, settings: Settings) -> Clip:
    """Render ``job`` unless its clip is already in the bucket; returns where it is. ``settings``
    are the caller's (its bucket, models and ffmpeg), never read here."""
    return render_job(job, settings)


RendererFactory = Callable[[Settings], Any]
_RENDERER: list[RendererFactory] = [Renderer]
_OBSERVERS: list[Callable[[ClipJob, Clip, float], None]] = []


def use_renderer(factory: RendererFactory) -> None:
    """What renders shots in this process: ``Renderer`` unless a stand-in is installed (the
    fleet benchmark's simulated GPU). Anything with ``render(spec, request, progress=)``
    returning a ``Rendered`` will do."""
    _RENDERER[0] = factory


def observe(callback: Callable[[ClipJob, Clip, float], None]) -> None:
    """Call ``callback(job, record, seconds)`` after every shot this process finishes: how a
    GPU worker counts its model loads and busy time for its heartbeat."""
    _OBSERVERS.append(callback)


def render_job(job: ClipJob, settings: Settings) -> Clip:
    """The body of every GPU task: the clip from the store when it is there and intact, else
    rendered on this process's resident pipeline and stored under its hash."""
    start = time.perf_counter()
    record = _render_job(job, settings)
    for callback in list(_OBSERVERS):
        callback(job, record, time.perf_counter() - start)
    return record


def _render_job(job: ClipJob, settings: Settings) -> Clip:
    from wanflow.video import using_ffmpeg, write_mp4, write_png

    store, logger = storage(settings), get_run_logger()
    spec = resolve_model(job.model, settings)
    with tempfile.TemporaryDirectory(prefix="wanflow-clip-") as tmp:
        request, image_sha, last_sha = job.request, None, None
        if job.image_key:
            image = store.download(job.image_key, Path(tmp) / "reference")
            image_sha = hashlib.sha256(image.read_bytes()).hexdigest()
            request = request.model_copy(update={"image": image})
        if job.last_image_key:  # a keyframe shot's end, for a model that honours one
            last = store.download(job.last_image_key, Path(tmp) / "last-reference")
            last_sha = hashlib.sha256(last.read_bytes()).hexdigest()
            request = request.model_copy(update={"last_image": last})
        inputs = hash_inputs(spec, request, settings)
        digest = clip_hash(spec, request, image_sha, inputs, last_image_sha256=last_sha)
        mp4_key, png_key, meta_key = clip_keys(digest)
        warnings: list[str] = []
        if store.exists(meta_key):
            record = Clip.model_validate_json(store.get_bytes(meta_key))
            problem = cache_problem(record, *_checksums(store, mp4_key, png_key, Path(tmp)))
            if problem is None:
                logger.info("%s shot %d: clip %s already made", job.item_id, job.shot, digest[:12])
                return record.model_copy(
                    update={"item_id": job.item_id, "shot": job.shot, "cached": True,
                            "warnings": []}
                )  # fmt: skip
            warnings.append(f"cached clip {digest[:12]} {problem}: rendered again")
            logger.warning("%s shot %d: %s", job.item_id, job.shot, warnings[-1])

        # The artifact is the UI's convenience: ``ProgressArtifact`` logs an API failure, never
        # raises, so that a hiccup of the artifact API cannot cost a shot its GPU time.
        shown = _ShotProgress(
            f"generate-{_artifact_key(job.item_id)}-shot-{job.shot}",
            request.steps,
            f"{job.item_id} shot {job.shot}: {spec.name}, {request.steps} steps",
        )
        updated = [0.0]  # when the artifact was last updated (elapsed seconds)

        def progress(step: int, steps: int, elapsed: float) -> None:
            # ≤ 20 API calls per shot, and at most one a second: on a fast GPU (or the tiny
            # model) the calls would otherwise cost more than the steps they report.
            due = step % max(1, steps // 20) == 0 and elapsed - updated[0] >= 1.0
            if step == steps or due:
                shown.total, shown.done = max(steps, 1), step - 1
                shown.advance("steps")
                updated[0] = elapsed
            if step == steps or step % max(1, steps // 5) == 0:
                logger.info(
                    "%s shot %d: step %d/%d, %.2f s/step",
                    job.item_id,
                    job.shot,
                    step,
                    steps,
                    elapsed / step,
                )

        rendered = _RENDERER[0](settings).render(spec, request, progress=progress)
        with using_ffmpeg(settings.ffmpeg):
            mp4 = write_mp4(rendered.frames, Path(tmp) / "clip.mp4", rendered.fps)
            png = write_png(rendered.frames[-1], Path(tmp) / "last.png")
        sums = sha256_file(mp4), sha256_file(png)
        window = settings.upload_retry_s
        for key, path, ctype in ((mp4_key, mp4, "video/mp4"), (png_key, png, "image/png")):
            store.patiently(
                f"{job.item_id} shot {job.shot}: upload {key} (kept at {path})",
                lambda key=key, path=path, ctype=ctype: store.put_file(
                    key, path, content_type=ctype
                ),
                window,
            )
    record = clip_record(job, digest, rendered, request, sums, warnings)
    # Written last: its presence is what makes the clip count as made.
    meta = json.dumps(record.model_dump(mode="json"), ensure_ascii=False, indent=2).encode()
    store.patiently(
        f"{job.item_id} shot {job.shot}: write {meta_key}",
        lambda: store.put_bytes(meta_key, meta, content_type="application/json"),
        settings.upload_retry_s,
    )
    logger.info(
        "%s shot %d: %d frames %dx%d in %.1f s (load %.1f s, %.3f s/step) → %s",
        job.item_id,
        job.shot,
        record.frames,
        record.width,
        record.height,
        record.render_s,
        record.load_s,
        record.step_s,
        mp4_key,
    )
    return record


def _checksums(store, mp4_key: str, png_key: str, tmp: Path) -> tuple[str | None, str | None]:
    """sha256 of the cached clip's mp4 and last frame as stored now (None where missing)."""
    found: list[str | None] = []
    for key, name in ((mp4_key, "cached.mp4"), (png_key, "cached.png")):
        try:
            found.append(sha256_file(store.download(key, tmp / name)))
        except ObjectNotFoundError:
            found.append(None)
    return found[0], found[1]


def hash_inputs(spec, request, settings) -> dict[str, object]:
    """What else decides the frames: the weights, the LoRA files, the cache calibration."""
    from generation.adapters import lightning_dir, magcache_ratios

    inputs: dict[str, object] = {"weights": files_fingerprint(locate(spec, settings))}
    if request.lora:
        inputs["lora"] = files_fingerprint(str(lightning_dir(settings, spec)))
    if request.cache == "magcache":
        inputs["magcache"] = magcache_ratios(settings, spec)
    return inputs


class _ShotProgress(ProgressArtifact):
    """``ProgressArtifact`` under the shot's own artifact key, so that the UI keeps each shot's
    history; created as guardedly as ``ProgressArtifact`` creates its own, and updated by it."""

    def __init__(self, key: str, total: int, description: str) -> None:
        self.total, self.done, self.description = max(total, 1), 0, description
        self.id = None
        try:
            from prefect.artifacts import create_progress_artifact

            self.id = create_progress_artifact(0.0, key=key, description=md.text(description))
        except Exception as exc:
            get_run_logger().warning("no progress artifact: %s", exc)


def _artifact_key(item_id: str) -> str:
    """Artifact keys allow lower-case letters, digits and dashes only."""
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in item_id.lower())
