"""Putting one item's files under ``published/<date>/<item-id>/``, atomically per item.

Two runs may finish different versions of one item id on the same day. Which of them publishes
is decided before anything is written under the published prefix, by the conditional create
(``If-None-Match: *``) of one decision record per item and day
(``work/publications/<date>/<item-id>.json``, naming the version's fingerprint): the server lets
exactly one create it, so only that run's files ever reach the prefix, and the other is refused
with nothing written there. A run of the *same* version (a rerun after a crash, or a race of
identical work) may go on: every file it copies is that version's. Replacing a version
(``WANFLOW_REPUBLISH``) is an operator's decision and overwrites the record; it is not meant to
race with another replacement.

Within the prefix the data goes first and ``metadata.json`` last, so a reader that finds the
metadata finds every file it names.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from wanflow import keys
from wanflow.publication import METADATA
from wanflow.storage import ObjectNotFoundError, PreconditionFailedError, Storage

log = logging.getLogger(__name__)


class AlreadyPublished(RuntimeError):
    """Another version of the item is published under its id that day; nothing was written."""


def published_files(day: date, item_id: str, names: list[str]) -> dict[str, str]:
    return {name: keys.published_key(day, item_id, name) for name in [*names, METADATA]}


def index_key(fingerprint: str) -> str:
    """Where a fingerprint's publication is recorded, whatever day it was published on: a rerun
    after midnight finds yesterday's publication instead of publishing again."""
    return keys.join(keys.WORK, "published", f"{fingerprint}.json")


def decision_key(day: date, item_id: str) -> str:
    """The record whose conditional create decides which version publishes an item that day."""
    return keys.join(
        keys.WORK, "publications", day.isoformat(), f"{keys.check_part(item_id, 'item id')}.json"
    )


def publish(
    store: Storage,
    day: date,
    item_id: str,
    sources: dict[str, str],
    document: dict[str, Any],
    *,
    republish: bool = False,
    logger: logging.Logger | logging.LoggerAdapter = log,
) -> tuple[str, dict[str, str], datetime, bool]:
    """Copy ``sources`` (published name → work key) and write ``document`` as metadata.json.

    Returns (prefix, files, published at, reused). Raises ``AlreadyPublished`` when another
    version holds the item's id that day, having written nothing under the published prefix.
    """
    files = published_files(day, item_id, list(sources))
    meta_key, fingerprint = files[METADATA], document["fingerprint"]
    prefix = meta_key.rsplit("/", 1)[0] + "/"
    earlier = _read(store, index_key(fingerprint))
    if earlier is not None and earlier.get("metadata") != meta_key:
        found = _read(store, earlier["metadata"])
        if found is not None and found.get("fingerprint") == fingerprint:
            logger.info("%s: already published at %s (reused)", item_id, earlier["prefix"])
            at = datetime.fromisoformat(found["published_at"])
            return earlier["prefix"], earlier["files"], at, True
    existing = _read(store, meta_key)
    if existing is not None and existing.get("fingerprint") == fingerprint:
        logger.info("%s: already published at %s (reused)", item_id, prefix)
        _index(store, fingerprint, prefix, meta_key, files, item_id)  # if a crash missed it
        return prefix, files, datetime.fromisoformat(existing["published_at"]), True
    if existing is not None and not republish:
        raise AlreadyPublished(
            f"{prefix} already holds another version of {item_id} (run "
            f"{existing.get('run_id')}, manifest {existing.get('manifest')}); give the item "
            f"a new id, remove that publication and {decision_key(day, item_id)}, or set "
            "WANFLOW_REPUBLISH=true"
        )
    _decide(store, day, item_id, document, republish=republish)
    if existing is not None:
        store.delete(meta_key)  # readers see it unpublished while the data changes, never a mix
        logger.warning("%s: replacing the version of run %s", item_id, existing.get("run_id"))
    for name, source in sources.items():
        store.copy(source, files[name])
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()
    try:
        store.put_bytes(meta_key, body, content_type="application/json", if_absent=True)
    except PreconditionFailedError:  # a run of the same version wrote it first
        raced = _read(store, meta_key) or {}
        if raced.get("fingerprint") != fingerprint:
            raise AlreadyPublished(
                f"{prefix}: run {raced.get('run_id')} published another version meanwhile"
            ) from None
    _index(store, fingerprint, prefix, meta_key, files, item_id)
    logger.info("%s: published %d file(s) to %s", item_id, len(files), prefix)
    return prefix, files, datetime.fromisoformat(document["published_at"]), False


def _decide(
    store: Storage, day: date, item_id: str, document: dict[str, Any], *, republish: bool
) -> None:
    """Win the item's decision record for this version, or raise ``AlreadyPublished``."""
    key = decision_key(day, item_id)
    mine = {
        "fingerprint": document["fingerprint"],
        "run_id": document.get("run_id"),
        "manifest": document.get("manifest"),
        "decided_at": datetime.now().astimezone().isoformat(),
    }
    body = json.dumps(mine, ensure_ascii=False).encode()
    try:
        store.put_bytes(key, body, content_type="application/json", if_absent=True)
        return
    except PreconditionFailedError:
        held = _read(store, key) or {}
    if held.get("fingerprint") == mine["fingerprint"]:
        return  # the same version: a rerun completing it, or identical work racing
    if not republish:
        raise AlreadyPublished(
            f"{item_id}: run {held.get('run_id')} (manifest {held.get('manifest')}) publishes "
            f"another version under published/{day.isoformat()}/{item_id}/; nothing of run "
            f"{mine['run_id']} was written there (give the item a new id, remove {key} if "
            "that publication was abandoned, or set WANFLOW_REPUBLISH=true to replace it)"
        )
    store.put_bytes(key, body, content_type="application/json")


def _index(store, fingerprint, prefix, meta_key, files, item_id) -> None:
    record = {"prefix": prefix, "metadata": meta_key, "files": files, "item_id": item_id}
    store.put_bytes(index_key(fingerprint), json.dumps(record).encode())


def _read(store: Storage, key: str) -> dict | None:
    try:
        return json.loads(store.get_bytes(key))
    except ObjectNotFoundError:
        return None


__all__ = ["AlreadyPublished", "decision_key", "index_key", "publish", "published_files"]
