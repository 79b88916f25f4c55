"""``wanflow setup``: make a Prefect server ready for Wanflow's deployments; safe to run again.

Everything ``deployments/prefect.yaml`` and the workers rely on is made to match the settings:
the work pools, the ``gpu`` tag's concurrency limit, the Prefect variables the YAML reads its
schedule and pools from (``prefect.yaml`` cannot read ``wanflow.toml``, and its ``{{ $VAR }}``
placeholders have no defaults), and, when asked, the shared result storage deployed runs need.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path
from typing import Annotated, Any

import typer

from wanflow.console import fail, load_settings, out
from wanflow.settings import Settings

GPU_TAG = "gpu"
POOL_TYPE = "process"
RESULTS_BLOCK = "wanflow-results"
RESULTS_BLOCK_SLUG = f"local-file-system/{RESULTS_BLOCK}"


def variables(settings: Settings) -> dict[str, str]:
    """The Prefect variables ``deployments/prefect.yaml`` reads, by name."""
    return {
        "wanflow_schedule_cron": settings.schedule_cron,
        "wanflow_schedule_timezone": settings.schedule_timezone,
        "wanflow_cpu_pool": settings.cpu_pool,
        "wanflow_gpu_pool": settings.gpu_pool,
    }


def results_env() -> dict[str, str]:
    """What the pools give every flow run when result storage is set up: results persisted to
    the shared block, so that a suspended run resumes on any worker and a parent reads what a
    run on the other pool returned."""
    return {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK_SLUG,
    }


def setup(
    result_storage: Annotated[
        str | None,
        typer.Option(
            "--result-storage",
            metavar="DIR",
            help="Directory every worker mounts at the same path (NFS or the like): deployed "
            "runs persist their results there, which suspending for approval and the GPU "
            "deployment need.",
        ),
    ] = None,
) -> None:
    """Create or update the work pools, the gpu concurrency limit and the schedule variables on
    the Prefect server at PREFECT_API_URL; then run `prefect deploy`. Prints one line per
    object: created, updated or unchanged."""
    settings = load_settings()
    _api()
    _check_schedule(settings)
    results = _results_dir(result_storage)

    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    try:
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
            if problem is not None:
                raise fail(f"cannot reach the Prefect API at {url}: {problem}")
            if results is not None:  # first: the pools will name it
                _say(_results_block(results))
            env = results_env() if results else None
            for name in dict.fromkeys((settings.cpu_pool, settings.gpu_pool)):
                _say(_pool(client, name, env))
            _say(_gpu_limit(client, settings.gpu_count))
            for name, value in variables(settings).items():
                _say(_variable(client, name, value))
            if results is None:
                _say("result storage: not set up (no --result-storage)")
    except httpx.HTTPError as exc:
        raise fail(f"the Prefect API at {url} refused a change: {exc}") from exc


def _say(line: str) -> None:
    out.print(line, highlight=False)


def _api() -> None:
    """Without a server named, Prefect would set up a temporary one that no worker sees."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise fail(
            "set PREFECT_API_URL to the Prefect server the workers and deployments use "
            "(e.g. http://prefect.internal:4200/api)",
            2,
        )


def _check_schedule(settings: Settings) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=settings.schedule_cron, timezone=settings.schedule_timezone)
    except ValidationError as exc:
        problem = "; ".join(e["msg"] for e in exc.errors())
        raise fail(
            f"WANFLOW_SCHEDULE_CRON={settings.schedule_cron!r} with WANFLOW_SCHEDULE_TIMEZONE="
            f"{settings.schedule_timezone!r}: {problem}; expected a 5-field cron such as "
            "'0 2 * * *' and an IANA zone such as 'Asia/Shanghai'",
            2,
        ) from exc


def _results_dir(value: str | None) -> Path | None:
    if value is None:
        return None
    if "://" in value:
        raise fail(
            f"--result-storage {value}: only a directory is supported; object storage needs "
            "s3fs or prefect-aws, which requirements.lock does not install",
            2,
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise fail(
            f"--result-storage {value}: give an absolute path (workers resolve it in their "
            "own working directory)",
            2,
        )
    return path


def _results_block(path: Path) -> str:
    from prefect.filesystems import LocalFileSystem

    what = f"result storage {RESULTS_BLOCK_SLUG} ({path})"
    try:
        existing = LocalFileSystem.load(RESULTS_BLOCK)
    except ValueError:  # Prefect's way of saying "no such block"
        existing = None
    if existing is not None and existing.basepath == str(path):
        return f"{what}: unchanged"
    LocalFileSystem(basepath=str(path)).save(RESULTS_BLOCK, overwrite=True)
    return f"{what}: " + ("created" if existing is None else f"updated (was {existing.basepath})")


def _pool(client: Any, name: str, env: dict[str, str] | None) -> str:
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    what = f"work pool {name} ({POOL_TYPE})"
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        template = ProcessWorker.get_default_base_job_template()
        if env:
            _env_defaults(template).update(env)
        try:
            client.create_work_pool(
                WorkPoolCreate(name=name, type=POOL_TYPE, base_job_template=template)
            )
        except ObjectAlreadyExists:  # another setup won the race; check it next time
            return f"{what}: unchanged (created meanwhile by someone else)"
        return f"{what}: created"
    if pool.type != POOL_TYPE:
        return (
            f"work pool {name}: unchanged (its type is {pool.type}; Wanflow's images run "
            f"{POOL_TYPE} workers, so check its job template by hand)"
        )
    template = deepcopy(pool.base_job_template)
    current = _env_defaults(template)
    if not env or all(current.get(k) == v for k, v in env.items()):
        return f"{what}: unchanged"
    current.update(env)
    client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
    return f"{what}: updated (flow runs persist results to {RESULTS_BLOCK_SLUG})"


def _env_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The default environment of every flow run the pool starts, inside its job template."""
    env = template.setdefault("variables", {}).setdefault("properties", {}).setdefault("env", {})
    return env.setdefault("default", {})


def _gpu_limit(client: Any, count: int) -> str:
    from prefect.exceptions import ObjectNotFound

    what = f"concurrency limit for tag {GPU_TAG}"
    try:
        current = client.read_concurrency_limit_by_tag(GPU_TAG).concurrency_limit
    except ObjectNotFound:
        client.create_concurrency_limit(tag=GPU_TAG, concurrency_limit=count)
        return f"{what}: created ({count})"
    if current == count:
        return f"{what}: unchanged ({count})"
    client.create_concurrency_limit(tag=GPU_TAG, concurrency_limit=count)  # updates in place
    return f"{what}: updated ({current} → {count})"


def _variable(client: Any, name: str, value: str) -> str:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    what = f"variable {name} = {value!r}"
    existing = client.read_variable_by_name(name)
    if existing is None:
        client.create_variable(VariableCreate(name=name, value=value))
        return f"{what}: created"
    if existing.value == value:
        return f"{what}: unchanged"
    client.update_variable(VariableUpdate(name=name, value=value))
    return f"{what}: updated (was {existing.value!r})"
