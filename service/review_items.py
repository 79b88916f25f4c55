"""What the review pages show, read from where the pipeline keeps it: the waiting runs'
approval requests (Prefect) for the queue, and the run report in the bucket for each item's
media and expanded prompts; and the media themselves, streamed with HTTP Range support.

Media are served through the service, never as links to the bucket: the reviewer's browser
need not reach the S3 endpoint, every byte is behind the session, and a key is only ever one
the run's own report names for an item that is waiting now (no key comes from the request).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Response
from fastapi.responses import StreamingResponse

from moderation.approval import ApprovalRequest, PendingItem
from wanflow import keys
from wanflow.report import ItemOutcome, RunReport
from wanflow.storage import ObjectNotFoundError, Storage

CHUNK = 256 * 1024
MEDIA_CACHE_S = 30.0  # a seeking player asks for many ranges: the keys are looked up once


@dataclass(frozen=True)
class QueueRow:
    flow_run_id: str
    request: ApprovalRequest
    item: PendingItem
    since: datetime

    @property
    def path(self) -> str:
        return f"item/{self.flow_run_id}/{self.item.id}"


@dataclass
class ItemMedia:
    """An item's files in the bucket, as its run report names them."""

    video: str | None = None
    sheet: str | None = None
    clips: dict[int, str] = field(default_factory=dict)
    expanded: list[str] = field(default_factory=list)

    def key(self, name: str) -> str | None:
        if name == "video.mp4":
            return self.video
        if name == "sheet.jpg":
            return self.sheet
        shot = re.fullmatch(r"shot-(\d{1,4})\.mp4", name)
        return self.clips.get(int(shot[1])) if shot else None


def queue(waiting: list[tuple[Any, ApprovalRequest]]) -> list[QueueRow]:
    """Every item of every waiting run, the runs that began waiting last first (their items
    in the run's order)."""
    rows = []
    for run, request in waiting:
        since = run.state.timestamp if run.state and run.state.timestamp else request.deadline
        since = since.astimezone(UTC)
        rows += [QueueRow(str(run.id), request, item, since) for item in request.items]
    order = sorted(rows, key=lambda r: (r.since, r.request.manifest, r.flow_run_id), reverse=True)
    # sorted() with reverse keeps equal keys in order: the items of one run stay as asked.
    return order


def run_day(run_id: str):
    """The date under which a run files its report: its id starts with the start time (UTC)."""
    return datetime.strptime(run_id[:8], "%Y%m%d").replace(tzinfo=UTC).date()


def report_outcome(store: Storage, request: ApprovalRequest, item_id: str) -> ItemOutcome | None:
    """The item as the run's report (written before the run waited) describes it."""
    try:
        key = keys.report_key(request.run_id, run_day(request.run_id))
        report = RunReport.model_validate_json(store.get_bytes(key))
    except (ObjectNotFoundError, keys.InvalidKeyError, ValueError):
        return None
    return next((o for o in report.items if o.id == item_id), None)


def item_media(store: Storage, request: ApprovalRequest, item_id: str) -> ItemMedia:
    outcome = report_outcome(store, request, item_id)
    if outcome is None:
        return ItemMedia()
    media = ItemMedia(
        video=outcome.final.files.get("video.mp4") if outcome.final else None,
        sheet=outcome.review.sheet_key if outcome.review else None,
        clips={clip.shot: clip.key for clip in outcome.clips},
    )
    if outcome.plan_key:
        try:
            plan = json.loads(store.get_bytes(outcome.plan_key))
            media.expanded = [str(s.get("prompt") or "") for s in plan.get("shots", [])]
        except (ObjectNotFoundError, ValueError, AttributeError):
            pass
    return media


class MediaCache:
    """(flow run, item) → its media, for ``MEDIA_CACHE_S``: bounded, thread-safe."""

    def __init__(self, ttl_s: float = MEDIA_CACHE_S, size: int = 256) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._entries: dict[tuple[str, str], tuple[float, ItemMedia]] = {}
        self._lock = threading.Lock()

    def get(self, flow_run_id: str, item_id: str) -> ItemMedia | None:
        with self._lock:
            found = self._entries.get((flow_run_id, item_id))
            return found[1] if found and found[0] > time.monotonic() else None

    def put(self, flow_run_id: str, item_id: str, media: ItemMedia) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[(flow_run_id, item_id)] = (time.monotonic() + self.ttl_s, media)


# --- streaming ------------------------------------------------------------------------------

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(first, last) byte of a single ``Range: bytes=`` request; None: the whole object;
    False: a range this object cannot satisfy (416). Several ranges are answered whole."""
    if not header:
        return None
    found = _RANGE.fullmatch(header.strip())
    if not found or (not found[1] and not found[2]):
        return None
    if not found[1]:  # the last N bytes
        length = int(found[2])
        return (max(0, size - length), size - 1) if length and size else False
    first = int(found[1])
    last = min(int(found[2]), size - 1) if found[2] else size - 1
    if first >= size or last < first:
        return False
    return first, last


def stream(store: Storage, key: str, range_header: str | None, media_type: str) -> Response:
    """The object at ``key``, whole (200) or the range asked for (206), for a player to seek.
    ``media_type`` is the caller's (from the name it asked for), never the stored one."""
    info = store.stat(key)
    size = info.size
    wanted = byte_range(range_header, size)
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if wanted is False:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    first, last = wanted if wanted else (0, size - 1)
    length = last - first + 1 if size else 0
    headers["Content-Length"] = str(length)
    status = 200
    if wanted:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if length == 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    response = store.client.get_object(store.bucket, key, offset=first, length=length)

    def body():
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media_type)


__all__ = ["ItemMedia", "MediaCache", "QueueRow", "item_media", "queue", "stream"]
