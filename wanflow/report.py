"""The run report: what happened to every row and item of one manifest, and why.

Written as JSON to ``reports/<date>/<run-id>.json``. It holds the masked settings, never secrets.
An item's ``clips`` are the workers' whole records (:class:`wanflow.clip.Clip`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from wanflow import __version__, keys
from wanflow.callback import CallbackResult
from wanflow.clip import Clip
from wanflow.ingest import IngestSummary, Rejection

RunStatus = Literal["running", "succeeded", "failed", "skipped"]
ItemStatus = Literal[
    "accepted",
    "planned",
    "generated",
    "reviewed",
    "approved",
    "composed",
    "rejected",
    "blocked",
    "failed",
    "held",
    "published",
]


class Block(BaseModel):
    """Why screening stopped an item: which text, which list term, where in that text."""

    field: str
    term: str
    category: str
    start: int
    end: int
    matched: str = Field(description="the text as written at [start, end)")


class Review(BaseModel):
    """The visual review of an item's clips (the full verdict is in work/<run>/<item>/)."""

    decision: Literal["pass", "review", "block"]
    reasons: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict, description="worst per category")
    flagged_frames: int = 0
    failures: list[str] = Field(default_factory=list)
    sheet_key: str | None = None
    sheet_url: str | None = Field(None, description="presigned contact sheet for reviewers")
    thumbnail_key: str | None = None
    review_key: str | None = None


class Approval(BaseModel):
    """A person's decision on a held item, or the timeout that left it held."""

    decision: Literal["approve", "reject", "hold"]
    actor: str
    at: datetime
    comment: str = ""


class Narration(BaseModel):
    """An item's narration, spoken before generation so that it sets each shot's length.

    The WAVs are in ``work/<run>/<item>/narration/``; compose lays exactly these files on the
    timeline, so what was timed is what is heard.
    """

    voice: str = Field(description="engine, or engine:voice, as the item or settings chose")
    rate: float
    speech_s: list[float] = Field(description="seconds of speech per shot (0: silent shot)")
    files: dict[str, str] = Field(default_factory=dict, description="file name → bucket key")
    sentences: int = 0


class Final(BaseModel):
    """The finished video and its companions in ``work/<run>/<item>/final/``."""

    files: dict[str, str] = Field(description="file name → bucket key")
    duration_s: float
    loudness_lufs: float | None = None
    true_peak_db: float | None = None
    normalization: str = Field(description="loudnorm's mode: linear, dynamic, or none")
    music: str | None = Field(None, description="the BGM library track used")
    music_licence: str | None = Field(None, description="the track's licence, from its index")
    sentences: int = 0


class Published(BaseModel):
    """Where an item was published; ``metadata.json`` (written last) marks it complete."""

    prefix: str
    files: dict[str, str] = Field(description="file name → bucket key, metadata.json included")
    urls: dict[str, str] = Field(default_factory=dict, description="presigned GET links")
    fingerprint: str
    reused: bool = Field(False, description="an earlier attempt had already published it")
    at: datetime


class ItemOutcome(BaseModel):
    id: str
    title: str | None = None
    status: ItemStatus
    held_because: list[str] = Field(
        default_factory=list, description="while held: what a person must look at, and why"
    )
    reasons: list[str] = Field(default_factory=list)
    blocked: list[Block] = Field(default_factory=list)
    preset: str | None = None
    shots: int | None = None
    estimate_s: float | None = Field(None, description="estimated GPU seconds")
    plan_key: str | None = None
    narration: Narration | None = None
    clips: list[Clip] = Field(default_factory=list)
    review: Review | None = None
    approval: Approval | None = None
    final: Final | None = None
    published: Published | None = None
    warnings: list[str] = Field(default_factory=list)


class RunReport(BaseModel):
    run_id: str
    flow_run_id: str | None = None
    manifest: str
    source_key: str
    manifest_key: str | None = None  # where the manifest ended up (processed/ or failed/)
    status: RunStatus = "running"
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    ingest: IngestSummary | None = None
    items: list[ItemOutcome] = Field(default_factory=list)
    stages: dict[str, float] = Field(
        default_factory=dict,
        description="seconds per stage, summed over every pass of a run that suspended",
    )
    passes: int = Field(1, description="how often the run ran: one more per resumed suspension")
    settings: dict[str, Any] = Field(default_factory=dict, description="masked settings")
    callback: CallbackResult | None = None
    wanflow_version: str = __version__

    @property
    def rejected(self) -> list[Rejection]:
        return self.ingest.rejected if self.ingest else []

    @property
    def key(self) -> str:
        return keys.report_key(self.run_id, self.started_at.astimezone(UTC).date())

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        if self.ingest:
            counts["rejected rows"] = self.ingest.rejected_rows
        return counts


def new_run_id(now: datetime, flow_run_id: str | None) -> str:
    suffix = (flow_run_id or "").replace("-", "")[:8] or now.strftime("%f")
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{suffix}"


def callback_payload(report: RunReport) -> dict[str, Any]:
    """What the manifest's callback_url receives when the run ends: enough to act on each item
    (published links included) without reading the bucket; the full report is at ``report``."""
    return {
        "event": "run.finished",
        "run_id": report.run_id,
        "flow_run_id": report.flow_run_id,
        "manifest": report.manifest,
        "status": report.status,
        "error": report.error,
        "report": report.key,
        "counts": report.counts(),
        "items": [
            {
                "id": item.id,
                "title": item.title,
                "status": item.status,
                "reasons": item.reasons,
                "published": item.published.files if item.published else None,
                "urls": item.published.urls if item.published else None,
            }
            for item in report.items
        ],
        "rejected": [r.model_dump(mode="json") for r in report.rejected],
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
        "wanflow_version": report.wanflow_version,
    }
