"""What the bucket says of an object, and what it is told: content types by file name, and user
metadata carried exactly (S3 sends it as ASCII HTTP headers)."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

META_PREFIX = "x-amz-meta-"  # how S3 names user metadata in HTTP headers
_EXTRA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".mp4": "video/mp4",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".wav": "audio/wav",
    ".md": "text/markdown",
}


def content_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime | None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    is_dir: bool = False  # a common prefix in a non-recursive listing


def encode_meta(metadata: dict[str, str] | None) -> dict[str, str]:
    # S3 metadata travels in HTTP headers (ASCII only): percent-encode every value so that
    # Chinese titles survive and decoding is exact ("%" itself is encoded too).
    out = {}
    for name, value in (metadata or {}).items():
        if not name.replace("-", "").replace("_", "").isalnum() or not name.isascii():
            raise ValueError(f"metadata name {name!r} must be ASCII letters, digits, - or _")
        out[name.lower()] = quote(str(value), safe=" !#$&'()*+,/:;=?@[]^`{|}~")
    return out


def decode_meta(headers) -> dict[str, str]:
    out = {}
    for name, value in (headers or {}).items():
        lower = name.lower()
        if lower.startswith(META_PREFIX):
            out[lower[len(META_PREFIX) :]] = unquote(value)
    return out


__all__ = ["META_PREFIX", "ObjectInfo", "content_type_for", "decode_meta", "encode_meta"]
