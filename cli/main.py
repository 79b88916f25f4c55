"""The ``wanflow`` command line. Heavy imports (Prefect, torch) happen inside the commands."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import approvals, compose, fleet, generate, prompts, review, setup
from cli.console import err, out
from cli.console import fail as _fail
from cli.console import load_settings as _settings
from wanflow import __version__, keys
from wanflow.settings import Settings, get_settings

app = typer.Typer(
    help="Wanflow: prompt manifests in, safe narrated Wan2.2 short videos out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
storage_app = typer.Typer(help="The S3 bucket: a local server, listings.", no_args_is_help=True)
app.add_typer(storage_app, name="storage")
app.add_typer(approvals.app, name="approvals")


class _Stop(Exception):
    pass


def _storage(settings: Settings):
    from wanflow.storage import Storage, StorageError

    try:
        return Storage.from_settings(settings)
    except StorageError as exc:
        raise _fail(str(exc), 2) from exc


def _row_check(settings: Settings):
    """The prompt stage's row checks (vocabulary, presets), as the flow applies them."""
    from generation.catalogue import build_catalogue
    from generation.presets import PresetError

    try:
        return build_catalogue(settings).check_item
    except PresetError as exc:
        raise _fail(f"invalid settings: WANFLOW_DEFAULT_PRESET: {exc}", 2) from exc


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print Wanflow's version."""
    out.print(__version__)


@app.command()
def config() -> None:
    """Print the effective settings as JSON (secrets masked)."""
    print(json.dumps(_settings().public_dict(), indent=2, ensure_ascii=False))


# --- validate / submit -------------------------------------------------------------------------
@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV, JSON or JSON Lines manifest.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Check a manifest row by row. Exit 0: all rows valid; 1: some rejected; 2: unreadable."""
    from rich.markup import escape

    from wanflow.ingest import ingest_with_settings
    from wanflow.readers import ManifestError

    try:
        settings = _settings()
        result = ingest_with_settings(file, settings, keep_items=False, check=_row_check(settings))
    except ManifestError as exc:
        if as_json:
            print(
                json.dumps(
                    {
                        "file": str(file),
                        "valid": 0,
                        "rejected": [],
                        "warnings": [],
                        "encoding": None,
                        "error": str(exc),
                        "line": exc.line,
                        "column": exc.column,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            err.print(
                f"[red]{escape(str(file))}: cannot be read as a manifest:[/red] {escape(str(exc))}",
                highlight=False,
            )
        raise typer.Exit(2) from None
    summary = result.summary
    code = 1 if summary.rejected_rows else 0
    if as_json:
        payload = {
            "file": str(file),
            "valid": summary.valid,
            "rows": summary.rows,
            "rejected_rows": summary.rejected_rows,
            "rejected": [r.model_dump(exclude={"line"}) for r in summary.rejected],
            "warnings": summary.warnings,
            "encoding": summary.encoding,
            "format": summary.format,
        }
        print(json.dumps(payload, ensure_ascii=False))
        raise typer.Exit(code)
    # What a manifest says is printed as text, never read as rich markup ("[/x]" would crash).
    out.print(
        f"{escape(str(file))}: {summary.valid} valid, {summary.rejected_rows} rejected of "
        f"{summary.rows} rows ({summary.format}, {summary.encoding})",
        highlight=False,
    )
    for warning in summary.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    if summary.rejected:
        table = Table("row", "id", "field", "error", title="Rejected rows")
        for r in summary.rejected:
            table.add_row(str(r.row), escape(r.id or ""), escape(r.field), escape(r.error))
        out.print(table)
    raise typer.Exit(code)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="Manifest to upload to incoming/.")],
    name: Annotated[str | None, typer.Option(help="Object name under incoming/.")] = None,
    force: Annotated[bool, typer.Option(help="Upload even if some rows are invalid.")] = False,
    replace: Annotated[
        bool, typer.Option(help="Replace a manifest of that name still waiting in incoming/.")
    ] = False,
) -> None:
    """Validate a manifest, then upload it to the bucket's incoming/ for the next run.

    A manifest of the same name still waiting in incoming/ is someone's unclaimed work: it is
    not replaced (exit 2) unless ``--replace`` says so. The check is the server's conditional
    create, so two submitters racing for one name cannot both succeed."""
    from wanflow.ingest import ingest_with_settings
    from wanflow.readers import ManifestError
    from wanflow.storage import PreconditionFailedError, StorageError

    settings = _settings()
    try:
        result = ingest_with_settings(file, settings, keep_items=False, check=_row_check(settings))
        problem = (
            f"{result.summary.rejected_rows} of {result.summary.rows} rows are invalid "
            f"(see `wanflow validate {file}`)"
            if result.summary.rejected_rows
            else None
        )
    except ManifestError as exc:
        problem = f"cannot be read as a manifest: {exc}"
    if problem and not force:
        raise _fail(f"{file}: {problem}; not uploaded (use --force to upload anyway)")
    try:
        key = keys.manifest_key(keys.INCOMING, name or file.name)
        store = _storage(settings)
        store.ensure_bucket()
        store.put_bytes(
            key,
            file.read_bytes(),
            metadata={"submitted-by": os.environ.get("USER", "unknown")},
            if_absent=not replace,
        )
    except PreconditionFailedError:
        raise _fail(
            f"{store.uri(key)} already holds a manifest waiting to be claimed; not uploaded "
            "(use --replace to replace it, or --name to upload under another name)",
            2,
        ) from None
    except (StorageError, keys.InvalidKeyError) as exc:
        raise _fail(str(exc)) from exc
    out.print(f"uploaded {file} to {store.uri(key)}", highlight=False)


# --- prompt stage ----------------------------------------------------------------------------
app.command()(prompts.expand)
app.command()(prompts.screen)
app.command()(generate.generate)
app.command()(review.review)
app.command()(setup.setup)
app.command("gpu-worker")(fleet.gpu_worker)
app.command()(fleet.fleet)
app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(compose.compose)


# --- storage ---------------------------------------------------------------------------------
@storage_app.command("serve")
def storage_serve(
    data: Annotated[Path | None, typer.Option(help="Data directory.")] = None,
    port: Annotated[int | None, typer.Option(help="S3 port on 127.0.0.1 (0 = any free).")] = None,
) -> None:
    """Run a local S3 server (SeaweedFS) on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from wanflow.localserver import LocalS3Server, LocalServerError

    settings = _settings()
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
        raise _fail(f"the S3 server exited unexpectedly; see {server.log_path}")
    except (KeyboardInterrupt, _Stop):
        out.print("stopping the S3 server…")
    except LocalServerError as exc:
        raise _fail(str(exc)) from exc
    finally:
        server.stop()


@storage_app.command("ls")
def storage_ls(
    prefix: Annotated[str, typer.Argument(help="Key prefix, e.g. incoming/ or reports/.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
) -> None:
    """List objects under a prefix. Without WANFLOW_S3_ENDPOINT, the local server's bucket
    (where `wanflow run` and the demo left their work) is started for the listing."""

    with _endpoint(_settings()) as settings:
        _list(_storage(settings), prefix, as_json)


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
        raise _fail(str(exc)) from exc


# --- run -------------------------------------------------------------------------------------
@contextmanager
def _endpoint(settings: Settings):
    """Yield settings with an S3 endpoint, starting a local server when none is configured."""
    if settings.s3_endpoint:
        yield settings
        return
    from wanflow.localserver import LocalS3Server

    err.print(f"no S3 endpoint configured: starting a local S3 server ({settings.local_s3_data})")
    with LocalS3Server(
        settings.local_s3_data,
        settings.s3_access_key,
        settings.s3_secret_key.get_secret_value(),
        port=settings.local_s3_port,
        bucket=settings.s3_bucket,
    ) as server:
        os.environ["WANFLOW_S3_ENDPOINT"] = server.endpoint
        get_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            os.environ.pop("WANFLOW_S3_ENDPOINT", None)
            get_settings.cache_clear()


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Local manifest to run end to end.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to copy the run report and each published item's files "
            "(DIR/<item-id>/video.mp4, …). Default: WANFLOW_OUTPUT_DIR.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model for every task (t2v, i2v, ti2v), e.g. tiny for the offline stand-in; "
            "default: the WANFLOW_MODEL_* settings.",
        ),
    ] = None,
    auto_approve: Annotated[
        bool,
        typer.Option(
            "--auto-approve",
            help="Approve every item held for a person (logged as such); blocked items stay "
            "blocked.",
        ),
    ] = False,
    approval_timeout: Annotated[
        float | None,
        typer.Option(
            "--approval-timeout",
            help="Seconds held items wait for a reviewer. Default: the setting when "
            "PREFECT_API_URL names a server reviewers can reach, else 0 (held at once).",
        ),
    ] = None,
) -> None:
    """Upload a local manifest and run produce_manifest in process (embedded defaults)."""
    if not file.is_file():
        raise _fail(f"{file} is not a file", 2)
    # An ephemeral Prefect server can take longer than Prefect's 20 s default to start.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if model:
        for task in ("T2V", "I2V", "TI2V"):
            os.environ[f"WANFLOW_MODEL_{task}"] = model
        get_settings.cache_clear()
    _approval_options(_settings(), auto_approve, approval_timeout)
    from wanflow.storage import StorageError

    with ExitStack() as stack:
        try:
            settings = stack.enter_context(_endpoint(_settings()))
            store = _storage(settings)
            store.ensure_bucket()
            key = keys.manifest_key(keys.INCOMING, file.name)
            store.put_file(key, file)
        except (StorageError, keys.InvalidKeyError) as exc:
            raise _fail(str(exc)) from exc
        err.print(f"uploaded {file} to {store.uri(key)}; running produce_manifest…", soft_wrap=True)
        _temporary_prefect_api(stack)
        from flows.produce_manifest import produce_manifest

        try:
            report = produce_manifest(manifest_key=key)
        except Exception as exc:  # the flow has filed the manifest under failed/ when it could
            raise _fail(f"the run failed: {type(exc).__name__}: {exc}") from exc
        target = out_dir or settings.output_dir
        target.mkdir(parents=True, exist_ok=True)
        local_copy = target / f"{report.run_id}.json"
        local_copy.write_text(report.model_dump_json(indent=2))
        copies = _copy_published(report, store, target)
        written = report.status != "skipped"
        _print_report(report, store.uri(report.key) if written else "(none)", local_copy)
        for item_id, folder in copies.items():
            out.print(f"{item_id}: {folder}/", highlight=False, soft_wrap=True)
    if report.status != "succeeded":
        raise typer.Exit(1)


def _temporary_prefect_api(stack: ExitStack) -> None:
    """Without PREFECT_API_URL the run reports to a temporary Prefect API of its own, started
    so that it dies with this process even on ``kill -9`` (Prefect's built-in one would not)."""
    from prefect.settings import PREFECT_API_URL

    from wanflow.lifetime import ChildStartError, prefect_server

    if PREFECT_API_URL.value():
        return
    try:
        url = stack.enter_context(prefect_server())
    except ChildStartError as exc:
        raise _fail(str(exc)) from exc
    err.print(f"temporary Prefect API on {url} (stops with this run)", highlight=False)


def _copy_published(report, store, target: Path) -> dict[str, Path]:
    """Each published item's files into ``target/<item-id>/``, named as in the bucket."""
    copies = {}
    for item in report.items:
        if item.published is None:
            continue
        folder = target / item.id
        for name, key in item.published.files.items():
            store.download(key, folder / name)
        copies[item.id] = folder
    return copies


def _approval_options(settings: Settings, auto_approve: bool, timeout: float | None) -> None:
    """Without a Prefect server of its own the run's API lives and dies with this process, so
    no reviewer can reach it: held items are held at once unless a timeout is asked for."""
    from prefect.settings import PREFECT_API_URL

    if auto_approve:
        os.environ["WANFLOW_AUTO_APPROVE"] = "true"
    if timeout is not None:
        os.environ["WANFLOW_APPROVAL_TIMEOUT_S"] = str(timeout)
    elif not PREFECT_API_URL.value() and "approval_timeout_s" not in settings.model_fields_set:
        os.environ["WANFLOW_APPROVAL_TIMEOUT_S"] = "0"
        if not auto_approve:
            err.print(
                "no Prefect server configured (PREFECT_API_URL): items that need a reviewer "
                "are held, not waited for (--auto-approve approves them)"
            )
    get_settings.cache_clear()


def _print_report(report, uri: str, local_copy: Path) -> None:
    table = Table(title=f"{report.manifest}: {report.status}")
    for column in ("item", "title", "status", "plan", "reasons"):
        table.add_column(column, no_wrap=column in ("item", "status", "plan"))
    # The estimate is the cost model's GPU time for the real model on the GPU it is set for,
    # whatever ran here (the tiny stand-ins take seconds on a CPU): the column says so.
    gpu = report.settings.get("gpu_type") or "GPU"
    for item in report.items:
        plan = ""
        if item.preset:
            shots = f"{item.shots} shot{'s' if item.shots != 1 else ''}"
            estimate = (
                f", ~{item.estimate_s:.0f} s on {gpu} (est.)" if item.estimate_s is not None else ""
            )
            plan = f"{item.preset}, {shots}{estimate}"
        reasons = "; ".join([*item.reasons, *item.warnings])
        table.add_row(item.id, item.title or "", item.status, plan, reasons)
    for r in report.rejected:
        where = f"row {r.row}, {r.field}: {r.error}"
        table.add_row(r.id or f"row {r.row}", "", "rejected", "", where)
    out.print(table)
    if report.error:
        out.print(f"[red]{report.error}[/red]", highlight=False)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items())
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in report.stages.items())
    out.print(f"{counts}; stages: {timings}", highlight=False)
    out.print(f"report: {uri}\nlocal copy: {local_copy}", highlight=False)


if __name__ == "__main__":
    app()
