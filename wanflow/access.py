"""Who may use the web service: API tokens (with a scope) and reviewer accounts (with a password).

Both lists live in the bucket, so every service process and every ``wanflow tokens`` command sees
the same ones. Only hashes are stored: SHA-256 of a token (a 32-byte random secret needs no
slow hash), scrypt with a per-account salt for a password (people choose weak ones). Every
comparison is constant-time.

Each list is a chain of versions (``config/access/tokens/000000000007.json``, …). A change reads
the latest version and creates the next one with the server's conditional create
(``If-None-Match: *``): of two commands changing the list at once, one wins and the other reads
again and re-applies its change, so neither loses the other's. Old versions are pruned; a writer
that read a pruned version notices the newer ones after its write and tries again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from wanflow import keys
from wanflow.errors import ObjectNotFoundError, PreconditionFailedError

Scope = Literal["submit", "read", "review"]
SCOPES: tuple[str, ...] = ("submit", "read", "review")
TOKENS = "config/access/tokens/"
REVIEWERS = "config/access/reviewers/"
TOKEN_PREFIX = "wf_"
KEEP_VERSIONS = 16
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_VERSION = re.compile(r"^\d{12}\.json$")
# scrypt cost: 16 MiB and a few tens of milliseconds per check, OWASP's minimum for scrypt.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_MIN_PASSWORD, _MAX_PASSWORD = 8, 1024


class AccessError(ValueError):
    """A request the access lists refuse (bad name or scope, unknown or duplicate entry)."""


class ConflictingChangeError(RuntimeError):
    """The list kept changing under us; nothing was written."""


@dataclass(frozen=True)
class Token:
    """An API token as stored: never the secret itself."""

    name: str
    scope: str
    created: datetime


@dataclass(frozen=True)
class Reviewer:
    name: str
    created: datetime


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise AccessError(
            f"{what} name must be 1-64 of A-Z a-z 0-9 _ . @ - and start with a letter or digit"
        )
    return name


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=0
    )


class _Chain:
    """One list of entries (name → record) kept as conditionally created versions."""

    def __init__(self, storage: Any, prefix: str):
        self.storage, self.prefix = storage, prefix
        # The entries of the latest version read. A version is never rewritten once it is the
        # latest, so while the listing still ends at it, a check costs one LIST, not LIST + GET;
        # a revocation is seen on the very next check (it adds a version to the listing).
        self._latest: tuple[int, dict[str, dict]] = (0, {})

    def _versions(self) -> list[int]:
        found = []
        for obj in self.storage.list(self.prefix):
            name = obj.key[len(self.prefix) :]
            if _VERSION.match(name):
                found.append(int(name[:12]))
        return sorted(found)

    def read(self) -> tuple[int, dict[str, dict]]:
        """The latest version number (0 when none) and its entries."""
        for _ in range(10):
            versions = self._versions()
            if not versions:
                return 0, {}
            cached_version, cached = self._latest
            if cached_version == versions[-1]:
                return cached_version, dict(cached)
            try:
                data = json.loads(self.storage.get_bytes(self._key(versions[-1])))
            except ObjectNotFoundError:
                continue  # pruned between the listing and the read: list again
            entries = dict(data.get("entries", {}))
            self._latest = (versions[-1], entries)
            return versions[-1], dict(entries)
        raise ConflictingChangeError(f"{self.prefix} keeps changing; try again")

    def change(self, edit: Callable[[dict[str, dict]], Any]) -> Any:
        """Apply ``edit`` to the latest entries (in place) and write them as the next version;
        ``edit`` runs again on fresh entries whenever another writer got there first."""
        self.storage.check_conditional_writes()
        for _ in range(50):
            version, entries = self.read()
            result = edit(entries)
            key = self._key(version + 1)
            body = json.dumps({"version": version + 1, "entries": entries}, ensure_ascii=False)
            try:
                self.storage.put_bytes(
                    key, body.encode(), if_absent=True, content_type="application/json"
                )
            except PreconditionFailedError:
                continue
            versions = self._versions()
            if versions and versions[-1] > version + 1:
                # We read a version that had been pruned: ours is not the latest, try again.
                self.storage.delete(key)
                continue
            for old in versions[: -KEEP_VERSIONS - 1]:
                self.storage.delete(self._key(old))  # S3 deletes of a missing key succeed
            return result
        raise ConflictingChangeError(f"{self.prefix} keeps changing; nothing was written")

    def _key(self, version: int) -> str:
        return keys.join(self.prefix, f"{version:012d}.json")


class Access:
    """The token and reviewer lists of one bucket (``storage``: a ``wanflow.storage.Storage``)."""

    def __init__(self, storage: Any):
        self.storage = storage
        self._tokens = _Chain(storage, TOKENS)
        self._reviewers = _Chain(storage, REVIEWERS)
        # Unknown reviewers cost as much to check as known ones (no name probing by timing).
        self._decoy = {"salt": secrets.token_hex(16), "hash": "00" * 32, **_SCRYPT}

    # --- API tokens -----------------------------------------------------------------------------
    def create_token(self, name: str, scope: str) -> str:
        """A new token's secret, returned once: only its hash is kept."""
        _check_name(name, "token")
        if scope not in SCOPES:
            raise AccessError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = {"scope": scope, "created": _now(), "sha256": _token_hash(secret)}

        def add(entries: dict[str, dict]) -> None:
            if name in entries:
                raise AccessError(f"a token named {name!r} exists; revoke it first")
            entries[name] = record

        self._tokens.change(add)
        return secret

    def verify_token(self, secret: str) -> Token | None:
        """The token whose secret this is, or None. Every stored hash is compared, in constant
        time, so the answer takes as long whichever token (if any) matches."""
        if not isinstance(secret, str) or not secret or len(secret) > 256:
            return None
        presented = _token_hash(secret).encode()
        match = None
        for name, record in self._tokens.read()[1].items():
            if hmac.compare_digest(presented, str(record.get("sha256", "")).encode()):
                match = Token(name, record["scope"], datetime.fromisoformat(record["created"]))
        return match

    def tokens(self) -> list[Token]:
        entries = self._tokens.read()[1]
        return [
            Token(name, r["scope"], datetime.fromisoformat(r["created"]))
            for name, r in sorted(entries.items())
        ]

    def revoke_token(self, name: str) -> None:
        """Remove the token ``name``; AccessError when there is none of that name."""

        def remove(entries: dict[str, dict]) -> None:
            if entries.pop(name, None) is None:
                raise AccessError(f"no token named {name!r}")

        self._tokens.change(remove)

    # --- reviewer accounts ----------------------------------------------------------------------
    def add_reviewer(self, name: str, password: str, *, replace: bool = False) -> None:
        """Create a reviewer account (or, with ``replace``, set a new password for one)."""
        _check_name(name, "reviewer")
        if not isinstance(password, str) or not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
            raise AccessError(
                f"a password must be {_MIN_PASSWORD} to {_MAX_PASSWORD} characters long"
            )
        salt = secrets.token_bytes(16)
        digest = _scrypt(password, salt, **_SCRYPT)
        record = {"salt": salt.hex(), "hash": digest.hex(), **_SCRYPT}

        def add(entries: dict[str, dict]) -> None:
            if name in entries and not replace:
                raise AccessError(f"a reviewer named {name!r} exists")
            created = entries.get(name, {}).get("created") or _now()
            entries[name] = {**record, "created": created}

        self._reviewers.change(add)

    def verify_reviewer(self, name: str, password: str) -> bool:
        """Whether ``password`` is reviewer ``name``'s; as slow for unknown names as known."""
        if not isinstance(name, str) or not isinstance(password, str):
            return False
        record = None
        if _NAME.match(name):
            record = self._reviewers.read()[1].get(name)
        known = record is not None
        record = record or self._decoy
        try:
            digest = _scrypt(
                password[:_MAX_PASSWORD],
                bytes.fromhex(record["salt"]),
                int(record["n"]),
                int(record["r"]),
                int(record["p"]),
            )
        except (KeyError, ValueError):
            return False
        return hmac.compare_digest(digest.hex(), record["hash"]) and known

    def reviewers(self) -> list[Reviewer]:
        entries = self._reviewers.read()[1]
        return [
            Reviewer(name, datetime.fromisoformat(r["created"]))
            for name, r in sorted(entries.items())
        ]

    def remove_reviewer(self, name: str) -> None:
        """Remove reviewer ``name``; AccessError when there is none of that name."""

        def remove(entries: dict[str, dict]) -> None:
            if entries.pop(name, None) is None:
                raise AccessError(f"no reviewer named {name!r}")

        self._reviewers.change(remove)


__all__ = [
    "SCOPES",
    "Access",
    "AccessError",
    "ConflictingChangeError",
    "Reviewer",
    "Scope",
    "Token",
]
