"""Object storage on the minio SDK: MinIO in production, any S3 server that honours the same API.

Every call goes through ``Storage._retry``: transient faults (connection refused or reset,
timeouts, 5xx, SlowDown) are retried with exponential backoff; permanent ones (403, missing bucket
or key) are raised at once as ``PermanentStorageError`` with a message that says what to fix. The
SDK's own urllib3 retries are switched off so that there is one retry policy, visible in logs.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, CopySource

from wanflow import keys
from wanflow.claims import CLAIM_META, Claim, ManifestClaims
from wanflow.errors import (
    ObjectNotFoundError,
    PermanentStorageError,
    PreconditionFailedError,
    StorageError,
    TransientStorageError,
    is_transient,
    translate,
)
from wanflow.objects import META_PREFIX, ObjectInfo, content_type_for, decode_meta, encode_meta
from wanflow.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Storage(ManifestClaims):
    """One bucket on one S3 endpoint. Thread-safe as the underlying SDK client is."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        region: str = "us-east-1",
        secure: bool = False,
        ca_bundle: str | os.PathLike | None = None,
        timeout_s: float = 30.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        part_size_mb: int = 16,
        presign_expiry_s: int = 7 * 24 * 3600,
    ):
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            maxsize=16,
            cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
            ca_certs=str(ca_bundle) if ca_bundle else None,
            retries=False,
        )
        self.client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.retries = retries
        self.backoff_s = backoff_s
        self.part_size = part_size_mb * 1024 * 1024
        self.presign_expiry_s = presign_expiry_s
        self._conditional_writes_checked = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        if not settings.s3_endpoint:
            raise PermanentStorageError(
                "no S3 endpoint configured: set WANFLOW_S3_ENDPOINT (host:port), or use "
                "`wanflow run`, which starts a local server"
            )
        return cls(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
            region=settings.s3_region,
            secure=settings.s3_secure,
            ca_bundle=settings.s3_ca_bundle,
            timeout_s=settings.s3_timeout_s,
            retries=settings.s3_retries,
            backoff_s=settings.s3_backoff_s,
            part_size_mb=settings.s3_part_size_mb,
            presign_expiry_s=settings.presign_expiry_s,
        )

    def __repr__(self) -> str:  # never the credentials
        scheme = "https" if self.secure else "http"
        return f"Storage({scheme}://{self.endpoint}/{self.bucket})"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # --- the retry policy ---------------------------------------------------------------------
    def _retry(self, action: str, call: Callable[[], T]) -> T:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Exception as exc:
                if attempt == self.retries or not is_transient(exc):
                    raise translate(exc, action) from exc
                log.warning(
                    "%s: transient fault (%s), retry %d/%d in %.1fs",
                    action,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    # --- bucket -------------------------------------------------------------------------------
    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (needs the CreateBucket permission)."""

        def ensure() -> None:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

        self._retry(f"ensure bucket {self.bucket}", ensure)

    # --- writes -------------------------------------------------------------------------------
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_absent: bool = False,
    ) -> str:
        """Write ``data`` to ``key``; return its ETag.

        ``if_absent`` makes the write conditional (``If-None-Match: *``): when the key already
        exists the server refuses atomically and ``PreconditionFailedError`` is raised.
        """
        keys.check_key(key)
        ctype = content_type or content_type_for(key)
        meta = encode_meta(metadata)

        def put() -> str:
            if if_absent:
                # put_object() has no way to send If-None-Match (it turns unknown headers into
                # user metadata); the SDK's single-PUT primitive sends headers as given.
                headers = {"Content-Type": ctype, "If-None-Match": "*"}
                headers.update({META_PREFIX + k: v for k, v in meta.items()})
                return self.client._put_object(self.bucket, key, data, headers=headers).etag
            result = self.client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=ctype,
                metadata=meta,
                part_size=self.part_size,
            )
            return result.etag

        return self._retry(f"put {self.uri(key)}", put)

    def put_file(
        self,
        key: str,
        path: str | os.PathLike,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Upload a local file (multipart above the part size); return its ETag."""
        keys.check_key(key)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot upload {path}: not a file")
        ctype = content_type or content_type_for(path.name)
        meta = encode_meta(metadata)
        return self._retry(
            f"upload {path} to {self.uri(key)}",
            lambda: (
                self.client.fput_object(
                    self.bucket,
                    key,
                    str(path),
                    content_type=ctype,
                    metadata=meta,
                    part_size=self.part_size,
                ).etag
            ),
        )

    def patiently(
        self,
        action: str,
        call: Callable[[], T],
        window_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> T:
        """Run ``call`` (itself retried briefly by ``_retry``) again through transient faults for
        up to ``window_s`` seconds, backing off to at most 30 s between tries: for writes whose
        loss costs far more than waiting, such as a clip that took minutes of GPU time."""
        start, delay = clock(), max(self.backoff_s, 0.05)
        while True:
            try:
                return call()
            except TransientStorageError as exc:
                left = window_s - (clock() - start)
                if left <= 0:
                    raise
                wait = min(delay, left)
                log.warning(
                    "%s: storage unavailable (%s); trying again in %.1f s, for %.0f s more",
                    action,
                    exc,
                    wait,
                    left,
                )
                sleep(wait)
                delay = min(delay * 2, 30.0)

    # --- reads --------------------------------------------------------------------------------
    def get_bytes(self, key: str, if_match: str | None = None) -> bytes:
        """The object's bytes; with ``if_match`` (an ETag), only while it is still that version
        (HTTP 412 otherwise)."""
        keys.check_key(key)
        headers = {"If-Match": f'"{if_match}"'} if if_match else None

        def get() -> bytes:
            response = self.client.get_object(self.bucket, key, request_headers=headers)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._retry(f"get {self.uri(key)}", get)

    def download(self, key: str, path: str | os.PathLike) -> Path:
        """Download ``key`` to ``path`` (written to a temporary name, then renamed)."""
        keys.check_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._retry(
            f"download {self.uri(key)}",
            lambda: self.client.fget_object(self.bucket, key, str(path)),
        )
        return path

    def stat(self, key: str) -> ObjectInfo:
        """Size, ETag, type and user metadata of ``key``; ``ObjectNotFoundError`` if absent."""
        keys.check_key(key)
        obj = self._retry(
            f"stat {self.uri(key)}", lambda: self.client.stat_object(self.bucket, key)
        )
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            etag=(obj.etag or "").strip('"'),
            last_modified=obj.last_modified,
            content_type=obj.content_type,
            metadata=decode_meta(obj.metadata),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` in key order; resumes after the last key after a fault."""
        if prefix:
            keys.check_key(prefix.rstrip("/") or prefix, "prefix")
        last: str | None = None
        attempts = 0
        while True:
            try:
                for obj in self.client.list_objects(
                    self.bucket, prefix=prefix, recursive=recursive, start_after=last
                ):
                    last = obj.object_name
                    yield ObjectInfo(
                        key=obj.object_name,
                        size=obj.size or 0,
                        etag=(obj.etag or "").strip('"'),
                        last_modified=obj.last_modified,
                        is_dir=obj.is_dir,
                    )
                return
            except Exception as exc:
                attempts += 1
                if attempts > self.retries or not is_transient(exc):
                    raise translate(exc, f"list {self.uri(prefix)}") from exc
                log.warning("list %s: transient fault, resuming after %r", prefix, last)
                time.sleep(self.backoff_s * 2 ** (attempts - 1))

    # --- moves --------------------------------------------------------------------------------
    def copy(self, src: str, dst: str, *, metadata: dict[str, str] | None = None) -> str:
        """Server-side copy; ``metadata`` replaces the user metadata when given."""
        keys.check_key(src)
        keys.check_key(dst)
        extra = {}
        if metadata is not None:
            extra = {"metadata": encode_meta(metadata), "metadata_directive": REPLACE}
        return self._retry(
            f"copy {self.uri(src)} to {dst}",
            lambda: (
                self.client.copy_object(
                    self.bucket, dst, CopySource(self.bucket, src), **extra
                ).etag
            ),
        )

    def delete(self, key: str) -> None:
        keys.check_key(key)
        self._retry(f"delete {self.uri(key)}", lambda: self.client.remove_object(self.bucket, key))

    def move(self, src: str, dst: str) -> None:
        """Copy then delete. Not atomic: a crash in between leaves both, never neither."""
        self.copy(src, dst)
        self.delete(src)

    # --- links --------------------------------------------------------------------------------
    def presigned_get(self, key: str, expiry_s: int | None = None) -> str:
        """A URL anyone can GET until it expires (at most 7 days, the S3 limit)."""
        keys.check_key(key)
        seconds = expiry_s if expiry_s is not None else self.presign_expiry_s
        if not 1 <= seconds <= 7 * 24 * 3600:
            raise ValueError(f"presigned URL expiry must be 1 s to 7 days, got {seconds} s")
        try:
            return self.client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=seconds)
            )
        except Exception as exc:  # signing is local; anything here is a configuration error
            raise translate(exc, f"presign {self.uri(key)}") from exc


__all__ = [
    "CLAIM_META",
    "Claim",
    "ObjectInfo",
    "ObjectNotFoundError",
    "PermanentStorageError",
    "PreconditionFailedError",
    "Storage",
    "StorageError",
    "content_type_for",
]
