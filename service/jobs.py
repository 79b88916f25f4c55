"""Jobs over the bucket: accepting a manifest (validated as ``wanflow validate`` does), and
reading a job's state back from where its manifest is, the flow run that took it, and the run
report. Everything a job is lives in the bucket, so any number of service processes agree."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.errors import ApiError
from tasks.prefect_runs import FlowRunInfo, cancel_flow_run, find_flow_runs
from wanflow import keys
from wanflow.errors import ObjectNotFoundError, PreconditionFailedError
from wanflow.ingest import ingest_with_settings
from wanflow.jobs import (
    BY_SUBMITTER,
    IDEMPOTENCY,
    JOBS,
    Cancellation,
    Job,
    JobItem,
    JobPage,
    JobRecord,
    PublishedFile,
    job_key,
    manifest_name,
    new_job_id,
    submitter_key,
    valid_job_id,
)
from wanflow.readers import ManifestError
from wanflow.report import RunReport, new_run_id
from wanflow.settings import Settings

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, settings: Settings, storage: Any, check: Callable | None = None):
        self.settings, self.storage, self.check = settings, storage, check

    # --- submitting ---------------------------------------------------------------------------
    def submit(
        self, body: bytes, submitted_by: str, idempotency_key: str | None, suffix: str = ".json"
    ) -> tuple[Job, bool]:
        """The job for ``body`` (a manifest file's bytes, of the format ``suffix`` names) and
        whether it is new (False: an idempotent replay of an earlier request)."""
        digest = hashlib.sha256(body).hexdigest()
        job_id = new_job_id()
        idem_key = None
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 255:
                raise ApiError(400, "bad_request", "Idempotency-Key must be 1-255 characters")
            scoped = hashlib.sha256(f"{submitted_by}\n{idempotency_key}".encode()).hexdigest()
            idem_key = keys.join(IDEMPOTENCY, f"{scoped}.json")
            earlier = self._read_json(idem_key)
            if earlier is not None:
                return self._replay(earlier, digest), False
        summary = self._validate(body, suffix)
        if idem_key is not None:
            record = json.dumps({"job": job_id, "body_sha256": digest}).encode()
            try:
                self.storage.put_bytes(idem_key, record, if_absent=True)
            except PreconditionFailedError:  # a concurrent request with the key won
                return self._replay(self._read_json(idem_key) or {}, digest), False
        record = JobRecord(
            id=job_id,
            created=datetime.now(UTC),
            submitted_by=submitted_by,
            manifest_key=keys.manifest_key(keys.INCOMING, manifest_name(job_id, suffix)),
            body_sha256=digest,
            items=summary.valid,
            rejected_rows=summary.rejected_rows,
        )
        self.storage.put_bytes(submitter_key(submitted_by, job_id), b"", if_absent=True)
        self.storage.put_bytes(job_key(job_id), record.model_dump_json().encode(), if_absent=True)
        self.storage.put_bytes(
            record.manifest_key,
            body,
            metadata={"submitted-by": f"api:{submitted_by}", "wanflow-job": job_id},
            if_absent=True,
        )
        log.info("job %s accepted from %s: %d items", job_id, submitted_by, summary.valid)
        return self.job(record), True

    def _replay(self, earlier: dict, digest: str) -> Job:
        if earlier.get("body_sha256") != digest:
            raise ApiError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was used with a different body",
                {"job_id": earlier.get("job")},
            )
        record = self.record(str(earlier.get("job")))
        if record is None:  # the first request stopped between its two writes
            raise ApiError(
                409,
                "idempotency_conflict",
                "the first request with this key is still in progress, or failed; retry later "
                "or use another key",
            )
        return self.job(record)

    def _validate(self, body: bytes, suffix: str):
        items = None
        if suffix == ".json":
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise ApiError(422, "unreadable_manifest", f"the body is not JSON: {exc}") from None
            items = parsed.get("items") if isinstance(parsed, dict) else parsed
        if isinstance(items, list) and len(items) > self.settings.max_items:
            raise ApiError(
                413,
                "too_many_items",
                f"{len(items)} items; at most {self.settings.max_items} per job",
                {"items": len(items), "limit": self.settings.max_items},
            )
        with tempfile.TemporaryDirectory(prefix="wanflow-job-") as folder:
            path = Path(folder) / f"manifest{suffix}"
            path.write_bytes(body)
            try:
                result = ingest_with_settings(
                    path, self.settings, keep_items=False, check=self.check
                )
            except ManifestError as exc:
                details = {"line": exc.line, "column": exc.column}
                raise ApiError(422, "unreadable_manifest", str(exc), details) from None
        summary = result.summary
        if summary.rejected_rows or not summary.valid:
            message = (
                f"{summary.rejected_rows} of {summary.rows} rows are invalid"
                if summary.rejected_rows
                else "the manifest has no items"
            )
            raise ApiError(422, "invalid_rows", message, summary.as_validation())
        return summary

    # --- reading ------------------------------------------------------------------------------
    def record(self, job_id: str) -> JobRecord | None:
        if not valid_job_id(job_id):
            return None
        data = self._read_json(job_key(job_id))
        return JobRecord.model_validate(data) if data is not None else None

    def visible(self, job_id: str, token) -> JobRecord:
        """The job's record if this token may see it; 404 otherwise (ids of others' jobs tell
        nothing)."""
        record = self.record(job_id)
        if record is None or (token.scope == "submit" and record.submitted_by != token.name):
            raise ApiError(404, "not_found", f"no job {job_id!r}")
        return record

    def page(self, token, limit: int, cursor: str | None) -> JobPage:
        """Newest first; ``cursor`` is the last id of the previous page. A ``submit`` token's
        page comes from its own index, so it reads no other submitter's records."""
        if token.scope == "submit":
            prefix = keys.join(BY_SUBMITTER, token.name) + "/"
            listed = (o.key[len(prefix) :] for o in self.storage.list(prefix, recursive=False))
        else:
            listed = (
                o.key[len(JOBS) : -len(".json")]
                for o in self.storage.list(JOBS, recursive=False)
                if o.key.endswith(".json")
            )
        ids = sorted(
            (i for i in listed if valid_job_id(i) and (cursor is None or i < cursor)),
            reverse=True,
        )
        found: list[Job] = []
        for job_id in ids:
            record = self.record(job_id)
            if record is None or (token.scope == "submit" and record.submitted_by != token.name):
                continue
            if len(found) == limit:
                return JobPage(jobs=found, next_cursor=found[-1].id)
            found.append(self.job(record))
        return JobPage(jobs=found, next_cursor=None)

    def job(self, record: JobRecord) -> Job:
        name = keys.manifest_name(record.manifest_key)
        job = Job(
            id=record.id,
            state="queued",
            created=record.created,
            submitted_by=record.submitted_by,
            manifest_key=record.manifest_key,
            items_total=record.items,
        )
        report, run = self._report(name)
        if run is not None:
            job.flow_run_id = run.id
            job.state = run.job_state
        if report is not None:
            self._from_report(job, report)
        else:
            where = self._where(name)
            job.manifest_key = where or job.manifest_key
            if run is None:
                if where is None:
                    job.state = "cancelled" if record.cancelled else "failed"
                    job.error = None if record.cancelled else "the manifest is gone"
                elif where.startswith(keys.PROCESSING):
                    job.state = "running"
                elif where.startswith(keys.FAILED):
                    job.state = "failed"
                elif where.startswith(keys.PROCESSED):
                    job.state = "succeeded"
        if record.cancelled and job.state in ("queued", "running"):
            job.state = "cancelling"
        return job

    def _report(self, name: str) -> tuple[RunReport | None, FlowRunInfo | None]:
        """The run that took the manifest (the latest that did not skip it) and its report.
        Without the Prefect API, none: the state then comes from where the manifest is."""
        try:
            runs = find_flow_runs(name)
        except Exception as exc:
            log.warning("cannot read the flow runs of %s: %s", name, type(exc).__name__)
            return None, None
        for run in runs:
            if run.start_time is None:
                return None, run
            started = run.start_time.astimezone(UTC)
            key = keys.report_key(new_run_id(started, run.id), started.date())
            data = self._read_json(key)
            report = RunReport.model_validate(data) if data is not None else None
            if report is not None and report.status == "skipped":
                continue
            return report, run
        return None, None

    def _from_report(self, job: Job, report: RunReport) -> None:
        job.report_key = report.key
        job.manifest_key = report.manifest_key or job.manifest_key
        job.error = report.error
        if report.status in ("succeeded", "failed") and job.state not in ("cancelled",):
            job.state = report.status
        job.rejected = list(report.rejected)
        for item in report.items:
            files = []
            if item.published is not None:
                for file_name, key in sorted(item.published.files.items()):
                    url = self.storage.presigned_get(key)
                    files.append(PublishedFile(name=file_name, key=key, url=url))
            job.items.append(
                JobItem(
                    id=item.id,
                    title=item.title,
                    status=item.status,
                    reasons=item.reasons,
                    warnings=item.warnings,
                    files=files,
                )
            )

    def _where(self, name: str) -> str | None:
        for state in keys.MANIFEST_STATES:
            key = keys.manifest_key(state, name)
            if self.storage.exists(key):
                return key
        return None

    # --- cancelling ---------------------------------------------------------------------------
    def cancel(self, record: JobRecord, token) -> Cancellation:
        job = self.job(record)
        if job.done:
            return Cancellation(action="none", message=f"the job already {job.state}", job=job)
        updated = record.model_copy(
            update={"cancelled": datetime.now(UTC), "cancelled_by": token.name}
        )
        self.storage.put_bytes(job_key(record.id), updated.model_dump_json().encode())
        incoming = record.manifest_key
        removed = False
        try:
            info = self.storage.stat(incoming)
            self.storage.delete(incoming)
            removed = info is not None
        except ObjectNotFoundError:
            pass
        # A run may have claimed it meanwhile (its claim read the manifest before the delete).
        job = self.job(updated)
        if job.flow_run_id and job.state in ("running", "cancelling", "queued"):
            cancel_flow_run(job.flow_run_id)
            job = self.job(updated)
            return Cancellation(
                action="cancelling",
                message=f"flow run {job.flow_run_id} was asked to cancel",
                job=job,
            )
        if removed and self._where(keys.manifest_name(record.manifest_key)) is None:
            job.state = "cancelled"
            return Cancellation(
                action="removed",
                message="the manifest was removed from incoming/ before any run claimed it",
                job=job,
            )
        return Cancellation(
            action="none",
            message="the manifest was claimed but no flow run of it is visible yet; "
            "it is marked cancelled, cancel again to stop its run",
            job=job,
        )

    def _read_json(self, key: str) -> dict | None:
        try:
            found = json.loads(self.storage.get_bytes(key))
        except (ObjectNotFoundError, ValueError):
            return None
        return found if isinstance(found, dict) else None
