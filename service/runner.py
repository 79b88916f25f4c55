"""The embedded runner of ``wanflow serve``: on a machine with no Prefect deployment, a thread
takes manifests from ``incoming/`` and runs ``produce-manifest`` on each, one at a time, as
``wanflow run`` and the local daily run do. The claim inside the flow makes it safe beside a
deployed watcher: whichever claims a manifest first runs it, the other skips it.

Each run is a child process (``python -m service.runner KEY``), so that cancelling it works as a
Prefect worker's does: when the run's state becomes Cancelling (``DELETE /v1/jobs/{id}``), the
child is stopped, the run marked Cancelled and its manifest filed under ``failed/``. The child
reads the same environment as the service (with the S3 endpoint and Prefect API the service
started) and dies with the runner.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

from wanflow import keys
from wanflow.errors import ObjectNotFoundError
from wanflow.settings import Settings

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

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking manifests and stop the run in progress (its manifest stays claimed in
        processing/, to be resumed)."""
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
        waiting = [o for o in self.storage.list(keys.INCOMING) if not o.key.endswith("/")]
        waiting.sort(key=lambda o: (o.last_modified is None, o.last_modified, o.key))
        ran = 0
        for obj in waiting:
            if self._stop.is_set():
                break
            self.current = obj.key
            try:
                self._produce(obj.key)
                ran += 1
            finally:
                self.current = None
        return ran

    def _environment(self) -> dict[str, str]:
        from prefect.settings import get_current_settings

        prefect = get_current_settings().to_environment_variables(exclude_unset=True)
        return {**os.environ, **prefect, "WANFLOW_S3_ENDPOINT": self.settings.s3_endpoint or ""}

    def _produce(self, key: str) -> None:
        from wanflow.lifetime import die_with_parent

        launched = datetime.now(UTC) - timedelta(seconds=5)
        child = subprocess.Popen(
            [sys.executable, "-m", "service.runner", key],
            env=self._environment(),
            preexec_fn=die_with_parent(signum=15),
            stdin=subprocess.DEVNULL,
        )
        name = keys.manifest_name(key)
        cancelled = None
        while child.poll() is None:
            if self._stop.wait(self.poll_s):
                _terminate(child)
                return
            cancelled = cancelled or self._cancelling(name, launched)
            if cancelled:
                _terminate(child)
        if cancelled:
            self._file_cancelled(name, cancelled)
        elif child.returncode:
            log.error("runner: %s: produce-manifest exited %s", key, child.returncode)

    def _cancelling(self, name: str, since: datetime) -> str | None:
        from tasks.prefect_runs import find_flow_runs

        try:
            runs = find_flow_runs(name)
        except Exception as exc:  # the API is down: keep running, look again later
            log.warning("runner: cannot read flow runs of %s: %s", name, type(exc).__name__)
            return None
        for run in runs:
            started = run.start_time or since
            if run.state == "CANCELLING" and started >= since:
                return run.id
        return None

    def _file_cancelled(self, name: str, flow_run_id: str) -> None:
        from tasks.prefect_runs import set_cancelled

        processing = keys.manifest_key(keys.PROCESSING, name)
        with contextlib.suppress(ObjectNotFoundError):  # the run filed it before it stopped
            self.storage.move_manifest(processing, keys.FAILED)
        set_cancelled(flow_run_id)
        log.info("runner: %s cancelled (flow run %s)", name, flow_run_id)


def _terminate(child: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM (Prefect marks the run's tasks), then SIGKILL; always reaps."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
    child.wait()


def main(argv: list[str]) -> int:
    """The child: one produce-manifest run, with the settings of this environment."""
    from flows.produce_manifest import produce_manifest
    from wanflow.settings import settings_scope

    with settings_scope(Settings()):
        report = produce_manifest(manifest_key=argv[0])
    return 0 if report.status in ("succeeded", "skipped") else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main(sys.argv[1:]))
