"""``produce_manifest``: one manifest from ``incoming/`` to a run report, stage by stage.

claim → config → ingest → expand → screen → plan → narrate → generate → review → approve →
compose → publish → report (then the callback and the Prefect artifacts). Narration is spoken
before generation because its length sets each shot's frame count.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.approve import Answer, audit_entries, wait_for_decisions
from flows.generate_shots import ShotFailure, generate_shots
from generation.catalogue import Catalogue
from generation.clips import ClipRecord, jobs_for
from moderation import Screener
from moderation.approval import AuditEntry, PendingItem
from tasks.approve import append_audit
from tasks.artifacts import report_artifacts
from tasks.compose import compose_item
from tasks.manifest import (
    claim_manifest,
    finish_manifest,
    ingest_manifest,
    read_report,
    storage,
    write_report,
)
from tasks.narrate import narrate_item, retime
from tasks.prompts import (
    catalogue_for,
    expand_prompts,
    plan_shots,
    read_operator_config,
    screen_text,
    screener_for,
    write_plans,
)
from tasks.publish import publish_item, published_files, send_callback
from tasks.review import ItemReview, review_item
from wanflow import keys
from wanflow.ingest import Ingested
from wanflow.publication import fingerprint, metadata, sources
from wanflow.readers import ManifestError
from wanflow.report import (
    Approval,
    Block,
    Clip,
    Final,
    ItemOutcome,
    Review,
    RunReport,
    callback_payload,
    new_run_id,
)
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


def _started() -> datetime:
    """When the flow run first started: a suspended run re-runs from the top after resuming,
    and must find the same run id, work keys and report as before."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    start = context.flow_run.start_time if context and context.flow_run else None
    return start.astimezone(UTC) if start else datetime.now(UTC)


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
    started = _started()
    run_id = new_run_id(started, flow_run.get_id())
    report = RunReport(
        run_id=run_id,
        flow_run_id=flow_run.get_id(),
        manifest=keys.manifest_name(source),
        source_key=source,
        started_at=started,
        settings=get_settings().public_dict(),
    )
    _carry_earlier_passes(report)

    with _stage(report, "claim"):
        claim = claim_manifest(source, owner=f"flow-run/{report.flow_run_id or run_id}")
    if claim is None:
        report.status = "skipped"
        report.error = "claimed by another run, or no longer in incoming/"
        report.finished_at = datetime.now(UTC)
        return report

    callback_url: str | None = None
    try:
        with _stage(report, "config"):  # first: a bad operator file fails before any work
            config = read_operator_config()
            catalogue, screener = catalogue_for(config), screener_for(config)
        with _stage(report, "ingest"):
            ingested = ingest_manifest(claim.key, catalogue)
        report.ingest = ingested.summary
        if ingested.summary.options.callback_url:
            callback_url = str(ingested.summary.options.callback_url)
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
            _announce(report, callback_url)
        except Exception as secondary:  # keep the original error; the manifest stays claimed
            logger.error("could not file %s as failed: %s", claim.key, secondary)
        raise
    _file_and_report(report, claim.key)
    _announce(report, callback_url)
    logger.info("%s %s; report at %s", report.manifest, report.status, report.key)
    return report


def _carry_earlier_passes(report: RunReport) -> None:
    """A resumed suspended run re-runs from the top, its finished stages coming back from
    Prefect in no time: the report adds this pass's stage times to those of the passes before,
    which each wrote the report before they suspended."""
    earlier = read_report(report.key)
    if earlier is None or earlier.status != "running":
        return
    report.stages = dict(earlier.stages)
    report.passes = earlier.passes + 1


def _announce(report: RunReport, callback_url: str | None) -> None:
    """The run has ended: tell the manifest's callback (and record how that went in the
    report), then show the outcome as Prefect artifacts."""
    if callback_url:
        report.callback = send_callback(callback_url, callback_payload(report))
        write_report(report)
    report_artifacts(report)


def _item_stages(
    report: RunReport, ingested: Ingested, catalogue: Catalogue, screener: Screener
) -> None:
    """expand → screen → plan → narrate → generate → review → approve → compose → publish,
    item by item: every accepted item ends published, held for a person, rejected, blocked or
    failed."""
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
    for item_id, reason in plans.failed.items():
        outcomes[item_id].status, outcomes[item_id].reasons = "failed", [reason]
    items = {item.id: item for item in ingested.items}

    with _stage(report, "narrate"):
        settings = get_settings()
        for item_id, plan in list(plans.ok.items()):
            if not any(shot.narration for shot in plan.shots):
                continue
            item = items[item_id]
            try:
                narration = narrate_item(report.run_id, plan, item.voice, item.speech_rate)
            except Exception as exc:  # a voice that cannot speak fails its item only
                outcomes[item_id].status = "failed"
                outcomes[item_id].reasons = [f"narrate: {type(exc).__name__}: {exc}"]
                del plans.ok[item_id]
                continue
            outcomes[item_id].narration = narration
            plans.ok[item_id] = retime(plan, narration, settings)
        written = write_plans(report.run_id, list(plans.ok.values()))
    for item_id, plan in plans.ok.items():
        outcome = outcomes[item_id]
        outcome.status, outcome.plan_key = "planned", written[item_id]
        outcome.preset, outcome.shots = plan.params.preset, len(plan.shots)
        outcome.estimate_s = plan.estimate.total_s if plan.estimate else None
        outcome.warnings = plan.warnings

    with _stage(report, "generate"):
        jobs = [
            job
            for plan in plans.ok.values()
            for job in jobs_for(
                plan, continue_story=settings.continue_story, fast_cache=settings.fast_cache
            )
        ]
        results = _render(jobs) if jobs else []
    for result in results:
        outcome = outcomes[result.item_id]
        if isinstance(result, ShotFailure):
            outcome.status = "failed"
            outcome.reasons.append(f"generate shot {result.shot}: {result.error}")
        else:
            outcome.clips.append(Clip.model_validate(result.model_dump()))
            outcome.warnings += [f"shot {result.shot}: {w}" for w in result.warnings]
    for outcome in outcomes.values():
        if outcome.status == "planned" and outcome.clips:
            outcome.status = "generated"

    with _stage(report, "review"):
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

    with _stage(report, "approve"):
        _approve(report, items)

    with _stage(report, "compose"):
        for outcome in outcomes.values():
            if outcome.status not in ("reviewed", "approved") or outcome.id not in plans.ok:
                continue
            item = items[outcome.id]
            moods = [m for m in (item.emotion, *item.tags) if m]
            try:
                done = compose_item(
                    report.run_id,
                    plans.ok[outcome.id],
                    outcome.clips,
                    item.bgm,
                    moods,
                    narration=outcome.narration,
                    voice=item.voice,
                    rate=item.speech_rate,
                )
            except Exception as exc:  # one item's failure is recorded; the others go on
                outcome.status = "failed"
                outcome.reasons.append(f"compose: {type(exc).__name__}: {exc}")
                continue
            outcome.final = Final.model_validate(done.model_dump())
            outcome.status = "composed"

    with _stage(report, "publish"):
        day = report.started_at.astimezone(UTC).date()
        for outcome in outcomes.values():
            if outcome.status != "composed":
                continue
            try:
                found = sources(outcome)  # refuses anything unreviewed or unapproved
                plan = plans.ok[outcome.id].model_dump(mode="json")
                print_ = fingerprint(report.manifest, outcome, plan)
                files = published_files(day, outcome.id, list(found))
                document = metadata(
                    report, outcome, items[outcome.id], plan, files, datetime.now(UTC), print_
                )
                outcome.published = publish_item(day, outcome.id, found, document)
            except Exception as exc:  # one item's failure is recorded; the others go on
                outcome.status = "failed"
                outcome.reasons.append(f"publish: {type(exc).__name__}: {exc}")
                continue
            outcome.status = "published"


def _render(jobs: list) -> list:
    """The GPU stage: in this process, or as a run of the generate-shots deployment on the GPU
    pool (``WANFLOW_GPU_DEPLOYMENT``), one batch per manifest so the model loads once."""
    settings = get_settings()
    if not settings.gpu_deployment:
        return generate_shots(jobs)
    from prefect.deployments import run_deployment

    parameters = {"jobs": [job.model_dump(mode="json") for job in jobs]}
    run = run_deployment(
        settings.gpu_deployment,
        parameters=parameters,
        timeout=None,  # wait: the GPU pool may be busy with other manifests' batches
        as_subflow=True,
        # A suspended run re-runs from the top when resumed: the server hands back the batch
        # it already ran for these jobs (its result persisted) instead of starting another.
        idempotency_key=_batch_key(parameters),
    )
    state = run.state
    if state is None or not state.is_completed():
        name = state.name if state else "unknown"
        raise RuntimeError(f"{settings.gpu_deployment} run {run.id} ended {name}")
    results = state.result()
    return [_as_result(r) for r in results]


def _batch_key(parameters: dict) -> str:
    """One GPU batch per flow run and set of jobs: the same on every replay of this run, new
    for a new run of the same manifest (which may have other weights or settings)."""
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()
    return f"{flow_run.get_id()}:{digest[:16]}"


def _as_result(value):
    """Results come back as models when the worker's result serializer kept the types, as
    dicts from a JSON serializer."""
    if isinstance(value, ClipRecord | ShotFailure):
        return value
    if "error" in value:
        return ShotFailure.model_validate(value)
    return ClipRecord.model_validate(value)


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


def _approve(report: RunReport, items: dict) -> None:
    """Log the automatic decisions, then ask people about the held items (or approve them all
    where the operator said so) and log their answers; what nobody decides stays held."""
    settings = get_settings()
    base = {"run_id": report.run_id, "flow_run_id": report.flow_run_id, "manifest": report.manifest}
    day = report.started_at.astimezone(UTC).date()
    append_audit(report.run_id, day, _automatic_entries(report, base))
    held = [o for o in report.items if o.status == "held"]
    if not held:
        return
    if settings.auto_approve:
        answers, undecided = [_auto_answer(held)], []
    elif settings.approval_timeout_s <= 0:
        answers, undecided = [], [o.id for o in held]
    else:
        write_report(report)  # the bucket shows the run waiting, and why, while it waits
        pending = [_pending(o, items[o.id].prompt) for o in held]
        suspend = settings.approval_suspend and _can_suspend()
        answers, undecided = wait_for_decisions(
            report.run_id,
            report.manifest,
            pending,
            settings.approval_timeout_s,
            settings.approval_poll_s,
            suspend=suspend,
        )
    entries = audit_entries(answers, undecided, base, settings.approval_timeout_s)
    append_audit(report.run_id, day, entries)
    outcomes = {o.id: o for o in held}
    for entry in entries:
        _apply_decision(outcomes[entry.item_id], entry)


def _apply_decision(outcome: ItemOutcome, entry: AuditEntry) -> None:
    outcome.approval = Approval(
        decision=entry.decision, actor=entry.actor, at=entry.at, comment=entry.comment
    )
    note = f": {entry.comment}" if entry.comment else ""
    if entry.decision == "approve":
        outcome.status = "approved"
        outcome.reasons = [r for r in outcome.reasons if not r.startswith("awaiting ")]
        outcome.reasons.append(f"approved by {entry.actor}{note}")
    elif entry.decision == "reject":
        outcome.status = "rejected"
        outcome.reasons.append(f"rejected by {entry.actor}{note}")
    else:
        outcome.reasons += entry.reasons


def _automatic_entries(report: RunReport, base: dict) -> list[AuditEntry]:
    """Screening blocks and the review policy's verdicts, as audit entries."""
    entries = []
    for o in report.items:
        if o.blocked:
            entries.append(
                AuditEntry(
                    key=f"screen:{o.id}",
                    item_id=o.id,
                    stage="screen",
                    decision="block",
                    actor="wanflow/screen",
                    automatic=True,
                    reasons=o.reasons,
                    **base,
                )
            )
        if o.review:
            entries.append(
                AuditEntry(
                    key=f"review:{o.id}",
                    item_id=o.id,
                    stage="review",
                    decision=o.review.decision,
                    actor="wanflow/review-policy",
                    automatic=True,
                    reasons=o.review.reasons + o.review.failures
                    or [f"clean: {len(o.clips)} clip(s) reviewed"],
                    **base,
                )
            )
            if o.review.decision == "pass" and o.status == "held":
                entries.append(
                    AuditEntry(
                        key=f"review:{o.id}:require-approval",
                        item_id=o.id,
                        stage="review",
                        decision="hold",
                        actor="wanflow/manifest",
                        automatic=True,
                        reasons=["the item requires approval"],
                        **base,
                    )
                )
    return entries


def _pending(outcome: ItemOutcome, prompt: str) -> PendingItem:
    review = outcome.review
    return PendingItem(
        id=outcome.id,
        title=outcome.title,
        prompt=prompt,
        verdict="review" if review is None or review.decision != "pass" else "pass",
        reasons=[r for r in outcome.reasons if r.startswith("awaiting ")],
        scores=review.scores if review else {},
        sheet_url=review.sheet_url if review else None,
        clip_urls={clip.shot: storage().presigned_get(clip.key) for clip in outcome.clips},
    )


def _auto_answer(held: list[ItemOutcome]) -> Answer:
    return Answer(
        choices={o.id: "approve" for o in held},
        reviewer="wanflow/auto-approve",
        comment="WANFLOW_AUTO_APPROVE is set",
        automatic=True,
    )


def _can_suspend() -> bool:
    """A suspended run is re-run from the top by a worker: it needs a deployment, and results
    persisted so that the stages before are not run again."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return False
    if not context.persist_result:
        get_run_logger().warning(
            "results are not persisted: pausing (holding this process) instead of suspending"
        )
        return False
    return True


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
    filed = finish_manifest(processing_key, succeeded)
    if filed != report.manifest_key:  # filed beside an earlier upload of the same name
        report.manifest_key = filed
        write_report(report)
