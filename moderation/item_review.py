"""An item's review without Prefect: each clip sampled, classified and judged, the verdicts
combined, and contact sheets and a thumbnail made for the people who may have to decide.

The classifiers load once per process per configuration. Their failures are data (the policy
sends the item to a person); storage faults and unreadable clips raise, and the caller then
stops the item as failed, never passed.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

from moderation.policy import Verdict, combine, for_shot, policy_from
from moderation.review import ClipReview, review_frames
from moderation.signals import Classifier, Frame
from wanflow import keys
from wanflow.report import Clip
from wanflow.settings import Settings
from wanflow.storage import Storage

log = logging.getLogger(__name__)

# The settings that decide a verdict: a review under the same ones need not run again.
REVIEW_SETTINGS = frozenset(
    {
        "review_rate",
        "review_scene_threshold",
        "nudenet_model",
        "nudenet_second_opinion",
        "clip_model",
        "clip_weights",
        "review_thresholds",
    }
)

# On an item's sheet the frames of all its clips are numbered in one sequence: a frame's index
# within its clip plus its shot's number times this (no clip has that many frames).
SHOT_STRIDE = 1_000_000


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
    """A local clip through sampling, the classifiers and the policy: what ``wanflow review``
    does with a file, and what an item's review does with each of its clips. Frames are
    decoded by the ``ffmpeg`` setting's binary, as every other encode and decode of the run."""
    from moderation.frames import sample_frames
    from wanflow.video import using_ffmpeg

    with using_ffmpeg(settings.ffmpeg):
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


def item_frame(shot: int, frame: Frame) -> Frame:
    """``frame`` of shot ``shot`` numbered in its item's sequence (``SHOT_STRIDE``)."""
    return replace(frame, index=frame.index + shot * SHOT_STRIDE)


def item_flags(shot: int, flags: dict[int, str]) -> dict[int, str]:
    """A clip's flagged frames keyed by their index in the item's sequence."""
    return {index + shot * SHOT_STRIDE: label for index, label in flags.items()}


def review_clips(
    store: Storage,
    settings: Settings,
    run_id: str,
    item_id: str,
    title: str | None,
    clips: list[Clip],
    logger: logging.Logger | logging.LoggerAdapter = log,
) -> ItemReview:
    """Review each clip, combine the verdicts, and upload contact sheets (one per clip, one
    for the item), a thumbnail and the review itself under the item's work prefix."""
    from moderation.sheet import TileLabel, contact_sheet, save_jpeg, shot_starts, thumbnail

    start = time.perf_counter()
    verdicts, frames, clip_sheets = [], [], {}
    tile_labels: list[TileLabel] = []
    starts = shot_starts(clips)
    flagged: dict[int, str] = {}  # keys only: tiles are labelled by TileLabel
    with tempfile.TemporaryDirectory(prefix="wanflow-review-") as tmp:
        for clip in clips:
            local = store.download(clip.key, Path(tmp) / f"shot-{clip.shot}.mp4")
            review = review_clip_file(local, settings)
            verdicts.append(for_shot(review.verdict, clip.shot))
            flags = review.flagged_frames()
            labels = [TileLabel(clip.shot, starts[clip.shot] + f.time_s) for f in review.frames]
            frames += [item_frame(clip.shot, f) for f in review.frames]
            tile_labels += labels
            flagged |= item_flags(clip.shot, flags)
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


__all__ = [
    "REVIEW_SETTINGS",
    "SHOT_STRIDE",
    "ItemReview",
    "classifiers_for",
    "item_flags",
    "item_frame",
    "review_clip_file",
    "review_clips",
]
