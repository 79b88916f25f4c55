"""Shots as Prefect background tasks: one task per model family, served by GPU workers.

A dispatcher calls ``task_for(job).delay(job, attempt)``; a ``wanflow gpu-worker`` serving that
family takes it, renders it on its resident pipeline (``generate_clip``'s body: clip store,
checksums, upload patience) and returns the ``ClipRecord``. One task per family lets an
operator route families to workers (a worker serving only ``t2v`` keeps the text-to-video model
resident and never loads another), and Prefect hands each queued shot to the next free worker.

The functions are distinct on purpose: a background task is found on the worker by its key,
which Prefect derives from the function's name and code object, so caller and workers must run
this same file. ``attempt`` makes a re-dispatched shot's inputs differ from the run it replaces
(a task worker caches by inputs), and ``refresh_cache`` keeps two identical shots of one run
from being answered by each other's cache entry.
"""

from __future__ import annotations

from prefect import task

from generation.clips import ClipJob, ClipRecord
from generation.models import resolve_model
from tasks.generate import render_job
from tasks.retry import first_out_of_memory
from wanflow.settings import Settings

FAMILIES = ("t2v", "i2v", "ti2v")

# No concurrency tag: a worker's own limit (one shot at a time per GPU) is the bound, and a tag
# limit would have to be kept equal to the number of workers or silently idle some of them.
_OPTIONS = {
    "retries": 1,  # once, under the next memory plan, after running out of device memory
    "retry_delay_seconds": 2,
    "retry_condition_fn": first_out_of_memory,
    "refresh_cache": True,
    "persist_result": True,  # the dispatcher reads the record from the result storage
}


@task(name="render-t2v", **_OPTIONS)
def render_t2v(job: ClipJob, attempt: int = 1) -> ClipRecord:
    """A text-to-video shot."""
    return render_job(job)


@task(name="render-i2v", **_OPTIONS)
def render_i2v(job: ClipJob, attempt: int = 1) -> ClipRecord:
    """An image-to-video shot."""
    return render_job(job)


@task(name="render-ti2v", **_OPTIONS)
def render_ti2v(job: ClipJob, attempt: int = 1) -> ClipRecord:
    """A shot for a model that takes text and, optionally, an image."""
    return render_job(job)


RENDER_TASKS = {"t2v": render_t2v, "i2v": render_i2v, "ti2v": render_ti2v}


def family(job: ClipJob, settings: Settings) -> str:
    return resolve_model(job.model, settings).task


def task_for(job: ClipJob, settings: Settings):
    return RENDER_TASKS[family(job, settings)]


def tasks_serving(families: list[str] | tuple[str, ...]) -> list:
    unknown = [f for f in families if f not in RENDER_TASKS]
    if unknown:
        raise ValueError(
            f"unknown model famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"use {', '.join(FAMILIES)}"
        )
    return [RENDER_TASKS[f] for f in dict.fromkeys(families)]
