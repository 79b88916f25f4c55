"""``wanflow run``: a local manifest end to end, in this process, on embedded defaults."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.console import err, fail, load_settings, out, override
from cli.embedded import embedded, prefect_environment, temporary_prefect_api
from wanflow import keys
from wanflow.settings import Settings, settings_scope


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
        raise fail(f"{file} is not a file", 2)
    # Prefect's own settings, not Wanflow's: Prefect reads them from the environment (here and
    # in a server process it starts). An ephemeral Prefect server can take longer than
    # Prefect's 20 s default to start.
    prefect_environment()
    settings = load_settings()
    if model:
        settings = override(settings, model_t2v=model, model_i2v=model, model_ti2v=model)
    settings = _approval_options(settings, auto_approve, approval_timeout)
    from wanflow.storage import StorageError

    with ExitStack() as stack:
        settings, store = embedded(stack, settings, prefect=False)
        try:
            key = keys.manifest_key(keys.INCOMING, file.name)
            store.put_file(key, file)
        except (StorageError, keys.InvalidKeyError) as exc:
            raise fail(str(exc)) from exc
        err.print(f"uploaded {file} to {store.uri(key)}; running produce_manifest…", soft_wrap=True)
        temporary_prefect_api(stack)
        from flows.produce_manifest import produce_manifest

        try:
            with settings_scope(settings):
                report = produce_manifest(manifest_key=key)
        except Exception as exc:  # the flow has filed the manifest under failed/ when it could
            raise fail(f"the run failed: {type(exc).__name__}: {exc}") from exc
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


def _approval_options(settings: Settings, auto_approve: bool, timeout: float | None) -> Settings:
    """Without a Prefect server of its own the run's API lives and dies with this process, so
    no reviewer can reach it: held items are held at once unless a timeout is asked for."""
    from prefect.settings import PREFECT_API_URL

    changes: dict[str, object] = {"auto_approve": True} if auto_approve else {}
    if timeout is not None:
        changes["approval_timeout_s"] = timeout
    elif not PREFECT_API_URL.value() and "approval_timeout_s" not in settings.model_fields_set:
        changes["approval_timeout_s"] = 0
        if not auto_approve:
            err.print(
                "no Prefect server configured (PREFECT_API_URL): items that need a reviewer "
                "are held, not waited for (--auto-approve approves them)"
            )
    return override(settings, **changes) if changes else settings


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
