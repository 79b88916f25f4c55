"""``wanflow storage``: a local S3 server, and listings of the bucket."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cli.console import err, fail, load_settings, open_storage, out, override
from wanflow import keys
from wanflow.settings import Settings

app = typer.Typer(help="The S3 bucket: a local server, listings.", no_args_is_help=True)


class _Stop(Exception):
    pass


@app.command("serve")
def serve(
    data: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
    port: Annotated[int | None, typer.Option(help="S3 port on 127.0.0.1 (0 = any free).")] = None,
) -> None:
    """Run a local S3 server (SeaweedFS) on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from wanflow.localserver import LocalS3Server, LocalServerError

    settings = load_settings()
    server = LocalS3Server(
        data or settings.local_s3_data,
        settings.s3_access_key,
        settings.s3_secret_key.get_secret_value(),
        port=settings.local_s3_port if port is None else port,
        bucket=settings.s3_bucket,
    )

    def stop(signum, frame):
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    try:
        server.start()
        out.print(
            f"S3 server on http://{server.endpoint} (bucket {settings.s3_bucket!r}, data "
            f"{server.data_dir}); use it with\n  export WANFLOW_S3_ENDPOINT={server.endpoint}\n"
            "Ctrl-C stops it.",
            highlight=False,
        )
        assert server.process is not None
        server.process.wait()
        raise fail(f"the S3 server exited unexpectedly; see {server.log_path}")
    except (KeyboardInterrupt, _Stop):
        out.print("stopping the S3 server…")
    except LocalServerError as exc:
        raise fail(str(exc)) from exc
    finally:
        server.stop()


@app.command("ls")
def ls(
    prefix: Annotated[str, typer.Argument(help="Key prefix, e.g. incoming/ or reports/.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
) -> None:
    """List objects under a prefix. Without WANFLOW_S3_ENDPOINT, the local server's bucket
    (where `wanflow run` and the demo left their work) is started for the listing."""

    with endpoint(load_settings()) as settings:
        _list(open_storage(settings), prefix, as_json)


def _list(store, prefix: str, as_json: bool) -> None:
    from wanflow.storage import StorageError

    try:
        for obj in store.list(prefix):
            if as_json:
                print(
                    json.dumps(
                        {
                            "key": obj.key,
                            "size": obj.size,
                            "etag": obj.etag,
                            "last_modified": obj.last_modified.isoformat()
                            if obj.last_modified
                            else None,
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                when = obj.last_modified.strftime("%Y-%m-%d %H:%M:%S") if obj.last_modified else ""
                out.print(f"{when}  {obj.size:>12}  {obj.key}", highlight=False)
    except (StorageError, keys.InvalidKeyError) as exc:
        raise fail(str(exc)) from exc


@contextmanager
def endpoint(settings: Settings) -> Iterator[Settings]:
    """Yield settings with an S3 endpoint: the configured one; else the local server another
    Wanflow process runs on the local data (``wanflow tokens`` while ``wanflow serve`` runs);
    else a local server started here for as long as the block lasts."""
    if settings.s3_endpoint:
        yield settings
        return
    from wanflow.localserver import LocalS3Server, LocalServerError, running_endpoint

    running = running_endpoint(settings.local_s3_data)
    if running:
        err.print(
            f"no S3 endpoint configured: using the local S3 server another process runs on "
            f"{running} ({settings.local_s3_data})"
        )
        yield override(settings, s3_endpoint=running)
        return
    err.print(f"no S3 endpoint configured: starting a local S3 server ({settings.local_s3_data})")
    server = LocalS3Server(
        settings.local_s3_data,
        settings.s3_access_key,
        settings.s3_secret_key.get_secret_value(),
        port=settings.local_s3_port,
        bucket=settings.s3_bucket,
    )
    try:
        server.start()
    except LocalServerError as exc:
        raise fail(str(exc)) from exc
    try:
        yield override(settings, s3_endpoint=server.endpoint)
    finally:
        server.stop()
