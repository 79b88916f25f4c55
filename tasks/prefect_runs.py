"""Every use of Prefect's private or version-specific parts, in one place, so that a Prefect
upgrade is checked and fixed here (``tests/tasks/test_prefect_runs.py`` runs each against a real
Prefect API).

What it covers: the flow run the caller is in; run input (Prefect names the stored answer to a
pause after the state it paused in, ``paused-<key>-response`` or ``suspended-<key>-response``);
pausing, suspending and resuming a run for input, and forcing a run that timed out waiting back
to running; reading task runs by id and forcing one Crashed; whether a task ran past its
timeout; and the GPU worker's subscription to its background tasks, which uses private parts of
``prefect.task_worker.TaskWorker`` (3.8).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import TaskRun
from prefect.client.subscriptions import Subscription
from prefect.task_worker import TaskWorker

log = logging.getLogger(__name__)

_PAGE = 200  # task runs read per API call (Prefect's default page size)


# --- the flow run the caller is in ---------------------------------------------------------


def current_flow_run() -> Any | None:
    """The flow run (``id``, ``start_time``, ``deployment_id``) this code runs in, or None."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run if context is not None else None


def results_persisted() -> bool:
    """Whether the current flow run persists its results (a re-run from the top finds them)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return bool(context is not None and context.persist_result)


def api_url() -> str | None:
    """The Prefect API this process talks to; None for the ephemeral one (no task workers)."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def prefect_settings_here() -> Callable[[], AbstractContextManager]:
    """This thread's Prefect settings (its API among them), to enter in another thread: a new
    thread starts with the process's defaults."""
    from prefect.context import SettingsContext, get_settings_context

    here = get_settings_context()
    return lambda: SettingsContext(profile=here.profile, settings=here.settings)


# --- run input ---------------------------------------------------------------------------


def read_run_input(flow_run_id: Any, key: str) -> Any | None:
    from prefect.input.actions import read_flow_run_input

    return read_flow_run_input(key, flow_run_id=flow_run_id)


def write_run_input(flow_run_id: Any, key: str, value: Any) -> None:
    from prefect.input.actions import create_flow_run_input

    create_flow_run_input(key, value, flow_run_id=flow_run_id)


def reply_key_prefixes(pause_key: str) -> tuple[str, str]:
    """Where Prefect stores the answer to pause ``pause_key``: named after the state the run
    waited in."""
    return f"paused-{pause_key}-response", f"suspended-{pause_key}-response"


def read_reply(flow_run_id: Any, pause_key: str) -> tuple[dict[str, Any], datetime] | None:
    """The answer given to pause ``pause_key`` and when the server stored it (the reviewer's
    decision time, not when the run read it), or None while nobody has answered."""
    found = []
    with get_client(sync_client=True) as client:
        for prefix in reply_key_prefixes(pause_key):
            found += client.filter_flow_run_input(
                flow_run_id, key_prefix=prefix, limit=1, exclude_keys=set()
            )
    if not found:
        return None
    stored = found[0]
    at = stored.created.astimezone(UTC) if stored.created else datetime.now(UTC)
    return stored.decoded_value, at


# --- waiting for input, resuming, forcing ---------------------------------------------------


def wait_for_input(
    form: type, key: str, timeout_s: int, *, suspend: bool, poll_s: int = 10
) -> bool:
    """Pause (this process polls every ``poll_s``) or suspend (the process ends here; a worker
    re-runs the flow once an answer is in) until ``form`` is answered: True, or False when
    ``timeout_s`` passed first. A timed-out pause is left in place by Prefect, which would fail
    the run at its end: a caller that goes on calls :func:`force_running`."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    try:
        if suspend:
            suspend_flow_run(wait_for_input=form, timeout=timeout_s, key=key)
        else:
            pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=poll_s, key=key)
    except FlowPauseTimeout:
        return False
    return True


def force_running(flow_run_id: Any, message: str) -> None:
    """Mark the run running again whatever its state (a pause that timed out)."""
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Running(message=message), force=True)


def resume(flow_run_id: Any, run_input: dict[str, Any]) -> None:
    """Resume a paused or suspended run with ``run_input`` as its answer. Prefect raises
    ``NotPausedError`` for a run no longer waiting, and RuntimeError when the server refuses."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(flow_run_id, run_input=run_input)


def waiting_flow_runs() -> list[tuple[Any, str, bool]]:
    """(flow run, pause key, suspended) for every run waiting for input."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=paused)
    found = []
    for run in runs:
        key = run.state.state_details.pause_key if run.state else None
        if key:
            found.append((run, key, run.state.name == "Suspended"))
    return found


# --- task runs -----------------------------------------------------------------------------


def read_task_runs(client: Any, ids: list[UUID]) -> list[Any]:
    """The task runs with these ids that still exist, a page at a time."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

    runs: list[Any] = []
    for start in range(0, len(ids), _PAGE):
        only = TaskRunFilter(id=TaskRunFilterId(any_=ids[start : start + _PAGE]))
        runs += client.read_task_runs(task_run_filter=only, limit=_PAGE)
    return runs


def crash_task_run(client: Any, task_run_id: UUID, why: str) -> None:
    """Force a task run Crashed, whatever its state: its worker is gone."""
    from prefect.states import Crashed

    client.set_task_run_state(task_run_id, Crashed(message=why), force=True)


def is_task_timeout(exc: BaseException) -> bool:
    """Whether a task failed by running past its own ``timeout_seconds``."""
    from prefect.task_engine import TaskRunTimeoutError

    return isinstance(exc, TaskRunTimeoutError)


# --- the GPU worker's subscription ---------------------------------------------------------


class RunObserver(Protocol):
    """What a :class:`SubscribedTaskWorker` reports each run to."""

    def _received(self, run_id: str) -> None: ...
    def _forget(self, run_id: str) -> None: ...
    def _started(self, run_id: str) -> None: ...
    def _finished(self, run_id: str) -> None: ...


class SubscribedTaskWorker(TaskWorker):
    """Prefect's task worker with a subscription loop of its own (``receive``).

    Prefect's ``_subscribe_to_task_scheduling`` is the same loop, but its websocket lives in a
    local variable: cancelled, it leaves the connection open until the event loop ends, and
    meanwhile (a drain lasts as long as the shot in progress) the server holds the run it has
    pushed at the worker, waiting for an acknowledgement, instead of handing it to another.
    This loop closes it, and reports each run as received (before it waits for a token) and as
    started. It uses three private parts of
    ``prefect.task_worker.TaskWorker`` (3.8): ``_acquire_token`` (the ``limit`` token, awaited
    while ``limit`` runs execute), ``_runs_task_group`` and ``_safe_submit_scheduled_task_run``
    (reads the parameters, runs the task through the engine, releases the token).
    """

    def __init__(self, *tasks: Any, limit: int, client_id: str, owner: RunObserver) -> None:
        super().__init__(*tasks, limit=limit)
        self._wanflow_client_id, self._owner = client_id, owner
        self._subscription: Subscription[TaskRun] | None = None
        self._slots = asyncio.Semaphore(1)

    @property
    def client_id(self) -> str:  # the name the server lists this subscriber under
        return self._wanflow_client_id

    async def receive(self) -> None:
        """Take runs off the server until cancelled; then close the subscription."""
        url = api_url()
        if not url:
            raise RuntimeError("PREFECT_API_URL is not set: a GPU worker needs a Prefect server")
        self._subscription = Subscription(
            model=TaskRun,
            path="/task_runs/subscriptions/scheduled",
            # In the order served: the server's queue scans keys in this order for each shot it
            # hands out, so high priority shots of any family go before normal ones.
            keys=list(dict.fromkeys(t.task_key for t in self.tasks)),
            client_id=self.client_id,
            base_url=url,
        )
        owner = self._owner
        # A free slot first, then the next run: reading a run acknowledges it, and a run
        # acknowledged by a busy worker is one no other worker can take while it waits (nor
        # ever, if this process is killed). Unread, the run the server pushed stays
        # unacknowledged, and goes back to the server's queue when this connection closes.
        self._slots = asyncio.Semaphore(self.limit or 1_000_000)
        runs = aiter(self._subscription)
        try:
            while True:
                await self._slots.acquire()
                try:
                    task_run = await anext(runs)  # acknowledged as it is received
                except BaseException:
                    self._slots.release()
                    raise
                run_id = str(task_run.id)
                owner._received(run_id)
                acquired = await self._acquire_token(task_run.id)  # at once: a slot is free
                if not acquired:  # delivered twice: already ours
                    owner._forget(run_id)
                    self._slots.release()
                    continue
                owner._started(run_id)
                assert self._runs_task_group is not None
                self._runs_task_group.start_soon(self._execute, task_run)
        finally:
            await self._close_subscription()

    async def _execute(self, task_run: TaskRun) -> None:
        try:
            await self._safe_submit_scheduled_task_run(task_run)
        finally:
            self._owner._finished(str(task_run.id))
            self._slots.release()

    async def _close_subscription(self) -> None:
        """Close the websocket: the server then puts back any run it had pushed but not had
        acknowledged, for the next worker."""
        subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        try:
            websocket = subscription.websocket
        except RuntimeError:  # never connected
            return
        try:
            await asyncio.wait_for(websocket.close(), timeout=10)
        except Exception as exc:  # closing is best effort; the process may be on its way out
            log.debug("closing the task subscription: %s", exc)

    async def until_subscribed(
        self, receiving: asyncio.Task, stop: asyncio.Event, name: str
    ) -> bool:
        """Wait until the server lists this worker as a subscriber (True), or ``stop`` (False);
        raises what ended the subscription (``receiving``, the task running ``receive``)."""
        complained = False
        async with get_client() as client:
            while not stop.is_set():
                if receiving.done():
                    receiving.result()  # raises what ended it
                    raise RuntimeError("the task subscription ended before it was ready")
                try:
                    if await self.subscribed(client):
                        return True
                except Exception as exc:  # the API is not up yet: keep trying, say so once
                    if not complained:
                        log.warning("%s: waiting for the Prefect API: %s", name, exc)
                        complained = True
                await asyncio.sleep(0.1)
        return False

    async def subscribed(self, client) -> bool:
        """Whether the server lists this worker among its tasks' subscribers."""
        keys = sorted(self.task_keys)
        response = await client.request(
            "POST", "/task_workers/filter", json={"task_worker_filter": {"task_keys": keys}}
        )
        return any(
            w.get("identifier") == self.client_id and set(keys) <= set(w.get("task_keys", ()))
            for w in response.json()
        )


__all__ = [
    "RunObserver",
    "SubscribedTaskWorker",
    "api_url",
    "crash_task_run",
    "current_flow_run",
    "force_running",
    "is_task_timeout",
    "prefect_settings_here",
    "read_reply",
    "read_run_input",
    "read_task_runs",
    "reply_key_prefixes",
    "results_persisted",
    "resume",
    "wait_for_input",
    "waiting_flow_runs",
    "write_run_input",
]
