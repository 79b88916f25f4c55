"""``watch_incoming`` and ``daily_content``: the two ways deployed Wanflow picks up manifests.

The watcher claims each manifest waiting in ``incoming/`` and hands it to a ``produce-manifest``
run of its own on a worker, so a manifest's hours of rendering never hold the next tick. The
daily run works through the manifests in its own process, one after another. Both rely on the
claim: of any number of watchers, daily runs and manual runs racing for a manifest, exactly one
gets it, and the others leave it alone.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from flows.produce_manifest import produce_manifest
from tasks.common import RETRIES, storage
from tasks.manifest import claim_manifest
from tasks.retry import RETRY_DELAYS
from wanflow import keys
from wanflow.settings import Settings, current_settings
from wanflow.storage import Claim

PRODUCE_DEPLOYMENT = "produce-manifest/produce-manifest"


class Started(BaseModel):
    manifest_key: str = Field(description="the claimed manifest, under processing/")
    flow_run_id: str


class WatchSummary(BaseModel):
    started: list[Started] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="incoming/ keys another claimant took first"
    )
    failed: dict[str, str] = Field(
        default_factory=dict,
        description="key → why it was not started; a processing/ key stays claimed, for a "
        "person to start (the log has the command)",
    )
    left: int = Field(0, description="manifests left for the next tick (beyond the limit)")
    resumed: list[str] = Field(
        default_factory=list,
        description="suspended runs past their approval deadline, resumed to hold their items",
    )


class Produced(BaseModel):
    status: str = Field(description="the run report's status, or 'error' if the run raised")
    error: str | None = None
    report_key: str | None = None
    flow_run_id: str | None = None


class DailySummary(BaseModel):
    manifests: dict[str, Produced] = Field(
        default_factory=dict, description="incoming/ key → what became of it, in run order"
    )


@task(name="list-incoming", timeout_seconds=300, cache_policy=NO_CACHE, **RETRIES)
def list_incoming(settings: Settings) -> list[str]:
    """Manifests waiting in ``incoming/``, oldest upload first (so none waits forever behind a
    stream of newer ones); folder markers are not manifests."""
    found = [o for o in storage(settings).list(keys.INCOMING) if not o.key.endswith("/")]
    found.sort(key=lambda o: (o.last_modified is None, o.last_modified, o.key))
    return [o.key for o in found]


def _api_unavailable(task, task_run, state) -> bool:
    """Retry a start only when the API could not answer; a missing deployment stays missing.
    Retrying is safe: the claim's idempotency key makes the server return the first run."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return False
    if isinstance(exc, PrefectHTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError | TimeoutError)


@task(name="resume-overdue-approvals", timeout_seconds=300, cache_policy=NO_CACHE)
def resume_overdue_approvals() -> list[str]:
    """Suspended runs whose approval deadline passed are resumed, so they hold the undecided
    items and file their manifest instead of being failed by Prefect with it in processing/."""
    from flows.approve import resume_overdue

    return resume_overdue()


@task(
    name="start-production",
    timeout_seconds=120,
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=_api_unavailable,
)
def start_production(claim: Claim, deployment: str) -> str:
    """Create the manifest's ``produce-manifest`` run and return its id, without waiting.

    The run is not a child of the watcher's: it outlives the tick, and cancelling a tick must
    not cancel it.
    """
    from prefect.deployments import run_deployment

    run = run_deployment(
        name=deployment,
        parameters={"manifest_key": claim.key},
        timeout=0,
        idempotency_key=f"wanflow-claim:{claim.record or claim.key}",
        as_subflow=False,
    )
    return str(run.id)


@flow(name="watch-incoming", log_prints=True)
def watch_incoming(deployment: str = PRODUCE_DEPLOYMENT, limit: int | None = None) -> WatchSummary:
    """Claim manifests waiting in ``incoming/`` and start a ``deployment`` run for each one won.

    ``limit`` (default ``WANFLOW_WATCH_LIMIT``) caps the runs one tick starts. A manifest whose
    run cannot be started stays claimed in ``processing/``: it is never handed back, because a
    run that was created after all would then meet a second one.
    """
    logger = get_run_logger()
    settings = current_settings()
    limit = _check_limit(limit) or settings.watch_limit
    owner = f"watch-incoming/{flow_run.get_id()}"
    summary = WatchSummary()
    try:
        summary.resumed = resume_overdue_approvals()
    except Exception as exc:  # the sweep must never keep new manifests from starting
        logger.error("could not resume overdue approvals: %s", exc)
    waiting = list_incoming(settings)
    for done, key in enumerate(waiting):
        if len(summary.started) + len(summary.failed) >= limit:
            summary.left = len(waiting) - done
            break
        try:
            claim = claim_manifest(key, owner=owner, settings=settings)
        except Exception as exc:  # this manifest only: one bad key must not block the rest
            summary.failed[key] = f"claim: {type(exc).__name__}: {exc}"
            logger.error("could not claim %s: %s", key, summary.failed[key])
            continue
        if claim is None:
            summary.skipped.append(key)
            continue
        try:
            run_id = start_production(claim, deployment)
        except Exception as exc:
            summary.failed[claim.key] = f"start: {type(exc).__name__}: {exc}"
            logger.error(
                "%s is claimed but its run did not start (%s); it stays in %s. Start it with: "
                "prefect deployment run '%s' --param manifest_key=%s",
                keys.manifest_name(claim.key),
                summary.failed[claim.key],
                keys.PROCESSING,
                deployment,
                claim.key,
            )
            continue
        summary.started.append(Started(manifest_key=claim.key, flow_run_id=run_id))
        logger.info("%s: started flow run %s", claim.key, run_id)
    logger.info(
        "started %d, skipped %d, failed %d, left for later %d, overdue approvals resumed %d",
        len(summary.started),
        len(summary.skipped),
        len(summary.failed),
        summary.left,
        len(summary.resumed),
    )
    return summary


@flow(name="daily-content", log_prints=True)
def daily_content(limit: int | None = None, deployment: str | None = None) -> DailySummary:
    """Produce every manifest waiting in ``incoming/`` (at most ``limit``).

    Deployed (``deployment`` names the produce-manifest deployment, as prefect.yaml does), each
    manifest is claimed and handed to a run of its own, as the watcher does: a run waiting for
    approval suspends without holding up the others. Without it (local use), each is a
    ``produce-manifest`` subflow, one after another; one claimed meanwhile by another run comes
    back ``skipped``, and a manifest whose run raises is recorded as ``error``.
    """
    logger = get_run_logger()
    limit = _check_limit(limit)
    waiting = list_incoming(current_settings())
    summary = DailySummary()
    if deployment:
        started = watch_incoming(deployment=deployment, limit=limit or len(waiting) or 1)
        for run in started.started:
            summary.manifests[run.manifest_key] = Produced(
                status="started", flow_run_id=run.flow_run_id
            )
        for key, error in started.failed.items():
            summary.manifests[key] = Produced(status="error", error=error)
        for key in started.skipped:
            summary.manifests[key] = Produced(status="skipped")
    else:
        for key in waiting[:limit]:
            summary.manifests[key] = _produce(key, logger)
    counts: dict[str, int] = {}
    for outcome in summary.manifests.values():
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    logger.info("%d manifest(s): %s", len(summary.manifests), counts or "none waiting")
    return summary


def _produce(key: str, logger) -> Produced:
    try:
        report = produce_manifest(manifest_key=key)
    except Exception as exc:
        outcome = Produced(status="error", error=f"{type(exc).__name__}: {exc}")
        logger.error("%s: %s", key, outcome.error)
        return outcome
    return Produced(
        status=report.status,
        error=report.error,
        report_key=None if report.status == "skipped" else report.key,
        flow_run_id=report.flow_run_id,
    )


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, or unset for the default; got {limit}")
    return limit
