"""Storage errors split by what a caller should do about them: retry, or stop and tell a person."""

from __future__ import annotations

import socket

import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError

# S3 error codes that mean "try again later" whatever the HTTP status says.
_TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "OperationAborted"}
)

_HINTS = {
    "AccessDenied": "check WANFLOW_S3_ACCESS_KEY / WANFLOW_S3_SECRET_KEY and the user's policy",
    "InvalidAccessKeyId": "the access key is unknown to the server (WANFLOW_S3_ACCESS_KEY)",
    "SignatureDoesNotMatch": "the secret key is wrong (WANFLOW_S3_SECRET_KEY)",
    "NoSuchBucket": "create the bucket or fix WANFLOW_S3_BUCKET",
    "NoSuchKey": "the object does not exist",
}


class StorageError(RuntimeError):
    """Base of every error raised by ``wanflow.storage``."""


class TransientStorageError(StorageError):
    """A fault that may pass (connection refused/reset, timeout, 5xx): retried with backoff."""


class PermanentStorageError(StorageError):
    """A fault that retrying cannot fix (403, missing bucket or key, bad request)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class ObjectNotFoundError(PermanentStorageError):
    """The key (or its bucket) does not exist."""


class PreconditionFailedError(PermanentStorageError):
    """A conditional write lost: the object already exists."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by the minio SDK or the network) is worth retrying."""
    if isinstance(exc, TransientStorageError):
        return True
    if isinstance(exc, StorageError):
        return False
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else 0
        return exc.code in _TRANSIENT_CODES or status >= 500
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    if isinstance(exc, InvalidResponseError):
        return getattr(exc, "_code", 0) >= 500
    return isinstance(
        exc,
        urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | socket.timeout,
    )


def translate(exc: BaseException, action: str) -> StorageError:
    """Wrap an SDK/network exception in the matching ``StorageError`` with a readable message."""
    if isinstance(exc, StorageError):
        return exc
    if is_transient(exc):
        return TransientStorageError(f"{action}: transient fault: {_describe(exc)}")
    if isinstance(exc, S3Error):
        code = exc.code or "Error"
        hint = _HINTS.get(code)
        message = f"{action}: {code}" + (f" ({hint})" if hint else f": {exc.message}")
        if code == "PreconditionFailed":
            return PreconditionFailedError(message, code)
        if code in ("NoSuchKey", "NoSuchBucket"):
            return ObjectNotFoundError(message, code)
        return PermanentStorageError(message, code)
    return PermanentStorageError(f"{action}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
