"""Human approval, without Prefect: who waits, what reviewers are shown, what they decided.

The flow pauses with a form built from :class:`PendingItem` s; the CLI checks a decision against
the same list before it resumes the run, so that a typo is refused here instead of by the server.
Every decision, automatic or human, becomes an :class:`AuditEntry`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from wanflow import markdown as md
from wanflow.settings import Settings

Choice = Literal["approve", "reject", "undecided"]
Stage = Literal["screen", "review", "approval"]
Outcome = Literal["pass", "review", "block", "approve", "reject", "hold"]

#: the record the flow stores beside a pause, for ``wanflow approvals``
RECORD_SUFFIX = "wanflow-approval"
_PROMPT_CHARS = 240


class PendingItem(BaseModel):
    """An item waiting for a person, with what that person needs to decide."""

    id: str
    title: str | None = None
    prompt: str = ""
    verdict: Literal["pass", "review"] = Field(description="the policy's; block never waits")
    reasons: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    sheet_url: str | None = None
    clip_urls: dict[int, str] = Field(default_factory=dict, description="shot → clip link")
    video_url: str | None = Field(
        None, description="the finished video (narration, music, subtitles): what is judged"
    )


class ApprovalRequest(BaseModel):
    """What one pause asks for; stored with the pause so that any process can list it."""

    run_id: str
    flow_run_id: str
    manifest: str
    round: int = Field(1, description="1 for the first pause; undecided items wait again")
    deadline: datetime
    items: list[PendingItem]
    details_url: str | None = Field(
        None, description="the round's markdown artifact in the Prefect UI: sheets, prompts"
    )

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]


class AuditEntry(BaseModel):
    """One decision about one item: who (a person or a Wanflow component), when, why."""

    key: str = Field(description="stable across reruns, so a replayed decision is logged once")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    run_id: str
    flow_run_id: str | None = None
    manifest: str
    item_id: str
    stage: Stage
    decision: Outcome
    actor: str
    automatic: bool
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""


class DecisionError(ValueError):
    """A decision that does not fit the request (unknown or twice-named items, none at all)."""


def check_decision(
    pending: Sequence[str], approve: Iterable[str], reject: Iterable[str]
) -> dict[str, Choice]:
    """The per-item choices a reviewer's ``--approve``/``--reject`` lists mean."""
    approve, reject = list(dict.fromkeys(approve)), list(dict.fromkeys(reject))
    if not approve and not reject:
        raise DecisionError("nothing to decide: name items with --approve and/or --reject")
    both = sorted(set(approve) & set(reject))
    if both:
        raise DecisionError(f"approved and rejected at once: {', '.join(both)}")
    unknown = [i for i in approve + reject if i not in pending]
    if unknown:
        raise DecisionError(
            f"not waiting for a decision: {', '.join(unknown)}; "
            f"waiting: {', '.join(pending) or '(none)'}"
        )
    return {i: "approve" for i in approve} | {i: "reject" for i in reject}


def brief(reasons: Sequence[str], limit: int = 90) -> str:
    """The distinct reasons in a few words, for a form label or an 80-column line: a failed
    classifier by name and error class (not its message), scores without their source, each
    reason cut short, and how many more there are."""
    short: list[str] = []
    for reason in reasons:
        text = _short(reason)
        if text not in short:
            short.append(text)
    line = ""
    for n, text in enumerate(short):
        candidate = f"{line}; {text}" if line else text
        more = len(short) - n - 1
        if len(candidate) + (len(f" (+{more} more)") if more else 0) > limit and line:
            return f"{line} (+{len(short) - n} more)"
        line = candidate
    return line or "no reason given"


# "classifier failed, a person must look: zeroshot: ClassifierError: no weights …"
_FAILED = re.compile(
    r"classifier failed, a person must look: ([\w.-]+):\s*(\w*(?:Error|Exception|Timeout)\b)?.*$"
)
# "violence 0.41 at 2.0 s (open_clip) → review": the source and the outcome go
_SOURCE = re.compile(r" \([\w.:/-]+\) → \w+$")


def _short(reason: str) -> str:
    text = " ".join(reason.split())
    for prefix in ("awaiting human review: ", "awaiting approval: "):
        text = text.removeprefix(prefix)
    failed = _FAILED.search(text)
    if failed:
        kind = f" ({failed[2]})" if failed[2] else ""
        text = f"{text[: failed.start()]}{failed[1]} failed{kind}"
    text = _SOURCE.sub("", text)
    return text if len(text) <= 48 else text[:47] + "…"


def label(item: PendingItem) -> str:
    """One short line per item, as the form's field label: id, title, verdict, why. Plain text:
    Prefect shows a field's title as text (a markdown escape would show as a backslash)."""
    title = f" · {md.plain(item.title)[:40]}" if item.title else ""
    return f"{md.plain(item.id)}{title} — {item.verdict}: {md.plain(brief(item.reasons))}"


def describe(request: ApprovalRequest) -> str:
    """The form's description: a few short lines (Prefect's form squeezes a long description
    to nothing); the detail is in the round's artifact it links to."""
    lines = [
        f"**{len(request.items)} item(s) of {md.code(request.manifest)} await a decision** "
        f"(round {request.round}, until {request.deadline.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
        "undecided items then stay held, rejected ones are never published).",
        "",
    ]
    if md.artifact_url(request.details_url):
        details_link = md.link(
            "Contact sheets, clips, prompts and scores", request.details_url, md.artifact_url
        )
        lines += [f"**{details_link}**", ""]
    lines.append(f"Shell: {_decide(request)}")
    return "\n".join(lines) + "\n"


def details(request: ApprovalRequest, settings: Settings) -> str:
    """The round's markdown artifact: per item the contact sheet inline, links to the sheet
    and each shot's clip, the prompt, the verdict with every distinct reason, the scores.
    ``settings`` are the run's: only their bucket's links are written."""
    ours = md.bucket_urls(settings)
    lines = [
        f"# Approval round {request.round}: {md.code(request.manifest)}",
        "",
        f"Run {md.code(request.run_id)}. Undecided items wait until "
        f"{request.deadline.astimezone(UTC):%Y-%m-%d %H:%M} UTC, then stay held and are not "
        "published. Rejected items are never published. Decide in the run's *Resume* form or "
        f"with {_decide(request)}.",
    ]
    for item in request.items:
        heading = f"## {md.code(item.id)}" + (f" — {md.text(item.title)}" if item.title else "")
        prompt = " ".join(item.prompt.split())
        prompt = prompt if len(prompt) <= _PROMPT_CHARS else prompt[: _PROMPT_CHARS - 1] + "…"
        lines += ["", heading, "", f"> {md.text(prompt)}", ""]
        lines.append(f"- **verdict:** {item.verdict}")
        lines += [f"  - {md.text(reason)}" for reason in dict.fromkeys(item.reasons)]
        if item.scores:
            top = sorted(item.scores.items(), key=lambda kv: -kv[1])
            scores = ", ".join(f"{md.text(c)} {s:.2f}" for c, s in top)
            lines.append(f"- **scores:** {scores}")
        # Only the bucket's own presigned links: a URL from anywhere else is shown as nothing.
        links = [md.link("finished video", item.video_url, ours)] if ours(item.video_url) else []
        if ours(item.sheet_url):
            links.append(md.link("contact sheet", item.sheet_url, ours))
        links += [
            md.link(f"shot {n} clip", url, ours)
            for n, url in sorted(item.clip_urls.items())
            if ours(url)
        ]
        if links:
            lines.append("- **open:** " + " · ".join(links))
        sheet = md.image(f"contact sheet of {item.id}", item.sheet_url, ours)
        if sheet:
            lines += ["", sheet]
    return "\n".join(lines) + "\n"


def _decide(request: ApprovalRequest) -> str:
    return md.code(f"wanflow approvals decide {request.flow_run_id} --approve ID --reject ID")
