"""The Python SDK of the web API (``wanflow serve``)::

    from wanflow.client import Client

    with Client("http://127.0.0.1:8000", token) as api:
        job = api.submit([{"prompt": "星空下的城市", "seed": 1}], idempotency_key="nightly-1")
        job = api.wait(job.id, timeout=3600)
        api.download(job.id, "out/")

Results are the service's own models (``wanflow.jobs``); every API error raises the
``ApiError`` subclass of its status, carrying the error's code, message and details.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from wanflow.jobs import MEDIA_TYPES, TERMINAL, Cancellation, Job, JobPage

_SUFFIX_TYPES = {suffix: media for media, suffix in MEDIA_TYPES.items()}


class ApiError(Exception):
    """An error answer: ``status`` (HTTP), ``code`` (the API's), ``message``, ``details``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class Unauthorized(ApiError):
    """401: no token, or an unknown or revoked one."""


class Forbidden(ApiError):
    """403: the token's scope does not allow the request."""


class NotFound(ApiError):
    """404: no such job (or one this token may not see)."""


class Conflict(ApiError):
    """409: an Idempotency-Key reused with another body."""


class TooLarge(ApiError):
    """413: the body or the batch is over the service's limit."""


class Invalid(ApiError):
    """422: the manifest was refused; ``rejected`` holds the row errors, as ``wanflow validate
    --json`` prints them."""

    @property
    def rejected(self) -> list[dict]:
        details = self.details if isinstance(self.details, dict) else {}
        return list(details.get("rejected", []))


class Unavailable(ApiError):
    """503: the service cannot reach the bucket or Prefect."""


_ERRORS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    503: Unavailable,
}


class Client:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never the token
        return f"Client({self._http.base_url})"

    # --- requests -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message, details = error["code"], error["message"], error.get("details")
            except (ValueError, KeyError, TypeError):
                code, message, details = "error", response.text[:500], None
            raise _ERRORS.get(response.status_code, ApiError)(
                response.status_code, code, message, details
            )
        return response

    def health(self) -> dict:
        return self._request("GET", "/v1/health").json()

    def ready(self) -> dict:
        return self._request("GET", "/v1/ready").json()

    def submit(
        self,
        manifest: list[dict] | dict | str | Path,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit items (a list of item dicts, or a manifest object with ``items``), or a
        manifest file (.json, .csv, .jsonl) as it is."""
        if isinstance(manifest, str | Path):
            path = Path(manifest)
            media = _SUFFIX_TYPES.get(path.suffix.lower())
            if media is None:
                raise ValueError(f"{path}: a manifest is .json, .csv or .jsonl")
            body = path.read_bytes()
        else:
            media, body = "application/json", json.dumps(manifest, ensure_ascii=False).encode()
        headers = {"Content-Type": media}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return Job.model_validate(
            self._request("POST", "/v1/jobs", content=body, headers=headers).json()
        )

    def status(self, job_id: str) -> Job:
        return Job.model_validate(self._request("GET", f"/v1/jobs/{job_id}").json())

    def page(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return JobPage.model_validate(self._request("GET", "/v1/jobs", params=params).json())

    def jobs(self, limit: int | None = None) -> Iterator[Job]:
        """Every job this token may see, newest first (``limit``: at most that many)."""
        cursor, seen = None, 0
        while True:
            page = self.page(100 if limit is None else min(100, limit - seen), cursor)
            for job in page.jobs:
                yield job
                seen += 1
            if page.next_cursor is None or (limit is not None and seen >= limit):
                return
            cursor = page.next_cursor

    def cancel(self, job_id: str) -> Cancellation:
        return Cancellation.model_validate(self._request("DELETE", f"/v1/jobs/{job_id}").json())

    def wait(
        self, job_id: str, timeout: float = 3600.0, progress: bool = True, poll_s: float = 2.0
    ) -> Job:
        """The job once it has ended (succeeded, failed or cancelled); ``TimeoutError`` after
        ``timeout`` seconds. ``progress`` shows a bar of the items that reached an end."""
        deadline = time.monotonic() + timeout
        bar = _Progress(job_id) if progress else None
        try:
            while True:
                job = self.status(job_id)
                if bar:
                    bar.update(job)
                if job.state in TERMINAL:
                    return job
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"job {job_id} is still {job.state} after {timeout:.0f} s")
                time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        finally:
            if bar:
                bar.close()

    def download(self, job_id: str, dest: str | Path) -> dict[str, list[Path]]:
        """Each published item's files into ``dest/<item-id>/``; item id → the files written.
        The links are the bucket's presigned ones: the API token is not sent with them."""
        dest = Path(dest)
        written: dict[str, list[Path]] = {}
        job = self.status(job_id)
        with httpx.Client(timeout=self._http.timeout) as plain:
            for item in job.items:
                for file in item.files:
                    folder = dest / Path(item.id).name
                    folder.mkdir(parents=True, exist_ok=True)
                    target = folder / Path(file.name).name
                    partial = target.with_name(target.name + ".part")
                    with plain.stream("GET", file.url) as response:
                        response.raise_for_status()
                        with partial.open("wb") as f:
                            for chunk in response.iter_bytes():
                                f.write(chunk)
                    partial.replace(target)
                    written.setdefault(item.id, []).append(target)
        return written


_ENDED = {"published", "held", "rejected", "blocked", "failed"}


class _Progress:
    def __init__(self, job_id: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=False
        )
        self._task = self._progress.add_task(f"job {job_id}", total=None)
        self._progress.start()

    def update(self, job: Job) -> None:
        ended = sum(1 for item in job.items if item.status in _ENDED)
        self._progress.update(
            self._task,
            total=job.items_total or None,
            completed=ended,
            description=f"job {job.id}: {job.state}",
        )

    def close(self) -> None:
        self._progress.stop()


__all__ = [
    "ApiError",
    "Client",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
]
