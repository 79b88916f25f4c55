"""``wanflow gpu-worker`` (a resident GPU worker of the fleet) and ``wanflow fleet`` (the
workers' records in the bucket)."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from cli.console import err, fail, load_settings, open_storage, out

_GPU = re.compile(r"[A-Za-z0-9][A-Za-z0-9,:-]{0,127}")  # indexes, or GPU-… / MIG-… UUIDs
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def gpu_worker(
    serve: Annotated[
        str, typer.Option(help="Model families whose shots it takes, comma-separated.")
    ] = "t2v,i2v,ti2v",
    gpu: Annotated[
        str | None,
        typer.Option(help="The GPU it renders on (sets CUDA_VISIBLE_DEVICES); default: all."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=16, help="Shots rendered at once.")] = 1,
    name: Annotated[
        str | None, typer.Option(help="Its record's name (default: HOST-gpuN-PID).")
    ] = None,
) -> None:
    """Render the shots runs dispatch to the Prefect server at PREFECT_API_URL, model resident.

    SIGTERM or Ctrl-C drains it: the shot in progress is finished, then it exits 0.
    """
    if gpu is not None:
        if not _GPU.fullmatch(gpu):
            raise fail(f"--gpu {gpu!r}: expected a GPU index (0), a list (0,1) or a GPU UUID", 2)
        if "torch" in sys.modules:  # CUDA reads the variable once, when torch initialises it
            raise fail("internal error: torch was imported before --gpu took effect", 1)
        # CUDA's setting, not Wanflow's: the CUDA runtime reads it only from the environment.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    if name is not None and not _NAME.fullmatch(name):
        raise fail(f"--name {name!r}: use letters, digits, '.', '_' and '-' (at most 128)", 2)
    from tasks.fleet import tasks_serving

    families = [f.strip() for f in serve.split(",") if f.strip()]
    try:
        tasks_serving(families or ["none"])
    except ValueError as exc:
        raise fail(f"--serve: {exc}", 2) from exc
    settings = load_settings()
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise fail(
            "no Prefect server: a GPU worker takes the shots runs dispatch to a Prefect server, "
            "so set PREFECT_API_URL to that server's API (e.g. export "
            "PREFECT_API_URL=http://HOST:4200/api, and PREFECT_API_AUTH_STRING if it demands "
            "one) or `prefect config set PREFECT_API_URL=...`",
            2,
        )

    from generation.pipelines import pick_device
    from tasks.gpu_worker import GpuWorker
    from wanflow.settings import settings_scope
    from wanflow.storage import StorageError

    store = open_storage(settings)
    _bucket_results(settings)
    try:
        device = _device_label(pick_device(settings.device))
    except RuntimeError as exc:
        raise fail(str(exc), 2) from exc

    def ready(worker: GpuWorker) -> None:
        out.print(
            f"ready: {worker.name} serves {','.join(worker.families)} on {device}, "
            f"{worker.limit} shot(s) at a time",
            highlight=False,
            markup=False,
        )

    try:
        worker = GpuWorker(
            families, limit=limit, name=name, settings=settings, store=store, on_ready=ready
        )
    except ValueError as exc:
        raise fail(f"--serve: {exc}", 2) from exc
    try:
        with settings_scope(settings):  # for the tasks it runs in this process
            worker.run(handle_signals=True)
    except StorageError as exc:
        raise fail(f"the bucket: {exc}") from exc
    except Exception as exc:
        raise fail(f"GPU worker {worker.name}: {type(exc).__name__}: {exc}") from exc
    final = worker.record()
    left = f"; {len(final.waiting)} received shot(s) left to the dispatcher" * bool(final.waiting)
    err.print(f"{worker.name} stopped after {final.shots} shot(s){left}", highlight=False)


def _bucket_results(settings) -> None:
    """Prefect's results and the shots' parameters in the bucket, for this whole process: the
    runs that dispatch shots keep theirs there too, and no directory is shared between hosts."""
    from wanflow.results import use_bucket_results

    try:
        use_bucket_results(settings)
    except ValueError as exc:  # no S3 endpoint every host reaches
        raise fail(str(exc), 2) from exc
    except Exception as exc:  # the Prefect API refused or is not there
        raise fail(
            f"could not set up Prefect's result storage in the bucket on the Prefect server at "
            f"PREFECT_API_URL: {type(exc).__name__}: {exc}"
        ) from exc


def _device_label(device: str) -> str:
    if device != "cuda":
        return device
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})"


def fleet(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """The GPU workers that have written a record in the bucket (stopped ones too).

    Age is how long ago a record was written by the worker's clock, as read by this one: a
    worker that is alive rewrites its record every WANFLOW_WORKER_HEARTBEAT_S.
    """
    from rich.markup import escape
    from rich.table import Table

    from wanflow.fleet import WORKERS, read_beats
    from wanflow.storage import StorageError

    settings = load_settings()
    store = open_storage(settings)
    try:
        beats = sorted(read_beats(store), key=lambda b: (b.host, b.worker))
    except StorageError as exc:
        raise fail(str(exc)) from exc
    now = datetime.now(UTC)
    ages = {b.worker: max(0.0, (now - b.updated_at).total_seconds()) for b in beats}
    if as_json:
        rows = [{**b.model_dump(mode="json"), "age_s": round(ages[b.worker], 1)} for b in beats]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not beats:
        err.print(f"no GPU worker has written a record under {store.uri(WORKERS)}", highlight=False)
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    table.add_column("worker", overflow="fold")
    table.add_column("serves", overflow="fold")
    table.add_column("resident", overflow="fold")
    for column in ("run", "wait", "shots"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("loads", overflow="fold")
    table.add_column("busy", justify="right", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for b in beats:
        age = ages[b.worker]
        state = "stopped" if b.stopping else ("stale?" if age > settings.worker_stale_s else "up")
        table.add_row(
            escape(b.worker),
            escape(",".join(b.serves)),
            escape(",".join(b.resident)) or "-",
            str(len(b.running)),
            str(len(b.waiting)),
            str(b.shots),
            escape(", ".join(f"{m}×{n}" for m, n in sorted(b.loads.items()))) or "-",
            f"{b.busy_s:.0f}s",
            f"{age:.0f}s",
            state,
        )
    out.print(table)
