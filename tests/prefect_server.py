"""A real ``prefect server start`` process for the tests that need the server's own behaviour
(its scheduler, its UI), which the in-process test harness does not run; and the process
handling they share: start in a session of its own, stop the whole family, poll with a bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PREFECT = str(Path(sys.executable).parent / "prefect")
SERVER_START_S = 240  # a fresh SQLite database is migrated first: slow on a loaded machine


@dataclass
class PrefectServer:
    url: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def without_prefect_settings() -> dict[str, str]:
    """This process's environment less its PREFECT_* settings (conftest's private home among
    them), so that each process started here gets only the Prefect settings it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a session of its own, so that stopping its group stops whatever it started
    in that group too; its output goes to ``log``, for failure messages."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, to the process and every process it started.

    Prefect's servers and workers do not always honour SIGTERM, and a process worker starts
    each flow run in a session of its own, out of reach of a signal to the worker's group:
    the whole family is found first and each of its process groups signalled.
    """
    import psutil

    try:
        leader = psutil.Process(process.pid)
        family = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    groups = {process.pid}
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            groups.add(os.getpgid(member.pid))
    groups.discard(os.getpgrp())  # never the test's own
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        _, alive = psutil.wait_procs(family, timeout=grace_s)
        if not alive:
            break
    process.wait(timeout=grace_s)


def wait_for(what: str, check: Callable[[], object], deadline_s: float, why: Callable[[], str]):
    """Poll ``check`` every half second until it returns something truthy; fail after
    ``deadline_s`` with ``why()`` (a log tail) in the message."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            pytest.fail(f"no {what} after {deadline_s} s\n{why()}")
        time.sleep(0.5)


# --- the Prefect server -------------------------------------------------------------------------


def healthy(server: PrefectServer, process: subprocess.Popen) -> bool:
    import httpx

    if process.poll() is not None:
        pytest.fail(f"prefect server start exited with {process.returncode}\n{server.log_tail()}")
    try:
        return httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def running_server(tmp_path: Path, *, scheduler: bool = False, ui: bool = False):
    """``prefect server start`` on a free loopback port, with a home and SQLite database of its
    own. ``scheduler``: the scheduler loops every 2 s (recently changed deployments every
    second) instead of every minute. ``ui``: the UI is served, and told where the API is (a
    server started with ``--port`` would otherwise point its UI at the default port, 4200).
    Services no test here needs are off, to spare the CPU."""
    home, port = tmp_path / "server-home", free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = without_prefect_settings() | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": str(ui).lower(),
        "PREFECT_UI_API_URL": api,
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": str(scheduler).lower(),
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    }
    command = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = PrefectServer(api, tmp_path / "server.log")
    process = start(command, env, server.log)
    try:
        # Seconds of imports for the test's own client, paid while the server migrates.
        import prefect.client.orchestration  # noqa: F401

        wait_for(
            "answer from /api/health",
            lambda: healthy(server, process),
            SERVER_START_S,
            server.log_tail,
        )
        yield server
    finally:
        stop(process)
