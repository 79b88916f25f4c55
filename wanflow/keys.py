"""The bucket layout, and object keys built only from validated parts.

Every key Wanflow writes is assembled here, so a manifest name or item id taken from user input can
never climb out of its prefix (``..``), become absolute, or smuggle control characters into a key.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

INCOMING = "incoming/"
PROCESSING = "processing/"
PROCESSED = "processed/"
FAILED = "failed/"
WORK = "work/"
PUBLISHED = "published/"
REPORTS = "reports/"
CONFIG = "config/"
CLAIMS = "work/claims/"

LEXICON = "config/lexicon.toml"
BLACKLISTS = "config/blacklists/"
ALLOWLISTS = "config/allowlists/"

MANIFEST_STATES = (INCOMING, PROCESSING, PROCESSED, FAILED)

_MAX_PART = 255
_MAX_KEY = 1024


class InvalidKeyError(ValueError):
    """A key or key part that could escape its prefix or is not a safe object name."""


def check_part(part: str, what: str = "key part") -> str:
    """Return ``part`` if it is one safe path segment; raise ``InvalidKeyError`` otherwise.

    Allowed: any printable characters (Chinese file names included) except ``/`` and ``\\``;
    not ``.`` or ``..``; no leading or trailing whitespace; at most 255 characters.
    """
    if not isinstance(part, str) or not part:
        raise InvalidKeyError(f"{what} is empty")
    if part in (".", ".."):
        raise InvalidKeyError(f"{what} {part!r} is a relative path segment")
    if "/" in part or "\\" in part:
        raise InvalidKeyError(f"{what} {part!r} contains a path separator")
    if part != part.strip():
        raise InvalidKeyError(f"{what} {part!r} has leading or trailing whitespace")
    if len(part) > _MAX_PART:
        raise InvalidKeyError(f"{what} is {len(part)} characters long; the limit is {_MAX_PART}")
    for ch in part:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise InvalidKeyError(f"{what} {part!r} contains the control character {ch!r}")
    return part


def check_key(key: str, what: str = "object key") -> str:
    """Validate a full key made of ``/``-separated safe parts (no empty, ``.`` or ``..`` parts)."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(f"{what} is empty")
    if key.startswith("/"):
        raise InvalidKeyError(f"{what} {key!r} is absolute")
    if len(key.encode()) > _MAX_KEY:
        raise InvalidKeyError(f"{what} is longer than {_MAX_KEY} bytes")
    for part in key.split("/"):
        check_part(part, what=f"{what} {key!r}: segment")
    return key


def join(*parts: str) -> str:
    """Join validated parts; a part may itself contain ``/`` only if each segment is safe."""
    return check_key("/".join(p.strip("/") for p in parts))


def manifest_name(key: str) -> str:
    """The file name of a manifest key in any state prefix (``incoming/a/x.csv`` → ``a/x.csv``)."""
    check_key(key, "manifest key")
    for prefix in MANIFEST_STATES:
        if key.startswith(prefix):
            name = key[len(prefix) :]
            if not name:
                break
            return name
    raise InvalidKeyError(f"manifest key {key!r} is not under one of {', '.join(MANIFEST_STATES)}")


def manifest_key(state: str, name: str) -> str:
    if state not in MANIFEST_STATES:
        raise InvalidKeyError(f"unknown manifest state {state!r}")
    return join(state, check_key(name, "manifest name"))


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def report_key(run_id: str, day: date) -> str:
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise InvalidKeyError(f"run id {run_id!r} is not a safe name")
    return join(REPORTS, day.isoformat(), f"{run_id}.json")


def audit_key(run_id: str, day: date) -> str:
    """The run's audit log (JSON Lines): every decision about its items, automatic or human."""
    return join(REPORTS, "audit", day.isoformat(), f"{report_key(run_id, day).rsplit('/', 1)[1]}l")


def work_key(run_id: str, item_id: str, name: str) -> str:
    return join(WORK, check_part(run_id, "run id"), check_part(item_id, "item id"), name)


def published_key(day: date, item_id: str, name: str) -> str:
    return join(PUBLISHED, day.isoformat(), check_part(item_id, "item id"), check_part(name))
