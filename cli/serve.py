"""``wanflow serve``: the web service (the /v1 API and the review pages) on uvicorn."""

from __future__ import annotations

import signal
import socket
from contextlib import ExitStack, suppress
from typing import Annotated

import typer

from cli.console import err, fail, load_settings, out
from cli.embedded import embedded, prefect_environment, temporary_prefect_api


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    runner: Annotated[
        bool | None,
        typer.Option(
            "--runner/--no-runner",
            help="Run submitted jobs in this process (produce-manifest on each manifest in "
            "incoming/). Default: on when PREFECT_API_URL is unset (no deployment to run them).",
        ),
    ] = None,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body accepted (MiB); larger ones get 413.")
    ] = 16,
    poll: Annotated[float, typer.Option(help="Seconds between the runner's looks.")] = 2.0,
) -> None:
    """Serve the API and the review pages. Without WANFLOW_S3_ENDPOINT or PREFECT_API_URL, a
    local S3 server and a temporary Prefect API start with it (and stop with it)."""
    import uvicorn

    from service.app import create_app
    from service.runner import Runner
    from wanflow.access import Access

    prefect_environment()
    settings = load_settings()
    with ExitStack() as stack:
        started_s3 = not settings.s3_endpoint
        settings, store = embedded(stack, settings, prefect=False)
        embedded_prefect = temporary_prefect_api(stack) is not None
        access = Access(store)
        try:
            app = create_app(settings, store, access, max_body_bytes=int(max_body_mb * 2**20))
        except Exception as exc:  # a bad preset setting, an unreadable lexicon, …
            raise fail(f"cannot start the service: {exc}", 2) from exc
        if runner if runner is not None else embedded_prefect:
            jobs = Runner(settings, store, poll_s=poll)
            jobs.start()
            stack.callback(jobs.stop)
            err.print("running submitted jobs in this process", highlight=False)
        sock = _listen(host, port)
        stack.callback(sock.close)
        if started_s3:
            err.print(
                f"local S3 on {settings.s3_endpoint}: while this runs, `wanflow tokens`, "
                "`wanflow reviewers` and other commands on this machine use it",
                highlight=False,
            )
        if not access.tokens():
            err.print(
                "no API tokens yet: create one with `wanflow tokens create NAME --scope submit`",
                highlight=False,
            )
        where = sock.getsockname()
        shown = f"[{where[0]}]" if ":" in where[0] else where[0]
        out.print(f"serving on http://{shown}:{where[1]} (API docs: /docs)", highlight=False)
        config = uvicorn.Config(
            app, log_level="warning", server_header=False, proxy_headers=False, access_log=False
        )
        # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again for the
        # handler it found: this one, so that what started with the service stops with it.
        signal.signal(signal.SIGTERM, _stop)
        with suppress(_Stopped, KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
        err.print("stopping…", highlight=False)


class _Stopped(Exception):
    pass


def _stop(signum, frame) -> None:
    raise _Stopped


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the ready line is printed, so that a client reading it
    can connect at once (and ``--port 0`` tells which port it got)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock
