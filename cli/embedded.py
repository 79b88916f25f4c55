"""The embedded defaults of ``wanflow run`` and ``wanflow serve``: with no S3 endpoint
configured, a local S3 server; with no ``PREFECT_API_URL``, a temporary Prefect API. Both are
started so that they stop with this process, even on ``kill -9``."""

from __future__ import annotations

import os
from contextlib import ExitStack

from cli.console import err, fail, open_storage
from cli.storage import endpoint
from wanflow.settings import Settings


def prefect_environment() -> None:
    """Prefect's own settings, read from the environment here and in a server it starts: an
    ephemeral Prefect server can take longer than Prefect's 20 s default to start."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def embedded(stack: ExitStack, settings: Settings, *, prefect: bool = True):
    """Settings with an S3 endpoint and the bucket's client (the bucket created if missing),
    plus (``prefect``) a temporary Prefect API when none is configured; what it starts stops
    when ``stack`` closes. Exits with the error when something cannot start."""
    from wanflow.storage import StorageError

    try:
        settings = stack.enter_context(endpoint(settings))
        store = open_storage(settings)
        store.ensure_bucket()
    except StorageError as exc:
        raise fail(str(exc)) from exc
    if prefect:
        temporary_prefect_api(stack)
    return settings, store


def temporary_prefect_api(stack: ExitStack) -> str | None:
    """Without PREFECT_API_URL, a temporary Prefect API of this process's own, started so that
    it dies with this process even on ``kill -9`` (Prefect's built-in one would not); its URL,
    or None when one is configured."""
    from prefect.settings import PREFECT_API_URL

    from wanflow.lifetime import ChildStartError, prefect_server

    if PREFECT_API_URL.value():
        return None
    try:
        url = stack.enter_context(prefect_server())
    except ChildStartError as exc:
        raise fail(str(exc)) from exc
    err.print(f"temporary Prefect API on {url} (stops with this process)", highlight=False)
    return url
