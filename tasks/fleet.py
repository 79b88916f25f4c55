"""Shots as Prefect background tasks: one task per model family, served by GPU workers.

A dispatcher calls ``task_for(job).delay(job, attempt)``; a ``wanflow gpu-worker`` serving that
family takes it, renders it on its resident pipeline (``generate_clip``'s body: clip store,
checksums, upload patience) and returns the ``Clip`` record. One task per family lets an
operator route families to workers (a worker serving only ``t2v`` keeps the text-to-video model
resident and never loads another), and Prefect hands each queued shot to the next free worker.

A background task is found on the worker by its key, which Prefect derives from the function's
name and code object, so caller and workers must run this same file; each task gets a name of
its own (family and priority), hence a key and a server-side queue of its own. ``attempt``
makes a re-dispatched shot's inputs differ from the run it replaces
(a task worker caches by inputs), and ``refresh_cache`` keeps two identical shots of one run
from being answered by each other's cache entry.
"""

from __future__ import annotations

from prefect import task

from generation.clips import ClipJob
from generation.models import resolve_model
from tasks.generate import render_job
from tasks.retry import first_out_of_memory
from wanflow.clip import Clip
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


PRIORITIES = ("high", "normal", "low")  # a worker takes queued shots in this order


def _render_task(family: str, priority: str):
    """The background task for one family at one priority. Each gets its own name, hence its
    own task key and its own queue on the Prefect server; a worker subscribes to its queues
    highest priority first, and the server hands a free worker the first queued shot it finds
    in that order. Built by this factory at import, identically in every process."""

    def render(job: ClipJob, attempt: int = 1) -> Clip:
        from tasks.gpu_worker import serving_settings  # it imports this module

        return render_job(job, serving_settings())

    suffix = "" if priority == "normal" else f"-{priority}"
    render.__name__ = render.__qualname__ = f"render_{family}{suffix.replace('-', '_')}"
    render.__doc__ = f"A {family} shot, {priority} priority."
    return task(name=f"render-{family}{suffix}", **_OPTIONS)(render)


RENDER_TASKS = {(f, p): _render_task(f, p) for f in FAMILIES for p in PRIORITIES}
render_t2v, render_i2v, render_ti2v = (RENDER_TASKS[f, "normal"] for f in FAMILIES)


def family(job: ClipJob, settings: Settings) -> str:
    task = resolve_model(job.model, settings).task
    return "i2v" if task == "flf2v" else task  # keyframe shots: image-to-video workers


def task_for(job: ClipJob, settings: Settings, priority: str = "normal"):
    return RENDER_TASKS[family(job, settings), priority]


def tasks_serving(families: list[str] | tuple[str, ...]) -> list:
    """A worker's tasks, in the order it should take their queued shots: every family's high
    priority shots first, then normal, then low."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(
            f"unknown model famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"use {', '.join(FAMILIES)}"
        )
    return [RENDER_TASKS[f, p] for p in PRIORITIES for f in dict.fromkeys(families)]
