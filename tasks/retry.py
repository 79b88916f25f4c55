"""Which failures a task retries: transient faults only, never a bad input or a missing key."""

from __future__ import annotations

from wanflow.errors import is_transient

RETRY_DELAYS = [2, 10, 30]


def transient_only(task, task_run, state) -> bool:
    """``retry_condition_fn`` for Prefect tasks: retry iff the raised error is transient."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result itself could not be loaded: do not guess, do not retry
        return False
    return isinstance(exc, BaseException) and is_transient(exc)


def transient_or_first_oom(task, task_run, state) -> bool:
    """Also retry a shot once after it ran out of device memory: the renderer has unloaded the
    model and the next attempt loads it under the next, more frugal memory plan."""
    from generation.pipelines import OutOfMemory

    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return False
    if isinstance(exc, OutOfMemory):
        return exc.next_plan is not None and len(exc.tried) == 1
    return isinstance(exc, BaseException) and is_transient(exc)
