"""The embedded runner of ``wanflow serve``: on a machine with no Prefect deployment, a thread
takes manifests from ``incoming/`` and runs ``produce-manifest`` on each in this process, as
``wanflow run`` and the local daily run do. The claim inside the flow makes it safe beside a
deployed watcher: whichever claims a manifest first runs it, the other skips it."""

from __future__ import annotations

import contextvars
import logging
import threading

from wanflow import keys
from wanflow.settings import Settings, settings_scope

log = logging.getLogger(__name__)


class Runner:
    def __init__(self, settings: Settings, storage, poll_s: float = 2.0):
        self.settings, self.storage, self.poll_s = settings, storage, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: str | None = None

    def start(self) -> None:
        # The thread sees this context's Prefect settings (the temporary API and its auth).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), name="wanflow-runner", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop taking manifests; a run in progress is left to end with the process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_waiting()
            except Exception as exc:  # the loop must outlive a bad tick (bucket down, …)
                log.error("runner: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.poll_s)

    def run_waiting(self) -> int:
        """Produce every manifest now in ``incoming/``, oldest first; how many were run."""
        from flows.produce_manifest import produce_manifest

        waiting = [o for o in self.storage.list(keys.INCOMING) if not o.key.endswith("/")]
        waiting.sort(key=lambda o: (o.last_modified is None, o.last_modified, o.key))
        ran = 0
        for obj in waiting:
            if self._stop.is_set():
                break
            self.current = obj.key
            try:
                with settings_scope(self.settings):
                    report = produce_manifest(manifest_key=obj.key)
                log.info("runner: %s %s", obj.key, report.status)
                ran += 1
            except Exception as exc:  # the flow filed it under failed/ when it could
                log.error("runner: %s failed: %s: %s", obj.key, type(exc).__name__, exc)
            finally:
                self.current = None
        return ran
