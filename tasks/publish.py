"""Publication and the run-end callback.

An item is copied (server-side) from ``work/`` to ``published/<date>/<item-id>/``, data first and
``metadata.json`` last, so a reader never sees half an item. Publishing is idempotent by the
item's fingerprint (:mod:`wanflow.publication`): a rerun after a crash finds its own publication
and reuses it; nothing is published twice.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from tasks.manifest import _RETRIES, storage
from wanflow import keys
from wanflow.callback import CallbackResult, post, redact
from wanflow.publication import METADATA
from wanflow.report import Published
from wanflow.settings import get_settings
from wanflow.storage import ObjectNotFoundError, PreconditionFailedError


class AlreadyPublished(RuntimeError):
    """Another version of the item is published under its id that day."""


def published_files(day: date, item_id: str, names: list[str]) -> dict[str, str]:
    return {name: keys.published_key(day, item_id, name) for name in [*names, METADATA]}


def index_key(fingerprint: str) -> str:
    """Where a fingerprint's publication is recorded, whatever day it was published on: a rerun
    after midnight finds yesterday's publication instead of publishing again."""
    return keys.join(keys.WORK, "published", f"{fingerprint}.json")


@task(name="publish-item", timeout_seconds=900, **_RETRIES)
def publish_item(
    day: date, item_id: str, sources: dict[str, str], document: dict[str, Any]
) -> Published:
    """Copy ``sources`` (published name → work key) and write ``document`` as metadata.json."""
    settings, store, logger = get_settings(), storage(), get_run_logger()
    files = published_files(day, item_id, list(sources))
    meta_key, fingerprint = files[METADATA], document["fingerprint"]
    prefix = meta_key.rsplit("/", 1)[0] + "/"
    earlier = _read(store, index_key(fingerprint))
    if earlier is not None and earlier.get("metadata") != meta_key:
        found = _read(store, earlier["metadata"])
        if found is not None and found.get("fingerprint") == fingerprint:
            logger.info("%s: already published at %s (reused)", item_id, earlier["prefix"])
            at = datetime.fromisoformat(found["published_at"])
            return _published(
                store, earlier["prefix"], earlier["files"], fingerprint, at, reused=True
            )
    existing = _read(store, meta_key)
    if existing is not None and existing.get("fingerprint") == fingerprint:
        logger.info("%s: already published at %s (reused)", item_id, prefix)
        _record(store, fingerprint, prefix, meta_key, files, item_id)  # if a crash missed it
        at = datetime.fromisoformat(existing["published_at"])
        return _published(store, prefix, files, fingerprint, at, reused=True)
    if existing is not None:
        if not settings.republish:
            raise AlreadyPublished(
                f"{prefix} already holds another version of {item_id} (run "
                f"{existing.get('run_id')}, manifest {existing.get('manifest')}); give the item "
                "a new id, remove that publication, or set WANFLOW_REPUBLISH=true"
            )
        store.delete(meta_key)  # readers see it unpublished while the data changes, never a mix
        logger.warning("%s: replacing the version of run %s", item_id, existing.get("run_id"))
    for name, source in sources.items():
        store.copy(source, files[name])
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()
    try:
        store.put_bytes(meta_key, body, content_type="application/json", if_absent=True)
    except PreconditionFailedError:  # a racing run published first: same item, or refuse
        raced = _read(store, meta_key) or {}
        if raced.get("fingerprint") != fingerprint:
            raise AlreadyPublished(
                f"{prefix}: run {raced.get('run_id')} published another version meanwhile"
            ) from None
    at = datetime.fromisoformat(document["published_at"])
    _record(store, fingerprint, prefix, meta_key, files, item_id)
    logger.info("%s: published %d file(s) to %s", item_id, len(files), prefix)
    return _published(store, prefix, files, fingerprint, at, reused=False)


def _record(store, fingerprint, prefix, meta_key, files, item_id) -> None:
    record = {"prefix": prefix, "metadata": meta_key, "files": files, "item_id": item_id}
    store.put_bytes(index_key(fingerprint), json.dumps(record).encode())


def _read(store, key: str) -> dict | None:
    try:
        return json.loads(store.get_bytes(key))
    except ObjectNotFoundError:
        return None


def _published(store, prefix, files, fingerprint, at, *, reused: bool) -> Published:
    urls = {name: store.presigned_get(key) for name, key in files.items()}
    return Published(
        prefix=prefix, files=files, urls=urls, fingerprint=fingerprint, reused=reused, at=at
    )


@task(name="send-callback", timeout_seconds=600)
def send_callback(url: str, payload: dict[str, Any]) -> CallbackResult:
    """POST the run's outcome to the manifest's callback_url (retries inside: HTTP statuses
    decide, not exceptions); never fails the run."""
    settings, logger = get_settings(), get_run_logger()
    shown = redact(url)
    if settings.callback_secret is None:
        logger.warning("callback to %s not sent: WANFLOW_CALLBACK_SECRET is unset", shown)
        return CallbackResult(
            url=shown, delivered=False, error="not sent: WANFLOW_CALLBACK_SECRET is unset"
        )
    result = post(
        url,
        payload,
        settings.callback_secret.get_secret_value(),
        allow_hosts=settings.callback_allow_hosts,
        timeout_s=settings.callback_timeout_s,
        retries=settings.callback_retries,
    )
    if result.delivered:
        logger.info("callback delivered to %s (HTTP %s)", shown, result.status_code)
    else:
        logger.error("callback to %s failed after %d attempt(s): %s", shown, result.attempts,
                     result.error)  # fmt: skip
    return result


__all__ = ["AlreadyPublished", "publish_item", "published_files", "send_callback"]
