"""The audit log as a task (:mod:`moderation.audit`): retried on transient storage faults, and
safe to retry because an entry already logged is never logged again."""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE

from moderation.approval import AuditEntry
from moderation.audit import append_entries
from tasks.common import RETRIES, storage
from wanflow.settings import Settings


@task(name="append-audit", timeout_seconds=120, cache_policy=NO_CACHE, **RETRIES)
def append_audit(run_id: str, day: date, entries: list[AuditEntry], settings: Settings) -> int:
    """Add the entries not logged yet; return how many were added."""
    return append_entries(storage(settings), run_id, day, entries)


__all__ = ["append_audit"]
