"""The ``/v1`` API: jobs in, job states and published files out. Every path needs a bearer
token (see ``service.auth`` for the scopes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from service.auth import READ_SCOPES, require
from service.errors import ApiError
from tasks.prefect_runs import prefect_reachable
from wanflow import __version__
from wanflow.access import Token
from wanflow.jobs import JOBS, MEDIA_TYPES, Cancellation, ErrorBody, Job, JobPage

_ERRORS = {
    401: {"model": ErrorBody, "description": "no token, or not a valid one"},
    403: {"model": ErrorBody, "description": "the token's scope does not allow this"},
}
_MANIFEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "a manifest, as `wanflow validate` reads it: JSON (an array of items, "
        'or an object {"items": [...], "defaults": {...}, "callback_url": ..., ...}), CSV or '
        "JSON Lines",
        "content": {
            "application/json": {"schema": {"type": ["object", "array"]}},
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (before any of
    it is parsed; a lying or absent Content-Length does not get more through)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the body is over {limit} bytes", {"limit": limit})
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"the body is over {limit} bytes", {"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def router(max_body_bytes: int) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=_ERRORS)

    @api.get("/health", summary="Liveness: the service answers")
    def health(token: Annotated[Token, Depends(require())]) -> dict:
        return {"status": "ok", "version": __version__}

    @api.get(
        "/ready",
        summary="Readiness: the bucket and the Prefect API answer",
        responses={503: {"model": ErrorBody}},
    )
    def ready(request: Request, token: Annotated[Token, Depends(require())]) -> dict:
        storage = request.app.state.storage
        checks: dict[str, str] = {}
        try:
            next(iter(storage.list(JOBS, recursive=False)), None)  # a missing bucket raises
            checks["bucket"] = "ok"
        except Exception as exc:
            checks["bucket"] = f"unavailable ({type(exc).__name__})"
        problem = prefect_reachable()
        checks["prefect"] = "ok" if problem is None else f"unavailable ({problem})"
        if any(v != "ok" for v in checks.values()):
            raise ApiError(503, "unavailable", "not ready", checks)
        return {"status": "ready", "checks": checks}

    @api.post(
        "/jobs",
        status_code=202,
        summary="Submit a manifest as a job",
        openapi_extra=_MANIFEST_BODY,
        responses={
            409: {"model": ErrorBody, "description": "Idempotency-Key reused with another body"},
            413: {"model": ErrorBody, "description": "body or batch over the limit"},
            415: {"model": ErrorBody},
            422: {"model": ErrorBody, "description": "row errors, as `wanflow validate --json`"},
        },
    )
    async def submit(
        request: Request,
        response: Response,
        token: Annotated[Token, Depends(require("submit"))],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Job:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        suffix = MEDIA_TYPES.get(ctype)
        if suffix is None:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"send the manifest as one of {', '.join(MEDIA_TYPES)}",
            )
        body = await _bounded_body(request, max_body_bytes)
        jobs = request.app.state.jobs
        job, new = await run_in_threadpool(jobs.submit, body, token.name, idempotency_key, suffix)
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        if not new:
            response.headers["Idempotent-Replayed"] = "true"
        return job

    @api.get("/jobs", summary="List jobs, newest first")
    def list_jobs(
        request: Request,
        token: Annotated[Token, Depends(require(*READ_SCOPES))],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
    ) -> JobPage:
        return request.app.state.jobs.page(token, limit, cursor)

    @api.get("/jobs/{job_id}", summary="A job's state, items and published files")
    def get_job(
        job_id: str, request: Request, token: Annotated[Token, Depends(require(*READ_SCOPES))]
    ) -> Job:
        jobs = request.app.state.jobs
        return jobs.job(jobs.visible(job_id, token))

    @api.delete("/jobs/{job_id}", summary="Cancel a job")
    def cancel_job(
        job_id: str, request: Request, token: Annotated[Token, Depends(require("submit"))]
    ) -> Cancellation:
        jobs = request.app.state.jobs
        return jobs.cancel(jobs.visible(job_id, token), token)

    return api
