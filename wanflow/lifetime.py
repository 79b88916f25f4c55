"""Child processes that cannot outlive the Wanflow process that started them.

A ``kill -9`` of ``wanflow run`` runs no ``finally`` block and no ``atexit`` hook, so a server it
started would otherwise keep listening, orphaned, with nobody to stop it. Linux delivers a chosen
signal to a child when its parent dies (``PR_SET_PDEATHSIG``); every server Wanflow starts is
launched with it. The kernel sends it when the *thread* that forked the child ends, so servers are
started from the thread that lives as long as they should (the main thread of a command).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ChildStartError(RuntimeError):
    """A helper server could not be started."""


def die_with_parent(umask: int | None = None, signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` making the child receive ``signum`` when this process dies. SIGKILL by
    default: an orphan has nobody left to escalate if a gentler signal stalls its shutdown, and
    both servers recover from it (weed's volumes are append-only, Prefect's SQLite journals).

    If the parent already died between ``fork`` and ``prctl``, the signal would never come:
    the child notices its parent changed and exits at once instead.
    """
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child

    def hook() -> None:  # runs in the child between fork and exec: as little as possible
        if umask is not None:
            os.umask(umask)
        if prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:
            os._exit(0)

    return hook


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0, name: str = "child") -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; always reaps."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s of SIGTERM; killing it", name, timeout_s)
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def prefect_server(timeout_s: float | None = None) -> Iterator[str]:
    """A temporary Prefect API on 127.0.0.1 for this process's flow runs; yields its API URL.

    Prefect would otherwise start its own temporary server (``SubprocessASGIServer``), which
    stops only through ``atexit``: after a ``kill -9`` it listens on forever. This one is the
    same server (the same uvicorn command and settings) launched so that it dies with us, and
    Prefect is pointed at it for the duration. Like every port Wanflow opens, it demands
    credentials: a basic-auth string made afresh at each start, known only to this process and
    the server (both through their environments, which only their owner can read).
    """
    import httpx
    import prefect
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        get_current_settings,
        temporary_settings,
    )

    if timeout_s is None:  # the patience Prefect's own temporary server would have
        timeout_s = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())

    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    env.pop("PREFECT_API_URL", None)
    auth = f"wanflow:{secrets.token_urlsafe(32)}"
    env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    process: subprocess.Popen | None = None
    url = ""
    try:
        for _ in range(5):  # another process may take the chosen port before uvicorn binds it
            port = _free_port()
            url = f"http://127.0.0.1:{port}/api"
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(),
            )
            if _wait_healthy(process, url, timeout_s, httpx):
                break
            stop_process(process, name="the Prefect server")
        else:
            raise ChildStartError("the temporary Prefect server did not start")
        os.environ["PREFECT_API_URL"] = url
        os.environ["PREFECT_API_AUTH_STRING"] = auth
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: auth}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        os.environ.pop("PREFECT_API_AUTH_STRING", None)
        if process is not None:
            stop_process(process, name="the Prefect server")


def _wait_healthy(process: subprocess.Popen, url: str, timeout_s: float, httpx) -> bool:
    """True once the API answers its health check; False if the server exited first."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/health").status_code == 200:
                    return True
            time.sleep(0.1)
    raise ChildStartError(f"the temporary Prefect server did not answer within {timeout_s:.0f} s")
