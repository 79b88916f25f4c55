"""Claiming a manifest: exactly one caller moves each upload from ``incoming/`` to
``processing/``, and a claimed manifest is filed without replacing another of the same name.

Safety rests on the server's conditional create (``If-None-Match: *``), which
:meth:`ManifestClaims.check_conditional_writes` verifies before the first claim.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wanflow import keys
from wanflow.errors import ObjectNotFoundError, PermanentStorageError, PreconditionFailedError

if TYPE_CHECKING:
    from wanflow.objects import ObjectInfo

CLAIM_META = "wanflow-claim"  # the claim a manifest object was moved under


@dataclass(frozen=True)
class Claim:
    """Proof that this caller, and no other, moved a manifest from incoming/ to processing/."""

    name: str
    key: str
    etag: str
    record: str
    owner: str


class ManifestClaims:
    """The claim operations of :class:`wanflow.storage.Storage`, on its reads and writes."""

    def check_conditional_writes(self) -> None:
        """Refuse to claim on a server that ignores ``If-None-Match`` (claims would be unsafe)."""
        if self._conditional_writes_checked:
            return
        probe = keys.join(keys.CLAIMS, f".probe-{uuid.uuid4().hex}")
        self.put_bytes(probe, b"1", if_absent=True)
        try:
            self.put_bytes(probe, b"2", if_absent=True)
        except PreconditionFailedError:
            self._conditional_writes_checked = True
        else:
            raise PermanentStorageError(
                f"{self.endpoint} ignores If-None-Match on PUT, so two workers could claim the "
                "same manifest; use a MinIO release from August 2024 or later (or another S3 "
                "server with conditional writes)"
            )
        finally:
            self.delete(probe)

    def claim(self, incoming_key: str, owner: str) -> Claim | None:
        """Move a manifest from ``incoming/`` to ``processing/`` unless someone else already did.

        Each upload is claimed exactly once. Claimants of one upload race to conditionally
        create the next record in a chain named after the manifest and its ETag
        (``<name-hash>-<etag>-<seq>.json``); the server lets exactly one create it. A record
        is marked done once its upload has left ``incoming/``, and only then may the next
        record of the chain be created: that is how an identical re-upload (same bytes, same
        second) becomes a new claim while a claimant that stalled behind a finished winner
        still loses (it meets the done record, takes the next one, and its ETag-conditional
        read finds either nothing or a new upload, which is then its to claim). Records are
        kept. Returns ``None`` when the manifest is gone or another claimant won.
        """
        name = keys.manifest_name(incoming_key)
        if not incoming_key.startswith(keys.INCOMING):
            raise keys.InvalidKeyError(f"only manifests in {keys.INCOMING} can be claimed")
        self.check_conditional_writes()
        try:
            info = self.stat(incoming_key)
        except ObjectNotFoundError:
            return None
        record = self._claim_record(name, info.etag, owner)
        if record is None:
            return None
        token = record.rsplit("/", 1)[1].removesuffix(".json")
        try:
            data = self.get_bytes(incoming_key, if_match=info.etag)
        except (ObjectNotFoundError, PreconditionFailedError):
            # Gone or replaced since the stat: nothing of this upload to process. The record is
            # removed so that the chain stays open for a new upload with this ETag.
            self.delete(record)
            return None
        meta = {k: v for k, v in info.metadata.items() if k != CLAIM_META}
        processing = self.put_free(keys.PROCESSING, name, data, token, meta, info.content_type)
        current = self._stat_or_none(incoming_key)
        if current is not None and current.etag == info.etag:
            self.delete(incoming_key)
        # else a new upload took its place after the read: it stays, to be claimed in turn.
        done = json.loads(self.get_bytes(record)) | {"done": True, "processing": processing}
        self.put_bytes(record, json.dumps(done, ensure_ascii=False).encode())
        return Claim(name=name, key=processing, etag=info.etag, record=record, owner=owner)

    def _claim_record(self, name: str, etag: str, owner: str) -> str | None:
        """Create the next record of the upload's chain for ``owner``; None if another won."""
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        prefix = keys.join(keys.CLAIMS, f"{digest}-{etag}-")
        for _ in range(100):
            found = [o.key for o in self.list(prefix) if o.key.endswith(".json")]
            seq = 0
            if found:
                latest = max(found)
                held = self._read_json(latest) or {}
                if not held.get("done"):
                    return latest if held.get("owner") == owner else None
                seq = int(latest[len(prefix) : -len(".json")]) + 1
            record = f"{prefix}{seq:06d}.json"
            body = json.dumps(
                {
                    "manifest": name,
                    "etag": etag,
                    "owner": owner,
                    "claimed_at": datetime.now().astimezone().isoformat(),
                    "done": False,
                },
                ensure_ascii=False,
            ).encode()
            try:
                self.put_bytes(record, body, if_absent=True, content_type="application/json")
                return record
            except PreconditionFailedError:
                # Ours if our own write landed and its answer was lost (the retried PUT is
                # refused); otherwise look again: it is either in flight (we lose) or done.
                if (self._read_json(record) or {}).get("owner") == owner:
                    return record
        return None

    def put_free(
        self,
        state: str,
        name: str,
        data: bytes,
        token: str,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        """Write a manifest under ``state`` without replacing another: ``<state><name>`` if free,
        else ``<stem>~<token><suffix>`` beside it. ``token`` (kept in the object's metadata)
        names the claim, so a retry finds its own write instead of making a second copy."""
        meta = {**(metadata or {}), CLAIM_META: token}
        path = Path(name)
        spare = str(path.with_name(f"{path.stem}~{token[-12:]}{path.suffix}"))
        for candidate in (name, spare):
            key = keys.manifest_key(state, candidate)
            try:
                self.put_bytes(key, data, content_type=content_type, metadata=meta, if_absent=True)
                return key
            except PreconditionFailedError:
                found = self._stat_or_none(key)
                if found is not None and found.metadata.get(CLAIM_META) == token:
                    return key
        raise PreconditionFailedError(f"{state}{name} and {spare} are both taken", "Precondition")

    def move_manifest(self, src: str, state: str) -> str:
        """Move a claimed manifest to ``state`` (processed/ or failed/) without replacing one
        filed there by an earlier upload of the same name; returns where it went."""
        info = self.stat(src)
        token = info.metadata.get(CLAIM_META) or hashlib.sha256(src.encode()).hexdigest()
        meta = {k: v for k, v in info.metadata.items() if k != CLAIM_META}
        target = self.put_free(
            state, keys.manifest_name(src), self.get_bytes(src), token, meta, info.content_type
        )
        self.delete(src)
        return target

    def _stat_or_none(self, key: str) -> ObjectInfo | None:
        try:
            return self.stat(key)
        except ObjectNotFoundError:
            return None

    def _read_json(self, key: str) -> dict | None:
        try:
            found = json.loads(self.get_bytes(key))
        except (ObjectNotFoundError, ValueError):
            return None
        return found if isinstance(found, dict) else None


__all__ = ["CLAIM_META", "Claim", "ManifestClaims"]
