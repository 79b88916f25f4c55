"""Tasks that move a manifest through the bucket and read it: claim, ingest, report, finish."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from generation.catalogue import Catalogue, build_catalogue
from tasks.common import BY_INPUTS, RETRIES, storage
from wanflow import keys
from wanflow.ingest import Ingested, ingest_with_settings
from wanflow.report import RunReport
from wanflow.settings import Settings
from wanflow.storage import Claim


@task(name="claim-manifest", timeout_seconds=120, cache_policy=BY_INPUTS, **RETRIES)
def claim_manifest(manifest_key: str, owner: str, settings: Settings) -> Claim | None:
    """Claim ``incoming/…``; a key already in ``processing/`` is a claimed run being resumed."""
    store = storage(settings)
    if manifest_key.startswith(keys.PROCESSING):
        info = store.stat(manifest_key)
        name = keys.manifest_name(manifest_key)
        return Claim(name=name, key=manifest_key, etag=info.etag, record="", owner=owner)
    claim = store.claim(manifest_key, owner)
    if claim is None:
        get_run_logger().warning("%s was claimed by another run or is gone", manifest_key)
    return claim


@task(name="ingest-manifest", timeout_seconds=900, cache_policy=NO_CACHE, **RETRIES)
def ingest_manifest(
    processing_key: str, settings: Settings, catalogue: Catalogue | None = None
) -> Ingested:
    """Download the claimed manifest and validate every row (ManifestError if unreadable).

    Rows are also checked against ``catalogue`` (vocabulary and presets, the operator's included),
    so that a control value the prompt stage cannot use is a rejected row, not a failed item.
    """
    name = keys.manifest_name(processing_key)
    catalogue = catalogue or build_catalogue(settings)
    with tempfile.TemporaryDirectory(prefix="wanflow-ingest-") as tmp:
        path = storage(settings).download(processing_key, Path(tmp) / Path(name).name)
        result = ingest_with_settings(path, settings, check=catalogue.check_item)
    result.summary.source = processing_key
    logger = get_run_logger()
    logger.info(
        "%s: %d valid, %d rejected row(s), encoding %s, format %s",
        name,
        result.summary.valid,
        result.summary.rejected_rows,
        result.summary.encoding,
        result.summary.format,
    )
    return result


@task(name="write-report", timeout_seconds=120, cache_policy=BY_INPUTS, **RETRIES)
def write_report(report: RunReport, settings: Settings) -> str:
    key = report.key
    storage(settings).put_bytes(
        key, report.model_dump_json(indent=2).encode(), content_type="application/json"
    )
    return key


def read_report(key: str, settings: Settings) -> RunReport | None:
    """The report an earlier pass of the same run wrote (a suspended run re-runs from the top),
    or None."""
    store = storage(settings)
    if not store.exists(key):
        return None
    return RunReport.model_validate_json(store.get_bytes(key))


@task(name="finish-manifest", timeout_seconds=120, cache_policy=BY_INPUTS, **RETRIES)
def finish_manifest(processing_key: str, succeeded: bool, settings: Settings) -> str:
    """Move the manifest to ``processed/`` or ``failed/``; idempotent if already moved.

    An earlier upload of the same name filed there is kept: this one goes beside it."""
    state = keys.PROCESSED if succeeded else keys.FAILED
    store = storage(settings)
    if store.exists(processing_key):
        return store.move_manifest(processing_key, state)
    return keys.manifest_key(state, keys.manifest_name(processing_key))
