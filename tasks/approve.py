"""The audit log: every decision about an item (screening, the review policy, reviewers) is
appended to ``reports/audit/<date>/<run-id>.jsonl``.

S3 cannot append, so the task reads the log and writes it back whole; the flow is the only
writer of its run's log. Entries carry a key that is the same when a step is replayed (a retry,
a re-run after a suspension), so a decision is logged once however often it is replayed.
"""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE

from moderation.approval import AuditEntry
from tasks.manifest import _RETRIES, storage
from wanflow import keys
from wanflow.storage import ObjectNotFoundError


@task(name="append-audit", timeout_seconds=120, cache_policy=NO_CACHE, **_RETRIES)
def append_audit(run_id: str, day: date, entries: list[AuditEntry]) -> int:
    """Add the entries not logged yet; return how many were added."""
    key = keys.audit_key(run_id, day)
    store = storage()
    try:
        existing = store.get_bytes(key).decode().splitlines()
    except ObjectNotFoundError:
        existing = []
    logged = {AuditEntry.model_validate_json(line).key for line in existing if line.strip()}
    new = [e for e in entries if e.key not in logged]
    if new:
        lines = existing + [e.model_dump_json() for e in new]
        data = ("\n".join(lines) + "\n").encode()
        store.put_bytes(key, data, content_type="application/x-ndjson")
    return len(new)


def read_audit(run_id: str, day: date) -> list[AuditEntry]:
    try:
        text = storage().get_bytes(keys.audit_key(run_id, day)).decode()
    except ObjectNotFoundError:
        return []
    return [AuditEntry.model_validate_json(line) for line in text.splitlines() if line.strip()]
