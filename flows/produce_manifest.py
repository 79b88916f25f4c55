"""``produce_manifest``: one manifest from ``incoming/`` to a run report.

claim → config → ingest → expand → screen → plan → narrate, for the manifest's items together
(narration is spoken before generation because its length sets each shot's frame count); then
shots go to the GPU fleet one by one, and each item, once its shots exist, goes on alone:
review → compose → publish, or hold for a person (``flows.items``); held items wait together,
and the approved ones publish; report (then the callback and the Prefect artifacts).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.held import approve_held
from flows.items import (
    Items,
    StageClock,
    carry_items,
    carry_on,
    carry_passes,
    conclude,
    publish,
    publishes,
    rendered,
)
from generation.catalogue import Catalogue
from generation.clips import ClipJob, jobs_for
from generation.plan import ShotPlan
from moderation import Screener
from postprocess.retime import retime
from tasks.artifacts import report_artifacts
from tasks.common import storage
from tasks.dispatch import Dispatcher, render_here
from tasks.manifest import (
    claim_manifest,
    finish_manifest,
    ingest_manifest,
    read_report,
    write_report,
)
from tasks.narrate import narrate_item
from tasks.prefect_runs import api_url, current_flow_run
from tasks.prompts import (
    catalogue_for,
    check_keyframes,
    expand_prompts,
    plan_shots,
    read_operator_config,
    screen_text,
    screener_for,
    write_plans,
)
from tasks.publish import send_callback
from wanflow import keys
from wanflow.ingest import Ingested
from wanflow.readers import ManifestError
from wanflow.report import (
    Block,
    ItemOutcome,
    RunReport,
    callback_payload,
    new_run_id,
)
from wanflow.settings import Settings, current_settings


def _incoming_key(manifest_key: str) -> str:
    """Accept ``incoming/x.csv``, ``processing/x.csv`` (resume), or a bare name ``x.csv``."""
    if any(manifest_key.startswith(p) for p in keys.MANIFEST_STATES):
        if manifest_key.startswith((keys.PROCESSED, keys.FAILED)):
            raise ValueError(
                f"{manifest_key} has already been processed; copy it to {keys.INCOMING} to run "
                "it again"
            )
        return keys.check_key(manifest_key, "manifest key")
    return keys.manifest_key(keys.INCOMING, manifest_key)


def _started() -> datetime:
    """When the flow run first started: a suspended run re-runs from the top after resuming,
    and must find the same run id, work keys and report as before."""
    run = current_flow_run()
    start = run.start_time if run is not None else None
    return start.astimezone(UTC) if start else datetime.now(UTC)


@flow(name="produce-manifest", flow_run_name="produce {manifest_key}", log_prints=True)
def produce_manifest(manifest_key: str) -> RunReport:
    """Claim a manifest, ingest it, report on every row, and file it as processed or failed."""
    logger = get_run_logger()
    settings = current_settings()  # read once; every stage gets it from here
    source = _incoming_key(manifest_key)
    started = _started()
    run_id = new_run_id(started, flow_run.get_id())
    report = RunReport(
        run_id=run_id,
        flow_run_id=flow_run.get_id(),
        manifest=keys.manifest_name(source),
        source_key=source,
        started_at=started,
        settings=settings.public_dict(),
    )
    carry_passes(report, read_report(report.key, settings))  # a resumed pass adds up
    clock = StageClock(report)

    with clock("claim"):
        claim = claim_manifest(
            source, owner=f"flow-run/{report.flow_run_id or run_id}", settings=settings
        )
    if claim is None:
        report.status = "skipped"
        report.error = "claimed by another run, or no longer in incoming/"
        report.finished_at = datetime.now(UTC)
        return report

    callback_url: str | None = None
    try:
        with clock("config"):  # first: a bad operator file fails before any work
            config = read_operator_config(settings)
            catalogue = catalogue_for(config, settings)
            screener = screener_for(config, settings)
        with clock("ingest"):
            ingested = ingest_manifest(claim.key, settings, catalogue)
        report.ingest = ingested.summary
        if ingested.summary.options.callback_url:
            callback_url = str(ingested.summary.options.callback_url)
        report.items = [
            ItemOutcome(id=i.id, title=i.title, status="accepted") for i in ingested.items
        ]
        if not ingested.items:
            report.status, report.error = "failed", "no valid items: every row was rejected"
        else:
            _item_stages(report, ingested, catalogue, screener, clock, settings)
            conclude(report)
    except ManifestError as exc:
        report.status, report.error = "failed", f"unreadable manifest: {exc}"
    except Exception as exc:
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        try:
            _file_and_report(report, claim.key, clock, settings)
            _announce(report, callback_url, settings)
        except Exception as secondary:  # keep the original error; the manifest stays claimed
            logger.error("could not file %s as failed: %s", claim.key, secondary)
        raise
    _file_and_report(report, claim.key, clock, settings)
    _announce(report, callback_url, settings)
    logger.info("%s %s; report at %s", report.manifest, report.status, report.key)
    return report


def _announce(report: RunReport, callback_url: str | None, settings: Settings) -> None:
    """The run has ended: tell the manifest's callback (and record how that went in the
    report), then show the outcome as Prefect artifacts."""
    if callback_url:
        report.callback = send_callback(callback_url, callback_payload(report), settings)
        write_report(report, settings)
    report_artifacts(report, settings)


def _item_stages(
    report: RunReport,
    ingested: Ingested,
    catalogue: Catalogue,
    screener: Screener,
    clock: StageClock,
    settings: Settings,
) -> None:
    """expand → screen → plan → narrate for the manifest's items together; then each item on
    its own as soon as its shots exist: review → compose → publish, or hold. Every accepted item
    ends published, held for a person, rejected, blocked or failed."""
    carried = carry_items(report, read_report(report.key, settings))
    fresh = [item for item in ingested.items if item.id not in carried]
    items = Items(report, {i.id: i for i in ingested.items}, {}, clock, settings)
    plans = _prepare(items, fresh, catalogue, screener) if fresh else {}
    jobs = [
        job
        for plan in plans.values()
        for job in jobs_for(
            plan, continue_story=settings.continue_story, fast_cache=settings.fast_cache
        )
    ]
    with ThreadPoolExecutor(settings.cpu_concurrency, thread_name_prefix="wanflow-item") as pool:
        chains = []
        with clock("generate"):
            priority = report.ingest.options.priority if report.ingest else "normal"
            for item_id, results in _render(jobs, settings, priority):
                outcome = items.outcomes[item_id]
                rendered(outcome, results)
                if outcome.status == "generated":  # its review starts while others render
                    chains.append(pool.submit(copy_context().run, carry_on, items, outcome))
        for chain in chains:
            chain.result()
    with clock("approve"):
        approve_held(report, items)
    for outcome in items.outcomes.values():
        if publishes(outcome):  # approved by a person (clean ones went out above)
            publish(items, outcome)


def _prepare(
    items: Items, fresh: list, catalogue: Catalogue, screener: Screener
) -> dict[str, ShotPlan]:
    """expand → screen → plan → narrate: each item's shots planned and timed by its narration."""
    report, outcomes = items.report, items.outcomes
    with items.clock("expand"):
        expanded = expand_prompts(fresh, catalogue)
    for item_id, reason in expanded.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]

    with items.clock("screen"):
        verdicts = screen_text(list(expanded.ok.values()), screener)
    for item_id, blocks in verdicts.items():
        if blocks:
            outcome = outcomes[item_id]
            outcome.status, outcome.blocked = "blocked", blocks
            outcome.reasons = _block_reasons(blocks)
    allowed = [e for e in expanded.ok.values() if not verdicts.get(e.item.id)]
    if any(e.item.images for e in allowed):
        allowed = _keyframes(items, allowed)

    with items.clock("plan"):
        budget = report.ingest.options.time_budget_s if report.ingest else None
        planned = plan_shots(allowed, catalogue, budget, items.settings)
    for item_id, reason in planned.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]
    with items.clock("narrate"):
        plans = {
            item_id: timed
            for item_id, plan in planned.ok.items()
            if (timed := _narrate(items, plan)) is not None
        }
        written = write_plans(report.run_id, list(plans.values()), items.settings)
    for item_id, plan in plans.items():
        outcome = outcomes[item_id]
        outcome.status, outcome.plan_key = "planned", written[item_id]
        outcome.preset, outcome.shots = plan.params.preset, len(plan.shots)
        outcome.estimate_s = plan.estimate.total_s if plan.estimate else None
        outcome.warnings = plan.warnings
    items.plans.update(plans)
    return plans


def _keyframes(items: Items, allowed: list) -> list:
    """The keyframe items' images fetched, read and judged before any GPU time: one unreadable
    or unsafe fails or blocks its item alone; one a person must see makes the item wait for
    approval. The items the check lets through, in order."""
    outcomes = items.outcomes
    with items.clock("keyframes"):
        checked = check_keyframes([e.item for e in allowed if e.item.images], items.settings)
    for item_id, reason in checked.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]
    for item_id, reasons in checked.blocked.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "blocked", reasons
    for item_id, reasons in checked.review.items():
        item = items.manifest_items[item_id]
        items.manifest_items[item_id] = item.model_copy(update={"require_approval": True})
        outcomes[item_id].reasons += [f"keyframes need a person: {r}" for r in reasons]
    stopped = checked.failed.keys() | checked.blocked.keys()
    return [e for e in allowed if e.item.id not in stopped]


def _narrate(items: Items, plan: ShotPlan) -> ShotPlan | None:
    """The item's narration spoken, and its shots timed by it; None when its voice failed (the
    item fails, alone)."""
    if not any(shot.narration for shot in plan.shots):
        return plan
    item, outcome = items.manifest_items[plan.item_id], items.outcomes[plan.item_id]
    try:
        narration = narrate_item(
            items.report.run_id, plan, item.voice, item.speech_rate, items.settings
        )
    except Exception as exc:  # a voice that cannot speak fails its item only
        outcome.status = "failed"
        outcome.reasons = [f"narrate: {type(exc).__name__}: {exc}"]
        return None
    outcome.narration = narration
    return retime(plan, narration, items.settings)


def _render(jobs: list[ClipJob], settings: Settings, priority: str) -> Iterator[tuple[str, list]]:
    """The GPU stage, shot by shot on the fleet (``tasks.dispatch``): a GPU worker inside this
    process (``WANFLOW_FLEET=local``) or the ``wanflow gpu-worker`` processes serving this
    Prefect server (``remote``). Each item comes back as soon as its shots are in."""
    if not jobs:
        return
    if not api_url():  # the ephemeral API serves no task workers
        yield from render_here(jobs, settings)
        return
    dispatcher = Dispatcher(jobs, settings, storage(settings), priority=priority)
    if settings.fleet == "remote":  # shots, their parameters and results travel by the bucket
        from wanflow.results import bucket_results

        with bucket_results(settings):
            yield from dispatcher.items()
        return
    from tasks.gpu_worker import local_worker

    with local_worker(settings):
        yield from dispatcher.items()


def _block_reasons(blocks: list[Block]) -> list[str]:
    """One line per term: "'屠杀' (violence) in prompt, expanded_prompt"."""
    fields: dict[tuple[str, str], list[str]] = {}
    for block in blocks:
        seen = fields.setdefault((block.term, block.category), [])
        if block.field not in seen:
            seen.append(block.field)
    return [f"{term!r} ({category}) in {', '.join(f)}" for (term, category), f in fields.items()]


def _file_and_report(
    report: RunReport, processing_key: str, clock: StageClock, settings: Settings
) -> None:
    """Report first, then move the manifest: a crash between them leaves it in processing/."""
    succeeded = report.status == "succeeded"
    report.manifest_key = keys.manifest_key(
        keys.PROCESSED if succeeded else keys.FAILED, report.manifest
    )
    report.finished_at = datetime.now(UTC)
    with clock("report"):
        write_report(report, settings)
    filed = finish_manifest(processing_key, succeeded, settings)
    if filed != report.manifest_key:  # filed beside an earlier upload of the same name
        report.manifest_key = filed
        write_report(report, settings)
