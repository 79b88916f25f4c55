"""The review task (:mod:`moderation.item_review`): its cache key and its retries.

A run re-run from the top after a suspension reuses the verdict (where results are persisted)
instead of reviewing again; the task fails on storage faults and unreadable clips, and the flow
then stops the item as failed, never passed.
"""

from __future__ import annotations

import hashlib

from prefect import task
from prefect.logging import get_run_logger

from moderation.item_review import (
    REVIEW_SETTINGS,
    ItemReview,
    review_clips,
)
from tasks.common import RETRIES, storage
from wanflow.report import Clip
from wanflow.settings import Settings


def _review_key(context, parameters: dict) -> str:
    """The same clips of the same item in the same run under the same review settings;
    timings and the clips' cache flags do not matter."""
    review = parameters["settings"].model_dump_json(include=set(REVIEW_SETTINGS))
    clips = ",".join(c.hash for c in parameters["clips"])
    text = f"{parameters['run_id']}|{parameters['item_id']}|{clips}|{review}"
    return hashlib.sha256(text.encode()).hexdigest()


@task(name="review-item", timeout_seconds=3600, cache_key_fn=_review_key, **RETRIES)
def review_item(
    run_id: str, item_id: str, title: str | None, clips: list[Clip], settings: Settings
) -> ItemReview:
    """Review each clip, combine the verdicts, and upload contact sheets and a thumbnail."""
    return review_clips(
        storage(settings), settings, run_id, item_id, title, clips, logger=get_run_logger()
    )


__all__ = ["ItemReview", "review_item"]
