"""GPU workers: long-lived processes that keep a model resident and render the shots dispatched
to them as Prefect background tasks (``tasks.fleet``).

A ``GpuWorker`` subscribes to the Prefect server's queue of the render tasks of some model
families and runs up to ``limit`` (default 1) of them at a time on this process's resident
pipelines (``generation.pipelines``). Its record in the bucket (``wanflow.fleet.WorkerBeat``)
is what a dispatcher knows of it:

- **Ready** means subscribed: the server lists this worker among the subscribers of its tasks.
  The first record is written only then, so a record in the bucket means the worker takes shots.
  (A run dispatched with ``.delay()`` before any worker subscribed waits in the server's queue
  and goes to the first worker that subscribes; runs are queued in the server's memory, so a
  server restart loses runs still queued.)
- **Records** are written at ready, whenever a run is received, started or finished, and every
  ``WANFLOW_WORKER_HEARTBEAT_S`` in between (``seq`` grows with each write, from a thread of its
  own, so a long model load or shot never silences it). ``running`` lists the task runs it
  executes; ``waiting`` a run received but not yet started (for an instant: unlike Prefect's own
  task worker, which takes the next run off the server while ``limit`` runs execute and holds it
  until one ends, this one reads a run only when it has a free slot). A worker killed with
  SIGKILL leaves what it lists for the dispatcher to force Crashed and send again. The run the
  server may already have pushed at a busy worker is not acknowledged: when the connection
  closes (a drain, or the kernel closing a killed process's socket), the server hands it to
  another worker.
- **Drain** (``stop()``, SIGTERM or SIGINT for the CLI): it takes no new run and closes its
  subscription, finishes the runs in progress (records keep coming, ``stopping`` false, since
  what it lists as running is still being rendered), then writes a final record with ``stopping``
  true and returns. A second signal stops at once: the final record
  then also lists the interrupted run as running, and the process exits 1.

``local_worker`` runs one in a thread of the calling process, for ``WANFLOW_FLEET=local``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from generation.clips import ClipJob
from tasks.fleet import FAMILIES, tasks_serving
from tasks.prefect_runs import SubscribedTaskWorker, prefect_settings_here
from wanflow.clip import Clip
from wanflow.fleet import WorkerBeat, worker_name, write_beat
from wanflow.settings import Settings, current_settings

log = logging.getLogger(__name__)

# The worker whose task run the current thread executes: ``render_job``'s observer runs in
# Prefect's executor thread, which inherits the context of the worker that submitted the run.
_CURRENT: contextvars.ContextVar[GpuWorker | None] = contextvars.ContextVar(
    "wanflow_gpu_worker", default=None
)
_OBSERVING = threading.Lock()
_observing: list[bool] = [False]
_NUMBERS = itertools.count(1)  # the second worker of a process gets "-2" after its name


def serving_settings() -> Settings:
    """The settings of the worker running the current shot: a shot's parameters travel through
    the Prefect API and the bucket, so its settings (secrets included) never go with them."""
    worker = _CURRENT.get()
    return worker.settings if worker is not None else current_settings()


def _observed(job: ClipJob, record: Clip, seconds: float) -> None:
    worker = _CURRENT.get()
    if worker is not None:
        worker._shot_done(record, seconds)


def _observe_shots() -> None:
    from tasks.generate import observe

    with _OBSERVING:
        if not _observing[0]:
            observe(_observed)
            _observing[0] = True


class GpuWorker:
    """Serves ``tasks_serving(families)`` with at most ``limit`` shots at once; see the module
    docstring for when it is ready, what its record holds, and how it drains.

    ``run()`` blocks until the worker has stopped (from any thread: ``stop()``); ``on_ready``
    is called once, from the heartbeat thread, after the first record is written.
    """

    def __init__(
        self,
        families: list[str] | tuple[str, ...] = FAMILIES,
        *,
        settings: Settings,
        limit: int = 1,
        name: str | None = None,
        store=None,
        on_ready: Callable[[GpuWorker], None] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.settings = settings
        self.families = list(dict.fromkeys(families))
        self.tasks = tasks_serving(self.families)  # ValueError naming an unknown family
        self.limit = limit
        self.gpu = os.environ.get("CUDA_VISIBLE_DEVICES") or None
        number = next(_NUMBERS)
        base = worker_name(self.gpu, os.getpid())
        self.name = name or (base if number == 1 else f"{base}-{number}")
        self.store = store
        self.on_ready = on_ready
        now = datetime.now(UTC)
        self._beat = WorkerBeat(
            worker=self.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            gpu=self.gpu,
            serves=self.families,
            started_at=now,
            updated_at=now,
        )
        self._state = threading.Lock()  # the record's fields, between the loop and the heartbeat
        self._writing = threading.Lock()  # one write at a time, in seq order
        self._running: dict[str, None] = {}  # insertion-ordered sets of task run ids
        self._waiting: dict[str, None] = {}
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._settled = threading.Event()  # ready or ended
        self._changed = threading.Event()
        self._beats_stop = threading.Event()
        self._stop_asked = threading.Event()
        self._subscribed = False
        self._write_failing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._heartbeat: threading.Thread | None = None
        self.draining = False
        self.error: BaseException | None = None

    # --- public ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once ready, False after ``timeout``; raises if the worker ended first."""
        self._settled.wait(timeout)
        if self._ready.is_set():
            return True
        if self._ended.is_set():
            raise RuntimeError(f"GPU worker {self.name} stopped before it was ready") from (
                self.error
            )
        return False

    def stop(self) -> None:
        """Drain: take no new shot, finish the ones in progress, write the final record.
        Returns at once; ``run()`` returns when the drain is over."""
        self._stop_asked.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            # A loop that has closed has nothing left to drain.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def record(self) -> WorkerBeat:
        """The record as it would be written now."""
        with self._state:
            return self._snapshot(final=False)

    def run(self, *, handle_signals: bool = False) -> None:
        """Serve until stopped. With ``handle_signals`` (the main thread of the CLI), SIGTERM
        and SIGINT drain, and a second one stops at once. Raises ``StorageError`` when the
        bucket cannot be reached, and whatever ended the subscription."""
        from wanflow.storage import Storage

        try:
            if self.store is None:
                self.store = Storage.from_settings(self.settings)
            self.store.exists(self._beat.key)  # the bucket answers, before any shot is taken
            _observe_shots()
            asyncio.run(self._main(handle_signals))
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._stop_heartbeat()
            if self._subscribed or self._running or self._waiting:
                self._write(final=True)
            self._ended.set()
            self._settled.set()

    # --- the event loop --------------------------------------------------------------------

    async def _main(self, handle_signals: bool) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._stop, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        if self._stop_asked.is_set():
            self._stop.set()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._on_signal, signum)
        token = _CURRENT.set(self)
        try:
            worker = SubscribedTaskWorker(
                *self.tasks, limit=self.limit, client_id=f"wanflow-{self.name}", owner=self
            )
            async with worker:
                receiving = asyncio.create_task(worker.receive(), name="receive")
                try:
                    if await worker.until_subscribed(receiving, self._stop, self.name):
                        self._subscribed = True
                        self._start_heartbeat()
                        stop = asyncio.create_task(self._stop.wait())
                        await asyncio.wait({receiving, stop}, return_when=asyncio.FIRST_COMPLETED)
                        stop.cancel()
                finally:
                    self.draining = True
                    receiving.cancel()
                    (outcome,) = await asyncio.gather(receiving, return_exceptions=True)
                    if not self._stop.is_set():
                        log.warning("%s: its subscription ended: draining", self.name)
                    await self._idle.wait()  # the runs in progress end
                if isinstance(outcome, BaseException) and not isinstance(
                    outcome, asyncio.CancelledError
                ):
                    raise outcome
        finally:
            _CURRENT.reset(token)
            if handle_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        assert self._stop is not None
        if not self._stop.is_set():
            log.warning(
                "%s: %s: draining (finishing %d shot(s) in progress); again to stop at once",
                self.name,
                signal.Signals(signum).name,
                len(self._running),
            )
            self._stop.set()
            return
        log.warning("%s: stopping at once; its shots are left to the dispatcher", self.name)
        self._stop_heartbeat()
        if self._subscribed:
            self._write(final=True)
        os._exit(1)

    # --- what happens to runs (called on the loop's thread) ---------------------------------

    def _received(self, run_id: str) -> None:
        with self._state:
            if run_id not in self._running:
                self._waiting[run_id] = None
        self._changed.set()

    def _forget(self, run_id: str) -> None:
        with self._state:
            self._waiting.pop(run_id, None)
        self._changed.set()

    def _started(self, run_id: str) -> None:
        with self._state:
            self._waiting.pop(run_id, None)
            self._running[run_id] = None
        assert self._idle is not None
        self._idle.clear()
        self._changed.set()

    def _finished(self, run_id: str) -> None:
        with self._state:
            self._running.pop(run_id, None)
            self._beat.shots += 1
            idle = not self._running
        if idle and self._idle is not None:
            self._idle.set()
        self._changed.set()

    def _shot_done(self, record: Clip, seconds: float) -> None:
        """``render_job``'s observer (Prefect's executor thread): loads and busy time."""
        with self._state:
            self._beat.busy_s = round(self._beat.busy_s + seconds, 3)
            if record.load_s > 0 and not record.cached:
                self._beat.loads[record.model] = self._beat.loads.get(record.model, 0) + 1
        self._changed.set()

    # --- the record --------------------------------------------------------------------------

    def _snapshot(self, final: bool) -> WorkerBeat:
        from generation.pipelines import resident_names

        return self._beat.model_copy(
            update={
                "running": list(self._running),
                "waiting": list(self._waiting),
                "resident": resident_names(),
                "loads": dict(self._beat.loads),
                "stopping": final,
            }
        )

    def _write(self, final: bool = False) -> bool:
        with self._writing:
            with self._state:
                self._beat.seq += 1
                beat = self._snapshot(final)
            try:
                write_beat(self.store, beat)
            except Exception as exc:  # the bucket is down: the next beat tries again
                if not self._write_failing:
                    log.warning("%s: could not write its record: %s", self.name, exc)
                self._write_failing = True
                return False
            if self._write_failing:
                log.warning("%s: its record is written again", self.name)
            self._write_failing = False
            return True

    def _start_heartbeat(self) -> None:
        self._heartbeat = threading.Thread(
            target=self._beats, name=f"heartbeat-{self.name}", daemon=True
        )
        self._heartbeat.start()

    def _stop_heartbeat(self) -> None:
        self._beats_stop.set()
        self._changed.set()
        thread = self._heartbeat
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _beats(self) -> None:
        period = self.settings.worker_heartbeat_s
        while not self._beats_stop.is_set():
            self._changed.clear()  # what changes from here on is in this write or the next
            if self._write() and not self._ready.is_set():
                self._ready.set()
                self._settled.set()
                log.info("%s: ready, serving %s", self.name, ",".join(self.families))
                if self.on_ready is not None:
                    try:
                        self.on_ready(self)
                    except Exception:
                        log.exception("%s: on_ready failed", self.name)
            self._changed.wait(period if self._ready.is_set() else min(period, 1.0))


@contextmanager
def local_worker(
    settings: Settings,
    *,
    families: list[str] | tuple[str, ...] = FAMILIES,
    limit: int = 1,
    ready_timeout_s: float = 300.0,
) -> Iterator[GpuWorker]:
    """A ``GpuWorker`` in a daemon thread of this process (its own event loop), for the
    embedded fleet: shots this process dispatches with ``.delay()`` render here, on this
    process's resident pipelines. Yields once the worker is ready; drains it on exit (the
    shot in progress ends first). Prefect's settings (its API) are this thread's."""
    here = prefect_settings_here()
    worker = GpuWorker(families, limit=limit, settings=settings)

    def serve() -> None:
        with here():
            try:
                worker.run()
            except BaseException:
                log.exception("the local GPU worker %s failed", worker.name)

    thread = threading.Thread(target=serve, name=f"gpu-worker-{worker.name}", daemon=True)
    thread.start()
    try:
        if not worker.wait_ready(ready_timeout_s):
            raise TimeoutError(
                f"the local GPU worker was not subscribed to the Prefect API after "
                f"{ready_timeout_s:.0f} s"
            )
        yield worker
    except BaseException:
        worker.stop()
        thread.join()
        raise
    worker.stop()
    thread.join()
    if worker.error is not None:
        raise RuntimeError(f"the local GPU worker {worker.name} failed: {worker.error}") from (
            worker.error
        )
