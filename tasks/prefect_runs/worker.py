"""The GPU worker's subscription to its background tasks: private parts of Prefect's
``TaskWorker`` (3.8), kept apart from the rest of the adapter for their size."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from prefect import get_client
from prefect.client.schemas.objects import TaskRun
from prefect.client.subscriptions import Subscription
from prefect.task_worker import TaskWorker

from tasks.prefect_runs.runs import api_url

log = logging.getLogger(__name__)


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
