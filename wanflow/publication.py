"""What a published item is: its files under ``published/<date>/<item-id>/`` and the
``metadata.json`` that describes how it was made and who let it out.

``metadata.json`` is written last, so its presence is the mark of a complete publication: a
reader that lists ``published/`` and finds the metadata finds every file it names. The
fingerprint covers what decides the video (plan, clips, narration, music); a rerun that finds the
same fingerprint already published does nothing, and a different one is refused unless the
operator allows replacing (``WANFLOW_REPUBLISH``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from importlib import metadata as dist
from typing import Any

from wanflow import __version__
from wanflow.clip import PUBLISHED_FIELDS
from wanflow.manifest import Item
from wanflow.report import ItemOutcome, RunReport

SCHEMA = "wanflow.published/1"
METADATA = "metadata.json"
# What compose uploads to ``work/<run>/<item>/final/`` (the outcome's ``final.files``), every one
# of them published (the poster is the video's first frame, for players that show one before
# playing); the review's contact sheet goes with them, and metadata.json comes last.
FINAL_FILES = ("video.mp4", "subtitles.srt", "subtitles.vtt", "thumbnail.jpg", "poster.jpg")
CONTACT_SHEET = "contact_sheet.jpg"
FILES = (*FINAL_FILES, CONTACT_SHEET)
_VERSIONED = ("torch", "diffusers", "transformers", "open_clip_torch", "nudenet", "prefect")


class NotPublishable(ValueError):
    """The item lacks what publication requires: a review that passed or a person's approval,
    and every finished file. Publishing fails closed."""


def sources(outcome: ItemOutcome) -> dict[str, str]:
    """Published name → work key of each file; NotPublishable naming what is missing."""
    review, approval, final = outcome.review, outcome.approval, outcome.final
    if review is None:
        raise NotPublishable(f"{outcome.id} was never reviewed")
    if review.decision == "block" or (
        review.decision != "pass" and (approval is None or approval.decision != "approve")
    ):
        raise NotPublishable(f"{outcome.id} neither passed review nor was approved by a person")
    if approval is not None and approval.decision != "approve":
        raise NotPublishable(f"{outcome.id} was not approved ({approval.decision})")
    if final is None:
        raise NotPublishable(f"{outcome.id} has no finished video")
    found = {name: final.files.get(name) for name in FINAL_FILES}
    found[CONTACT_SHEET] = review.sheet_key
    missing = [name for name, key in found.items() if not key]
    if missing:
        raise NotPublishable(f"{outcome.id} lacks {', '.join(missing)}")
    return {name: key for name, key in found.items() if key}


def fingerprint(manifest: str, outcome: ItemOutcome, plan: dict[str, Any]) -> str:
    """What decides the published video: same fingerprint, same video."""
    parts = {
        "manifest": manifest,
        "item": outcome.id,
        "plan": plan,
        "clips": [clip.hash for clip in sorted(outcome.clips, key=lambda c: c.shot)],
        "narration": outcome.narration.model_dump(exclude={"files"}) if outcome.narration else None,
        "music": outcome.final.music if outcome.final else None,
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Wanflow's version and the libraries that shaped the pictures and the verdicts."""
    found = {"wanflow": __version__}
    for name in _VERSIONED:
        try:
            found[name] = dist.version(name)
        except dist.PackageNotFoundError:
            continue
    return found


def metadata(
    report: RunReport,
    outcome: ItemOutcome,
    item: Item,
    plan: dict[str, Any],
    files: dict[str, str],
    published_at: datetime,
    print_: str,
) -> dict[str, Any]:
    """The item's ``metadata.json``: prompts, plan, model, timings, GPU time, verdicts, versions;
    never a link or a credential (:func:`scrub`)."""
    clips = sorted(outcome.clips, key=lambda c: c.shot)
    rendered = [c for c in clips if not c.cached]
    params = plan.get("params", {})
    document = {
        "schema": SCHEMA,
        "item_id": outcome.id,
        "title": outcome.title,
        "manifest": report.manifest,
        "run_id": report.run_id,
        "flow_run_id": report.flow_run_id,
        "published_at": published_at.isoformat(),
        "fingerprint": print_,
        "prompts": {
            "original": item.prompt,
            "narration": item.narration,
            "negative": item.negative_prompt,
            "expanded": [shot.get("prompt") for shot in plan.get("shots", [])],
            "expansions": plan.get("expansions", {}),
        },
        "item": item.model_dump(mode="json", exclude_none=True),
        "model": {
            "name": clips[0].model if clips else params.get("model"),
            "repo": params.get("repo"),
            "task": params.get("task"),
            "device": clips[0].device if clips else None,
        },
        "preset": params.get("preset"),
        "seed": plan.get("seed"),
        "plan": plan,
        "timings": {
            "duration_s": outcome.final.duration_s if outcome.final else None,
            "speech_s": outcome.narration.speech_s if outcome.narration else [],
            "shots_s": [shot.get("duration_s") for shot in plan.get("shots", [])],
        },
        "gpu_seconds": round(sum(c.load_s + c.render_s for c in rendered), 3),
        "clips": [c.model_dump(mode="json", include=set(PUBLISHED_FIELDS)) for c in clips],
        "audio": outcome.final.model_dump(mode="json", exclude={"files"})
        if outcome.final
        else None,
        "review": outcome.review.model_dump(mode="json") if outcome.review else None,
        "approval": outcome.approval.model_dump(mode="json") if outcome.approval else None,
        "versions": versions(),
        "files": files,
    }
    return scrub(document)


# Signed-URL query parameters (S3 v4 and v2): a string carrying one is a credential for a while.
_SIGNED = ("x-amz-signature", "x-amz-credential", "x-amz-security-token", "awsaccesskeyid")


def scrub(value: Any) -> Any:
    """What ``published/`` may carry: no links at all (a field named ``url``/``*_url``/``urls``
    holds presigned links into ``work/``, a callback address may carry a token), and no
    string that holds a signed query. Published files are for anyone who gets the video; the
    links live in the report, which stays private."""
    if isinstance(value, dict):
        return {
            k: scrub(v) for k, v in value.items() if not _is_link_field(str(k)) and not _signed(v)
        }
    if isinstance(value, list):
        return [scrub(v) for v in value if not _signed(v)]
    return value


def _is_link_field(name: str) -> bool:
    name = name.lower()
    return name in ("url", "urls") or name.endswith(("_url", "_urls"))


def _signed(value: Any) -> bool:
    return isinstance(value, str) and any(p in value.lower() for p in _SIGNED)


__all__ = [
    "CONTACT_SHEET",
    "FILES",
    "FINAL_FILES",
    "METADATA",
    "SCHEMA",
    "NotPublishable",
    "fingerprint",
    "metadata",
    "scrub",
    "sources",
]
