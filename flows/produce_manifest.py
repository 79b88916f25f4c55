"""``produce_manifest``: one manifest from ``incoming/`` to a run report, stage by stage.

Later stages (expand, screen, plan, narrate, generate, review, approve, compose, publish) join
this same flow between ingest and report.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.manifest import claim_manifest, finish_manifest, ingest_manifest, write_report
from wanflow import keys
from wanflow.readers import ManifestError
from wanflow.report import ItemOutcome, RunReport, new_run_id
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
        with _stage(report, "ingest"):
            ingested = ingest_manifest(claim.key)
        report.ingest = ingested.summary
        report.items = [
            ItemOutcome(id=i.id, title=i.title, status="accepted") for i in ingested.items
        ]
        if not ingested.items:
            report.status, report.error = "failed", "no valid items: every row was rejected"
        else:
            report.status = "succeeded"
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
