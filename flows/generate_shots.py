"""``generate_shots``: a batch of shots rendered on one GPU worker, item by item, shot by shot.

Called in process by ``produce_manifest``, or deployed on a GPU work pool. The worker keeps each
model resident across the batch. Shots of one item run in order so that each can start from the
previous shot's last frame (where the model takes an image); one failed shot fails the rest of
its item, never the batch.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel

from generation.clips import ClipJob, ClipRecord
from generation.models import resolve_model
from tasks.artifacts import Progress
from tasks.generate import generate_clip
from wanflow.settings import get_settings


class ShotFailure(BaseModel):
    item_id: str
    shot: int
    error: str


@flow(name="generate-shots", log_prints=True)
def generate_shots(jobs: list[ClipJob]) -> list[ClipRecord | ShotFailure]:
    """Render every job; results in job order, a ``ShotFailure`` where a shot failed."""
    logger, settings = get_run_logger(), get_settings()
    results: list[ClipRecord | ShotFailure] = []
    previous: dict[str, ClipRecord | ShotFailure] = {}
    progress = Progress(len(jobs), f"generating {len(jobs)} shot(s)")
    for job in jobs:
        before = previous.get(job.item_id)
        if isinstance(before, ShotFailure):
            failure = ShotFailure(
                item_id=job.item_id, shot=job.shot, error=f"shot {before.shot} failed"
            )
            results.append(failure)
            previous[job.item_id] = before  # keep the first failure as the cause
            progress.advance(f"({job.item_id} shot {job.shot} skipped)")
            continue
        if before is not None and job.continue_story and _takes_image(job.model, settings):
            job = job.model_copy(update={"image_key": before.last_frame_key})
        try:
            outcome: ClipRecord | ShotFailure = generate_clip(job)
        except Exception as exc:  # one shot's failure is its item's, not the batch's
            error = f"{type(exc).__name__}: {exc}"
            logger.error("%s shot %d failed: %s", job.item_id, job.shot, error)
            outcome = ShotFailure(item_id=job.item_id, shot=job.shot, error=error)
        results.append(outcome)
        previous[job.item_id] = outcome
        progress.advance(f"({job.item_id} shot {job.shot})")
    return results


def _takes_image(model: str, settings) -> bool:
    return resolve_model(model, settings).task in ("i2v", "ti2v")
