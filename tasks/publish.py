"""Publication and the run-end callback as tasks.

Publishing (:mod:`wanflow.publishing`) copies an item server-side from ``work/`` to
``published/<date>/<item-id>/``, one version per item and day, data first and ``metadata.json``
last; it is idempotent by the item's fingerprint, so a retry or a rerun after a crash reuses
its own publication. The callback (:func:`wanflow.callback.deliver`) retries inside, by HTTP
status, and never fails the run.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from tasks.common import BY_INPUTS, RETRIES, storage
from wanflow.callback import CallbackResult, deliver
from wanflow.publishing import AlreadyPublished, index_key, publish, published_files
from wanflow.report import Published
from wanflow.settings import Settings


@task(name="publish-item", timeout_seconds=900, cache_policy=BY_INPUTS, **RETRIES)
def publish_item(
    day: date, item_id: str, sources: dict[str, str], document: dict[str, Any], settings: Settings
) -> Published:
    """Copy ``sources`` (published name → work key) and write ``document`` as metadata.json."""
    store = storage(settings)
    prefix, files, at, reused = publish(
        store,
        day,
        item_id,
        sources,
        document,
        republish=settings.republish,
        logger=get_run_logger(),
    )
    urls = {name: store.presigned_get(key) for name, key in files.items()}
    return Published(
        prefix=prefix,
        files=files,
        urls=urls,
        fingerprint=document["fingerprint"],
        reused=reused,
        at=at,
    )


@task(name="send-callback", timeout_seconds=600, cache_policy=BY_INPUTS)
def send_callback(url: str, payload: dict[str, Any], settings: Settings) -> CallbackResult:
    """POST the run's outcome to the manifest's callback_url."""
    return deliver(url, payload, settings, get_run_logger())


__all__ = ["AlreadyPublished", "index_key", "publish_item", "published_files", "send_callback"]
