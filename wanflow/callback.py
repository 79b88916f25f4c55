"""The run-end callback: a JSON POST to a manifest's ``callback_url``, signed so the receiver
can tell it came from this deployment and was not replayed.

Signature: ``X-Wanflow-Signature: sha256=<hex>``, the HMAC-SHA256 (key
``WANFLOW_CALLBACK_SECRET``) of ``<timestamp>.<body>``, with the timestamp (Unix seconds) in
``X-Wanflow-Timestamp``: a receiver recomputes it over the raw body and rejects old timestamps.
Network errors, timeouts, 429 and 5xx are retried with backoff; other answers are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from wanflow import __version__

SIGNATURE_HEADER = "X-Wanflow-Signature"
TIMESTAMP_HEADER = "X-Wanflow-Timestamp"
EVENT_HEADER = "X-Wanflow-Event"


class CallbackResult(BaseModel):
    url: str
    delivered: bool
    status_code: int | None = None
    attempts: int = 0
    error: str | None = None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, max_age_s: int = 300) -> bool:
    """What a receiver does (and what the tests do): constant-time compare, bounded age."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - stamp) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def post(
    url: str,
    payload: dict[str, Any],
    secret: str,
    *,
    timeout_s: float = 10.0,
    retries: int = 3,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CallbackResult:
    """POST ``payload`` to ``url``; never raises: the run has ended, the result is reported."""
    import httpx

    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()
    result = CallbackResult(url=url, delivered=False)
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        result.attempts = attempt + 1
        stamp = int(time.time())  # signed per attempt: a late retry is not a stale one
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"wanflow/{__version__}",
            SIGNATURE_HEADER: sign(secret, stamp, body),
            TIMESTAMP_HEADER: str(stamp),
            EVENT_HEADER: "run.finished",
        }
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            result.status_code, result.error = None, f"{type(exc).__name__}: {exc}"
            continue
        result.status_code = response.status_code
        if response.is_success:
            result.delivered, result.error = True, None
            return result
        result.error = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code != 429 and response.status_code < 500:
            return result  # the receiver refused this request; sending it again will not help
    return result


__all__ = ["CallbackResult", "post", "sign", "verify"]
