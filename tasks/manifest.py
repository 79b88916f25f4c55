"""Tasks that move a manifest through the bucket and read it: claim, ingest, report, finish."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from generation.catalogue import Catalogue, build_catalogue
from tasks.retry import RETRY_DELAYS, transient_only
from wanflow import keys
from wanflow.ingest import Ingested, ingest_with_settings
from wanflow.report import RunReport
from wanflow.settings import get_settings
from wanflow.storage import Claim, Storage

_RETRIES = {"retries": 3, "retry_delay_seconds": RETRY_DELAYS, "retry_condition_fn": transient_only}


def storage() -> Storage:
    return Storage.from_settings(get_settings())


@task(name="claim-manifest", timeout_seconds=120, **_RETRIES)
def claim_manifest(manifest_key: str, owner: str) -> Claim | None:
    """Claim ``incoming/…``; a key already in ``processing/`` is a claimed run being resumed."""
    store = storage()
    if manifest_key.startswith(keys.PROCESSING):
        info = store.stat(manifest_key)
        name = keys.manifest_name(manifest_key)
        return Claim(name=name, key=manifest_key, etag=info.etag, record="", owner=owner)
    claim = store.claim(manifest_key, owner)
    if claim is None:
        get_run_logger().warning("%s was claimed by another run or is gone", manifest_key)
    return claim


@task(name="ingest-manifest", timeout_seconds=900, cache_policy=NO_CACHE, **_RETRIES)
def ingest_manifest(processing_key: str, catalogue: Catalogue | None = None) -> Ingested:
    """Download the claimed manifest and validate every row (ManifestError if unreadable).

    Rows are also checked against ``catalogue`` (vocabulary and presets, the operator's included),
    so that a control value the prompt stage cannot use is a rejected row, not a failed item.
    """
    name = keys.manifest_name(processing_key)
    settings = get_settings()
    catalogue = catalogue or build_catalogue(settings)
    with tempfile.TemporaryDirectory(prefix="wanflow-ingest-") as tmp:
        path = storage().download(processing_key, Path(tmp) / Path(name).name)
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


@task(name="write-report", timeout_seconds=120, **_RETRIES)
def write_report(report: RunReport) -> str:
    key = report.key
    storage().put_bytes(
        key, report.model_dump_json(indent=2).encode(), content_type="application/json"
    )
    return key


def read_report(key: str) -> RunReport | None:
    """The report an earlier pass of the same run wrote (a suspended run re-runs from the top),
    or None."""
    store = storage()
    if not store.exists(key):
        return None
    return RunReport.model_validate_json(store.get_bytes(key))


@task(name="finish-manifest", timeout_seconds=120, **_RETRIES)
def finish_manifest(processing_key: str, succeeded: bool) -> str:
    """Move the manifest to ``processed/`` or ``failed/``; idempotent if already moved.

    An earlier upload of the same name filed there is kept: this one goes beside it."""
    state = keys.PROCESSED if succeeded else keys.FAILED
    store = storage()
    if store.exists(processing_key):
        return store.move_manifest(processing_key, state)
    return keys.manifest_key(state, keys.manifest_name(processing_key))
