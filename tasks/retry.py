"""Which failures a task retries: transient faults only, never a bad input or a missing key."""

from __future__ import annotations

from wanflow.errors import is_transient

RETRY_DELAYS = [2, 10, 30]


def _raised(state) -> BaseException | None:
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result itself could not be loaded: do not guess, do not retry
        return None
    return exc if isinstance(exc, BaseException) else None


def transient_only(task, task_run, state) -> bool:
    """``retry_condition_fn`` for Prefect tasks: retry iff the raised error is transient.

    A task that ran past its own timeout is not: the same work would time out again.
    """
    from tasks.prefect_runs import is_task_timeout

    exc = _raised(state)
    return exc is not None and not is_task_timeout(exc) and is_transient(exc)


def first_out_of_memory(task, task_run, state) -> bool:
    """For the GPU task: retry once, and only after running out of device memory, when a more
    frugal memory plan is left (the renderer unloaded the model; the retry loads it under that
    plan). Storage faults are retried inside ``Storage``; re-rendering a shot for one would
    waste its GPU time."""
    from generation.pipelines import OutOfMemory

    exc = _raised(state)
    return isinstance(exc, OutOfMemory) and exc.next_plan is not None and task_run.run_count <= 1
