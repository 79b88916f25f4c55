"""Task retry policy on a real Prefect API: transient faults are retried, others are not."""

from __future__ import annotations

import pytest

from tasks.retry import transient_only
from wanflow.errors import PermanentStorageError, TransientStorageError
from wanflow.readers import ManifestError

pytestmark = pytest.mark.slow


def _run(error: Exception, fail_times: int) -> tuple[list[int], object]:
    from prefect import flow, task

    attempts: list[int] = []

    @task(retries=3, retry_delay_seconds=0, retry_condition_fn=transient_only)
    def sometimes_fails() -> int:
        attempts.append(1)
        if len(attempts) <= fail_times:
            raise error
        return len(attempts)

    @flow
    def harness() -> int:
        return sometimes_fails()

    return attempts, harness(return_state=True)


def test_a_transient_fault_is_retried_until_it_passes(prefect_api):
    attempts, state = _run(TransientStorageError("connection reset"), fail_times=2)
    assert state.is_completed()
    assert state.result() == 3
    assert len(attempts) == 3


@pytest.mark.parametrize(
    "error", [PermanentStorageError("AccessDenied"), ManifestError("truncated JSON"), KeyError("x")]
)
def test_a_permanent_fault_fails_at_once(prefect_api, error):
    attempts, state = _run(error, fail_times=1)
    assert state.is_failed()
    assert len(attempts) == 1
    with pytest.raises(type(error)):
        state.result()


def test_a_task_that_ran_past_its_timeout_is_not_retried(prefect_api):
    """Prefect's timeout error is a TimeoutError, which a network fault also is: the same work
    would only time out again."""
    import time

    from prefect import flow, task

    attempts: list[int] = []

    @task(retries=3, retry_delay_seconds=0, retry_condition_fn=transient_only, timeout_seconds=0.5)
    def hangs() -> None:
        attempts.append(1)
        time.sleep(5)

    @flow
    def harness() -> None:
        hangs()

    state = harness(return_state=True)
    assert state.is_failed()
    assert len(attempts) == 1
