"""``produce_manifest``: one manifest from ``incoming/`` to a run report, stage by stage.

claim → config → ingest → expand → screen → plan → generate → review → report. Later stages
(narrate, approve, compose, publish) join this same flow before report.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.generate_shots import ShotFailure, generate_shots
from generation.catalogue import Catalogue
from generation.clips import jobs_for
from moderation import Screener
from tasks.manifest import claim_manifest, finish_manifest, ingest_manifest, write_report
from tasks.prompts import (
    catalogue_for,
    expand_prompts,
    plan_shots,
    read_operator_config,
    screen_text,
    screener_for,
    write_plans,
)
from tasks.review import ItemReview, review_item
from wanflow import keys
from wanflow.ingest import Ingested
from wanflow.readers import ManifestError
from wanflow.report import Block, Clip, ItemOutcome, Review, RunReport, new_run_id
from wanflow.settings import get_settings


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


@contextmanager
def _stage(report: RunReport, name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        report.stages[name] = round(report.stages.get(name, 0.0) + time.perf_counter() - start, 4)


@flow(name="produce-manifest", flow_run_name="produce {manifest_key}", log_prints=True)
def produce_manifest(manifest_key: str) -> RunReport:
    """Claim a manifest, ingest it, report on every row, and file it as processed or failed."""
    logger = get_run_logger()
    source = _incoming_key(manifest_key)
    started = datetime.now(UTC)
    run_id = new_run_id(started, flow_run.get_id())
    report = RunReport(
        run_id=run_id,
        flow_run_id=flow_run.get_id(),
        manifest=keys.manifest_name(source),
        source_key=source,
        started_at=started,
        settings=get_settings().public_dict(),
    )

    with _stage(report, "claim"):
        claim = claim_manifest(source, owner=f"flow-run/{report.flow_run_id or run_id}")
    if claim is None:
        report.status = "skipped"
        report.error = "claimed by another run, or no longer in incoming/"
        report.finished_at = datetime.now(UTC)
        return report

    try:
        with _stage(report, "config"):  # first: a bad operator file fails before any work
            config = read_operator_config()
            catalogue, screener = catalogue_for(config), screener_for(config)
        with _stage(report, "ingest"):
            ingested = ingest_manifest(claim.key, catalogue)
        report.ingest = ingested.summary
        report.items = [
            ItemOutcome(id=i.id, title=i.title, status="accepted") for i in ingested.items
        ]
        if not ingested.items:
            report.status, report.error = "failed", "no valid items: every row was rejected"
        else:
            _item_stages(report, ingested, catalogue, screener)
            failed = all(item.status == "failed" for item in report.items)
            report.status = "failed" if failed else "succeeded"
            if failed:
                report.error = "every item failed; see each item's reasons"
    except ManifestError as exc:
        report.status, report.error = "failed", f"unreadable manifest: {exc}"
    except Exception as exc:
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
        try:
            _file_and_report(report, claim.key)
        except Exception as secondary:  # keep the original error; the manifest stays claimed
            logger.error("could not file %s as failed: %s", claim.key, secondary)
        raise
    _file_and_report(report, claim.key)
    logger.info("%s %s; report at %s", report.manifest, report.status, report.key)
    return report


def _item_stages(
    report: RunReport, ingested: Ingested, catalogue: Catalogue, screener: Screener
) -> None:
    """expand → screen → plan → generate → review, item by item: every accepted item ends
    reviewed, held for a person, blocked or failed."""
    outcomes = {item.id: item for item in report.items}
    with _stage(report, "expand"):
        expanded = expand_prompts(ingested.items, catalogue)
    for item_id, reason in expanded.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]

    with _stage(report, "screen"):
        verdicts = screen_text(list(expanded.ok.values()), screener)
    for item_id, blocks in verdicts.items():
        if blocks:
            outcome = outcomes[item_id]
            outcome.status, outcome.blocked = "blocked", blocks
            outcome.reasons = _block_reasons(blocks)
    allowed = [e for e in expanded.ok.values() if not verdicts.get(e.item.id)]

    with _stage(report, "plan"):
        budget = ingested.summary.options.time_budget_s
        plans = plan_shots(allowed, catalogue, budget)
        written = write_plans(report.run_id, list(plans.ok.values()))
    for item_id, reason in plans.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]
    for item_id, plan in plans.ok.items():
        outcome = outcomes[item_id]
        outcome.status, outcome.plan_key = "planned", written[item_id]
        outcome.preset, outcome.shots = plan.params.preset, len(plan.shots)
        outcome.estimate_s = plan.estimate.total_s if plan.estimate else None
        outcome.warnings = plan.warnings

    with _stage(report, "generate"):
        settings = get_settings()
        jobs = [
            job
            for plan in plans.ok.values()
            for job in jobs_for(
                plan, continue_story=settings.continue_story, fast_cache=settings.fast_cache
            )
        ]
        results = generate_shots(jobs) if jobs else []
    for result in results:
        outcome = outcomes[result.item_id]
        if isinstance(result, ShotFailure):
            outcome.status = "failed"
            outcome.reasons.append(f"generate shot {result.shot}: {result.error}")
        else:
            outcome.clips.append(Clip.model_validate(result.model_dump()))
    for outcome in outcomes.values():
        if outcome.status == "planned" and outcome.clips:
            outcome.status = "generated"

    with _stage(report, "review"):
        items = {item.id: item for item in ingested.items}
        for outcome in outcomes.values():
            if outcome.status != "generated":
                continue
            try:
                reviewed = review_item(report.run_id, outcome.id, outcome.title, outcome.clips)
            except Exception as exc:  # unreviewed is never passed: the item stops here
                outcome.status = "failed"
                outcome.reasons.append(f"review: {type(exc).__name__}: {exc}")
                continue
            _apply_review(outcome, reviewed, items[outcome.id].require_approval)


def _apply_review(outcome: ItemOutcome, reviewed: ItemReview, require_approval: bool) -> None:
    """Block, hold for a person, or pass; nothing that is not a clean pass goes further alone."""
    verdict = reviewed.verdict
    outcome.review = Review(
        decision=verdict.decision,
        reasons=verdict.reasons,
        scores=verdict.top_scores(),
        flagged_frames=len(verdict.flagged),
        failures=verdict.failures,
        sheet_key=reviewed.sheet_key,
        sheet_url=reviewed.sheet_url,
        thumbnail_key=reviewed.thumbnail_key,
        review_key=reviewed.review_key,
    )
    if verdict.decision == "block":
        outcome.status = "blocked"
        outcome.reasons += [f"review: {r}" for r in verdict.reasons]
    elif verdict.decision == "review":
        outcome.status = "held"
        outcome.reasons += [f"awaiting human review: {r}" for r in verdict.reasons]
    elif require_approval:
        outcome.status = "held"
        outcome.reasons.append("awaiting approval: the item requires it")
    else:
        outcome.status = "reviewed"


def _block_reasons(blocks: list[Block]) -> list[str]:
    """One line per term: "'屠杀' (violence) in prompt, expanded_prompt"."""
    fields: dict[tuple[str, str], list[str]] = {}
    for block in blocks:
        seen = fields.setdefault((block.term, block.category), [])
        if block.field not in seen:
            seen.append(block.field)
    return [f"{term!r} ({category}) in {', '.join(f)}" for (term, category), f in fields.items()]


def _file_and_report(report: RunReport, processing_key: str) -> None:
    """Report first, then move the manifest: a crash between them leaves it in processing/."""
    succeeded = report.status == "succeeded"
    report.manifest_key = keys.manifest_key(
        keys.PROCESSED if succeeded else keys.FAILED, report.manifest
    )
    report.finished_at = datetime.now(UTC)
    with _stage(report, "report"):
        write_report(report)
    finish_manifest(processing_key, succeeded)
