"""The audit log: every decision about an item (screening, the review policy, reviewers) is
appended to ``reports/audit/<date>/<run-id>.jsonl``.

S3 cannot append, so the log is read and written back whole; a run's flow is the only writer of
its log. Entries carry a key that is the same when a step is replayed (a retry, a re-run after
a suspension), so a decision is logged once however often it is replayed.
"""

from __future__ import annotations

from datetime import date

from moderation.approval import AuditEntry
from wanflow import keys
from wanflow.storage import ObjectNotFoundError, Storage


def append_entries(store: Storage, run_id: str, day: date, entries: list[AuditEntry]) -> int:
    """Add the entries not logged yet; return how many were added."""
    key = keys.audit_key(run_id, day)
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


def read_entries(store: Storage, run_id: str, day: date) -> list[AuditEntry]:
    try:
        text = store.get_bytes(keys.audit_key(run_id, day)).decode()
    except ObjectNotFoundError:
        return []
    return [AuditEntry.model_validate_json(line) for line in text.splitlines() if line.strip()]


__all__ = ["append_entries", "read_entries"]
