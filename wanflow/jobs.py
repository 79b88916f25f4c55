"""The web API's resources, shared by the service (which returns them) and the SDK (which parses
them): a job is one manifest submitted over HTTP, its state, and each item's outcome.

A job is a manifest in ``incoming/`` like any other (the watcher, the daily run and the
service's own runner all take it from there), plus a record under ``jobs/`` saying who submitted
it and when. Its state is read from where the manifest is, the Prefect flow run that took it,
and the run report once one exists.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from wanflow import keys
from wanflow.ingest import Rejection

JOBS = "jobs/"
IDEMPOTENCY = "jobs/idempotency/"
# One empty marker per job under its submitter's name: a ``submit`` token lists its own jobs
# without reading every other submitter's records (a page costs what it returns).
BY_SUBMITTER = "jobs/by-submitter/"
API_MANIFESTS = "api/"  # under incoming/ (and the later manifest states)

JobState = Literal[
    "queued",  # waiting in incoming/
    "running",  # claimed; its run has not ended
    "cancelling",  # cancellation asked of a running flow run
    "succeeded",
    "failed",
    "cancelled",
]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
_JOB_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}$")


def new_job_id(now: datetime | None = None) -> str:
    """Sortable by submission time, unguessable in the rest."""
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def valid_job_id(job_id: str) -> bool:
    return isinstance(job_id, str) and bool(_JOB_ID.match(job_id))


def job_key(job_id: str) -> str:
    if not valid_job_id(job_id):
        raise keys.InvalidKeyError(f"{job_id!r} is not a job id")
    return keys.join(JOBS, f"{job_id}.json")


def submitter_key(submitted_by: str, job_id: str) -> str:
    return keys.join(BY_SUBMITTER, submitted_by, job_id)


def manifest_name(job_id: str, suffix: str = ".json") -> str:
    """The job's manifest name under each state prefix (``incoming/api/<id>.json``)."""
    return f"{API_MANIFESTS}{job_id}{suffix}"


# What a job's manifest may be sent as, and the file name suffix it is filed under.
MEDIA_TYPES = {
    "application/json": ".json",
    "text/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
}


class JobRecord(BaseModel):
    """What the service writes when it accepts a job (``jobs/<id>.json``)."""

    id: str
    created: datetime
    submitted_by: str = Field(description="the name of the token that submitted it")
    manifest_key: str = Field(description="where the manifest was queued (incoming/...)")
    body_sha256: str
    items: int = Field(description="valid items in the manifest")
    rejected_rows: int = 0
    cancelled: datetime | None = None
    cancelled_by: str | None = None


class PublishedFile(BaseModel):
    name: str
    key: str
    url: str = Field(description="a presigned GET link; it expires (WANFLOW_PRESIGN_EXPIRY_S)")


class JobItem(BaseModel):
    id: str
    title: str | None = None
    status: str = Field(description="the item's status in the run report (published, held, …)")
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    files: list[PublishedFile] = Field(default_factory=list, description="when published")


class Job(BaseModel):
    id: str
    state: JobState
    created: datetime
    submitted_by: str
    manifest_key: str = Field(description="where the manifest is now")
    items_total: int
    flow_run_id: str | None = None
    report_key: str | None = None
    error: str | None = None
    items: list[JobItem] = Field(
        default_factory=list, description="each item's outcome, once the run report exists"
    )
    rejected: list[Rejection] = Field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        return counts


class JobPage(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = Field(
        None, description="pass as ?cursor= for the next (older) page; null on the last"
    )


class Cancellation(BaseModel):
    action: Literal["removed", "cancelling", "none"] = Field(
        description="removed: the manifest left incoming/ before any run claimed it; "
        "cancelling: its flow run was asked to cancel; none: nothing was left to cancel"
    )
    message: str
    job: Job


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorDetail


__all__ = [
    "API_MANIFESTS",
    "IDEMPOTENCY",
    "JOBS",
    "MEDIA_TYPES",
    "TERMINAL",
    "Cancellation",
    "ErrorBody",
    "ErrorDetail",
    "Job",
    "JobItem",
    "JobPage",
    "JobRecord",
    "JobState",
    "PublishedFile",
    "job_key",
    "manifest_name",
    "new_job_id",
    "valid_job_id",
]
