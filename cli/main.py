"""The ``wanflow`` command line. Heavy imports (Prefect, torch) happen inside the commands."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli import (
    approvals,
    compose,
    fleet,
    generate,
    prompts,
    review,
    reviewers,
    run,
    serve,
    setup,
    storage,
)
from cli import tokens as tokens_cli
from cli.console import err, open_storage, out
from cli.console import fail as _fail
from cli.console import load_settings as _settings
from wanflow import __version__, keys
from wanflow.settings import Settings

app = typer.Typer(
    help="Wanflow: prompt manifests in, safe narrated Wan2.2 short videos out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(storage.app, name="storage")
app.add_typer(approvals.app, name="approvals")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(reviewers.app, name="reviewers")


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
        payload = {"file": str(file), **summary.as_validation()}
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
        store = open_storage(settings)
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


# --- the other commands -----------------------------------------------------------------------
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
app.command()(run.run)
app.command()(serve.serve)


if __name__ == "__main__":
    app()
