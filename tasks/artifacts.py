"""The run as Prefect artifacts: a table of items (status, reason, links) and a markdown summary
with thumbnails, so an operator sees the outcome in the Prefect UI without opening the bucket.
Both are rendered as markdown by the UI: manifest text goes through :mod:`wanflow.markdown`.

Artifact keys are per manifest (Prefect keeps each key's history), so the UI shows how the
same manifest fared run after run.
"""

from __future__ import annotations

import re
from uuid import UUID

from prefect.logging import get_run_logger

from wanflow import markdown as md
from wanflow.report import ItemOutcome, RunReport
from wanflow.settings import Settings


def artifact_key(manifest: str, suffix: str) -> str:
    """Prefect keys take lower-case letters, digits and dashes only."""
    base = re.sub(r"[^a-z0-9]+", "-", manifest.lower()).strip("-") or "manifest"
    return f"wanflow-{base[:60]}-{suffix}"


def _link(outcome: ItemOutcome, ours: md.UrlCheck) -> str:
    """The item's video or contact sheet as a link when it has a presigned URL of the bucket,
    else its key as text."""
    if outcome.published:
        url = outcome.published.urls.get("video.mp4")
        return md.link("video", url, ours) if ours(url) else md.code(outcome.published.prefix)
    if outcome.final:
        return md.code(outcome.final.files.get("video.mp4", ""))
    if outcome.review and ours(outcome.review.sheet_url):
        return md.link("contact sheet", outcome.review.sheet_url, ours)
    return ""


def table(report: RunReport, settings: Settings) -> list[dict[str, str]]:
    """The rows of the table artifact; Prefect renders its cells as markdown, so every value
    from the manifest is escaped like the summary's. Links go only to ``settings``' bucket."""
    ours = md.bucket_urls(settings)
    rows = [
        {
            "item": md.text(o.id),
            "title": md.text(o.title or ""),
            "status": o.status,
            "reason": md.text("; ".join(o.reasons)),
            "link": _link(o, ours),
        }
        for o in report.items
    ]
    if report.ingest:
        rows += [
            {
                "item": md.text(r.id or f"row {r.row}"),
                "title": "",
                "status": "rejected",
                "reason": md.text(f"row {r.row}, {r.field}: {r.error}"),
                "link": "",
            }
            for r in report.ingest.rejected
        ]
    return rows


def summary(report: RunReport, settings: Settings) -> str:
    """The run in markdown; every value from the manifest or an error message is escaped, and
    the only links and pictures are presigned URLs of ``settings``' bucket."""
    ours = md.bucket_urls(settings)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items()) or "no items"
    lines = [
        f"# {md.text(report.manifest)}: {report.status}",
        "",
        f"Run {md.code(report.run_id)} — {counts}. Report: {md.code(report.key)}.",
    ]
    if report.error:
        lines += ["", f"**Error:** {md.text(report.error)}"]
    if report.stages:
        stages = " · ".join(
            f"{md.text(name)} {seconds:.1f} s" for name, seconds in report.stages.items()
        )
        lines += ["", f"Stages: {stages}"]
    published = [o for o in report.items if o.published]
    if published:
        lines += ["", "## Published", ""]
        for o in published:
            urls = o.published.urls
            picture = md.image(o.id, urls.get("thumbnail.jpg"), ours)
            video = md.link("video", urls.get("video.mp4"), ours)
            lines.append(
                f"- {picture + ' ' if picture else ''}**{md.text(o.title or o.id)}** — {video} "
                f"{md.code(o.published.prefix)}"
            )
    others = [o for o in report.items if not o.published]
    if others:
        lines += ["", "## Not published", ""]
        lines += [
            f"- **{md.text(o.id)}** ({o.status}): {md.text('; '.join(o.reasons) or '—')}"
            for o in others
        ]
    return "\n".join(lines) + "\n"


def report_artifacts(report: RunReport, settings: Settings) -> list[UUID]:
    """Create the table and the summary; an artifact failure is logged, never the run's.
    ``settings`` are the run's."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    try:
        return [
            create_table_artifact(
                table(report, settings),
                key=artifact_key(report.manifest, "items"),
                description=f"{md.text(report.manifest)}: every item and why it ended where it did",
            ),
            create_markdown_artifact(
                summary(report, settings),
                key=artifact_key(report.manifest, "summary"),
                description=f"{md.text(report.manifest)}: run summary",
            ),
        ]
    except Exception as exc:  # the UI's convenience must not fail a finished run
        get_run_logger().warning("could not create the run's artifacts: %s", exc)
        return []


class ProgressArtifact:
    """A progress artifact for a long stage (generation): percent done, updated as jobs end."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.done, self.description = max(total, 1), 0, description
        self.id: UUID | None = None
        try:
            from prefect.artifacts import create_progress_artifact

            self.id = create_progress_artifact(0.0, description=md.text(description))
        except Exception as exc:
            get_run_logger().warning("no progress artifact: %s", exc)

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.id is None:
            return
        from prefect.artifacts import update_progress_artifact

        try:
            update_progress_artifact(
                self.id,
                100.0 * self.done / self.total,
                description=md.text(f"{self.description}: {self.done}/{self.total} {note}"),
            )
        except Exception as exc:
            get_run_logger().warning("progress artifact not updated: %s", exc)


__all__ = ["ProgressArtifact", "artifact_key", "report_artifacts", "summary", "table"]
