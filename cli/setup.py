"""``wanflow setup``: make a Prefect server ready for Wanflow's deployments; safe to run again.

Everything ``deployments/prefect.yaml``, the pool workers and the GPU workers rely on is made to
match the settings: the block that keeps Prefect's results in the bucket, the work pool (whose
flow runs persist their results there and send their shots to the GPU fleet), and the Prefect
variables the YAML reads its schedule and pool from
(``prefect.yaml`` cannot read ``wanflow.toml``, and its ``{{ $VAR }}`` placeholders have no
defaults).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from cli.console import fail, load_settings, out
from wanflow import results
from wanflow.settings import Settings

POOL_TYPE = "process"


def variables(settings: Settings) -> dict[str, str]:
    """The Prefect variables ``deployments/prefect.yaml`` reads, by name."""
    return {
        "wanflow_schedule_cron": settings.schedule_cron,
        "wanflow_schedule_timezone": settings.schedule_timezone,
        "wanflow_cpu_pool": settings.cpu_pool,
    }


def pool_env() -> dict[str, str]:
    """What the pool gives every flow run: results and background-task parameters in the
    bucket (so that a suspended run resumes on any worker and GPU workers on other hosts read
    what a run sends them), and shots rendered by the ``wanflow gpu-worker`` fleet."""
    return results.results_env() | {"WANFLOW_FLEET": "remote"}


def setup() -> None:
    """Create or update Prefect's result storage in the bucket, the work pool and the
    schedule variables on the Prefect server at PREFECT_API_URL; then
    run `prefect deploy`. Prints one line per object: created, updated or unchanged."""
    settings = load_settings()
    _api()
    _check_schedule(settings)
    _check_endpoint(settings)

    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    try:
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
            if problem is not None:
                raise fail(f"cannot reach the Prefect API at {url}: {problem}")
            # First: the pool names it.
            where = results.results_basepath(settings)
            outcome = results.ensure_results_block(settings)
            _say(f"result storage {results.RESULTS_BLOCK_SLUG} ({where}): {outcome}")
            _say(_pool(client, settings.cpu_pool, pool_env()))
            for name, value in variables(settings).items():
                _say(_variable(client, name, value))
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


def _check_endpoint(settings: Settings) -> None:
    """Workers on other hosts cannot reach the local S3 server `wanflow run` starts."""
    if not settings.s3_endpoint:
        raise fail(
            "set WANFLOW_S3_ENDPOINT to the S3 server every host reaches (host:port): Prefect's "
            "results and everything the GPU workers exchange live in its bucket "
            f"({settings.s3_bucket}, WANFLOW_S3_BUCKET)",
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


def _pool(client: Any, name: str, env: dict[str, str]) -> str:
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    what = f"work pool {name} ({POOL_TYPE})"
    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        template = ProcessWorker.get_default_base_job_template()
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
    changed = ", ".join(f"{k}={v}" for k, v in env.items() if current.get(k) != v)
    if not changed:
        return f"{what}: unchanged"
    current.update(env)
    client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
    return f"{what}: updated (flow runs get {changed})"


def _env_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """The default environment of every flow run the pool starts, inside its job template."""
    env = template.setdefault("variables", {}).setdefault("properties", {}).setdefault("env", {})
    return env.setdefault("default", {})


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
