"""Publication and the run-end callback.

An item is copied (server-side) from ``work/`` to ``published/<date>/<item-id>/`` by
:mod:`wanflow.publishing`: one version per item and day (decided before anything is written
there), data first and ``metadata.json`` last, so a reader never sees half an item or a mixture.
Publishing is idempotent by the item's fingerprint (:mod:`wanflow.publication`): a rerun after a
crash finds its own publication and reuses it; nothing is published twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from tasks.manifest import _RETRIES, storage
from wanflow.callback import CallbackResult, post, redact
from wanflow.publishing import AlreadyPublished, index_key, publish, published_files
from wanflow.report import Published
from wanflow.settings import get_settings


@task(name="publish-item", timeout_seconds=900, **_RETRIES)
def publish_item(
    day: date, item_id: str, sources: dict[str, str], document: dict[str, Any]
) -> Published:
    """Copy ``sources`` (published name → work key) and write ``document`` as metadata.json."""
    store = storage()
    prefix, files, at, reused = publish(
        store,
        day,
        item_id,
        sources,
        document,
        republish=get_settings().republish,
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


__all__ = ["AlreadyPublished", "index_key", "publish_item", "published_files", "send_callback"]
