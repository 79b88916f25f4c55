"""Human approval, without Prefect: who waits, what reviewers are shown, what they decided.

The flow pauses with a form built from :class:`PendingItem` s; the CLI checks a decision against
the same list before it resumes the run, so that a typo is refused here instead of by the server.
Every decision, automatic or human, becomes an :class:`AuditEntry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

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


class ApprovalRequest(BaseModel):
    """What one pause asks for; stored with the pause so that any process can list it."""

    run_id: str
    flow_run_id: str
    manifest: str
    round: int = Field(1, description="1 for the first pause; undecided items wait again")
    deadline: datetime
    items: list[PendingItem]

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


def describe(request: ApprovalRequest) -> str:
    """The form's markdown: one section per item, with the verdict, scores and contact sheet."""
    lines = [
        f"## {len(request.items)} item(s) of `{request.manifest}` await a decision",
        "",
        f"Run `{request.run_id}`. Undecided items wait until "
        f"{request.deadline.astimezone(UTC):%Y-%m-%d %H:%M} UTC, then stay held and are not "
        "published. Rejected items are never published.",
        "",
        "From a shell: `wanflow approvals decide "
        f"{request.flow_run_id} --approve ID... --reject ID... --comment TEXT`",
    ]
    for item in request.items:
        heading = f"### `{item.id}`" + (f" — {_inline(item.title)}" if item.title else "")
        prompt = item.prompt if len(item.prompt) <= _PROMPT_CHARS else item.prompt[:239] + "…"
        lines += ["", heading, "", f"> {_inline(prompt)}", ""]
        why = "; ".join(item.reasons) or "no reason given"
        lines.append(f"- **verdict:** {item.verdict} — {_inline(why)}")
        if item.scores:
            top = sorted(item.scores.items(), key=lambda kv: -kv[1])
            lines.append("- **scores:** " + ", ".join(f"{c} {s:.2f}" for c, s in top))
        if item.sheet_url:
            lines.append(f"- **contact sheet:** [open]({item.sheet_url})")
    return "\n".join(lines) + "\n"


def _inline(text: str) -> str:
    """One markdown line: no newlines, no characters that open markup."""
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")
