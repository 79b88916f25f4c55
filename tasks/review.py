"""The review task: every clip of an item sampled, classified and judged; sheets for people.

The classifiers load once per process. Their failures are data (the policy sends the item to a
person); the task itself fails on storage faults and unreadable clips, and the flow then stops
the item as failed, never passed.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field

from moderation.policy import Verdict, combine, for_shot, policy_from
from moderation.review import ClipReview, review_frames
from moderation.signals import Classifier
from tasks.manifest import _RETRIES, storage
from wanflow import keys
from wanflow.report import Clip
from wanflow.settings import Settings, get_settings


class ItemReview(BaseModel):
    """An item's verdict and where reviewers find its pictures."""

    item_id: str
    verdict: Verdict
    sheet_key: str | None = None
    sheet_url: str | None = None
    thumbnail_key: str | None = None
    review_key: str | None = None
    clip_sheets: dict[int, str] = Field(default_factory=dict, description="shot → sheet key")
    seconds: float = 0.0


@lru_cache(maxsize=4)
def _classifiers(
    nudenet_model: Path | None,
    second_opinion: bool,
    clip_model: str,
    clip_weights: str | None,
    model_cache: Path | None,
) -> tuple[Classifier, ...]:
    from moderation.nudity import nudity_classifiers
    from moderation.zeroshot import ZeroShotClassifier

    nudity = nudity_classifiers(nudenet_model, second_opinion=second_opinion)
    clip = ZeroShotClassifier(clip_model, clip_weights, device="cpu", cache_dir=model_cache)
    return (*nudity, clip)


def classifiers_for(settings: Settings) -> list[Classifier]:
    """The configured classifiers, built once per process per configuration (on the CPU: the
    GPU belongs to generation, and a few frames a second need no more)."""
    return list(
        _classifiers(
            settings.nudenet_model,
            settings.nudenet_second_opinion,
            settings.clip_model,
            settings.clip_weights,
            settings.model_cache,
        )
    )


def review_clip_file(path: Path, settings: Settings) -> ClipReview:
    """A local clip through sampling, the classifiers and the policy (the CLI uses this too)."""
    from moderation.frames import sample_frames

    frames = sample_frames(
        path,
        rate=settings.review_rate,
        scene_threshold=settings.review_scene_threshold,
        max_seconds=settings.max_duration_s,
    )
    return review_frames(
        frames,
        classifiers_for(settings),
        policy_from(settings.review_thresholds),
        timeout_s=settings.review_timeout_s,
    )


def _review_key(context, parameters: dict) -> str:
    """The same clips of the same item in the same run under the same review settings: a run
    re-run from the top after a suspension reuses the verdict (where results are persisted)
    instead of reviewing again; timings and the clips' cache flags do not matter."""
    settings = get_settings()
    review = settings.model_dump_json(include=_REVIEW_SETTINGS)
    clips = ",".join(c.hash for c in parameters["clips"])
    text = f"{parameters['run_id']}|{parameters['item_id']}|{clips}|{review}"
    return hashlib.sha256(text.encode()).hexdigest()


_REVIEW_SETTINGS = {
    "review_rate",
    "review_scene_threshold",
    "nudenet_model",
    "nudenet_second_opinion",
    "clip_model",
    "clip_weights",
    "review_thresholds",
}


@task(name="review-item", timeout_seconds=3600, cache_key_fn=_review_key, **_RETRIES)
def review_item(run_id: str, item_id: str, title: str | None, clips: list[Clip]) -> ItemReview:
    """Review each clip, combine the verdicts, and upload contact sheets and a thumbnail."""
    import time

    from moderation.sheet import TileLabel, contact_sheet, save_jpeg, shot_starts, thumbnail

    settings, store, logger = get_settings(), storage(), get_run_logger()
    start = time.perf_counter()
    verdicts, frames, clip_sheets = [], [], {}
    tile_labels: list[TileLabel] = []
    starts = shot_starts(clips)
    flagged: dict[int, str] = {}  # on the item's sheet, frames are numbered across its clips
    with tempfile.TemporaryDirectory(prefix="wanflow-review-") as tmp:
        for clip in clips:
            local = store.download(clip.key, Path(tmp) / f"shot-{clip.shot}.mp4")
            review = review_clip_file(local, settings)
            verdicts.append(for_shot(review.verdict, clip.shot))
            offset = clip.shot * 1_000_000  # a key for flags only; tiles are labelled by TileLabel
            flags = review.flagged_frames()
            labels = [TileLabel(clip.shot, starts[clip.shot] + f.time_s) for f in review.frames]
            frames += [replace(f, index=f.index + offset) for f in review.frames]
            tile_labels += labels
            flagged |= {i + offset: label for i, label in flags.items()}
            sheet = contact_sheet(
                review.frames, flagged=flags, labels=labels, item_id=item_id, title=title
            )
            key = keys.work_key(run_id, item_id, f"shot-{clip.shot}-sheet.jpg")
            store.put_file(key, save_jpeg(sheet, Path(tmp) / f"sheet-{clip.shot}.jpg"))
            clip_sheets[clip.shot] = key
        verdict = combine(verdicts)
        result = ItemReview(item_id=item_id, verdict=verdict, clip_sheets=clip_sheets)
        if frames:
            sheet = contact_sheet(
                frames, flagged=flagged, labels=tile_labels, item_id=item_id, title=title
            )
            result.sheet_key = keys.work_key(run_id, item_id, "sheet.jpg")
            store.put_file(result.sheet_key, save_jpeg(sheet, Path(tmp) / "sheet.jpg"))
            result.sheet_url = store.presigned_get(result.sheet_key)
            result.thumbnail_key = keys.work_key(run_id, item_id, "thumbnail.jpg")
            store.put_file(
                result.thumbnail_key, save_jpeg(thumbnail(frames), Path(tmp) / "thumbnail.jpg")
            )
    result.seconds = round(time.perf_counter() - start, 3)
    result.review_key = keys.work_key(run_id, item_id, "review.json")
    store.put_bytes(result.review_key, result.model_dump_json(indent=2).encode())
    logger.info("%s: %s (%s)", item_id, verdict.decision, "; ".join(verdict.reasons) or "clean")
    return result
