"""Markdown for the Prefect UI with hostile manifest text in every place it can reach: nothing
becomes HTML, a link or a picture except the bucket's own presigned URLs, and all of it can
still be read."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from flows.approve import form_for
from moderation.approval import ApprovalRequest, PendingItem, describe, details, label
from tasks.artifacts import summary, table
from wanflow import markdown as md
from wanflow.report import ItemOutcome, Published, RunReport
from wanflow.settings import Settings

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>fetch('//evil')</script>",
    "[click me](javascript:alert(1))",
    "![](http://evil.example/beacon.gif)",
    "![x][ref]\n\n[ref]: http://evil.example/r.png",
    "<http://evil.example/auto>",
    "see http://evil.example/a and WWW.evil.example and ftp://evil.example",
    "mail me: someone@evil.example",
    "# heading\n> quote\n- list\n1. numbered",
    "**bold** _em_ `code` ~~gone~~ | a | b |",
    "&lt;img src=x onerror=alert(2)&gt; &#60;b&#62;",
    "line\u202eevil\u2066\x00\x1b[31mred",
    "\\<img src=x onerror=alert(3)>",
]
BUCKET = "http://s3.local/wanflow/"
DETAILS_URL = "http://ui/artifacts/artifact/0b6f5a52-4f0c-4bb1-9d7e-3f1a2b3c4d5e"
# A link or image Wanflow wrote: an escaped label (no bare bracket) and a target.
LINK = re.compile(r"!?\[(?:[^\[\]\\]|\\.)*\]\(([^)\s]*)\)")


@pytest.fixture(autouse=True)
def bucket(monkeypatch):
    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", "s3.local")
    monkeypatch.setenv("WANFLOW_S3_BUCKET", "wanflow")
    monkeypatch.setenv("WANFLOW_S3_SECURE", "false")


def _readable(markdown: str) -> str:
    """What a reader sees of escaped text: escapes resolved, entities decoded."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown))


def _plain(value: str) -> str:
    return " ".join(re.sub(r"[\x00-\x1f\u202e\u2066]", " ", value).split())


def _assert_safe(markdown: str, allowed=(BUCKET, DETAILS_URL)) -> None:
    assert not re.search(r"<[A-Za-z/!?]", markdown), markdown  # no raw HTML, no <autolink>
    for target in LINK.findall(markdown):
        assert target.startswith(allowed), target
    rest = LINK.sub("", markdown)
    assert not re.search(r"(?<!\\)[\[\]]", rest), rest  # no other link, image or reference
    assert not re.search(r"(?<!\\):(?=//)", rest), rest  # no bare URL a renderer would link
    assert not re.search(r"(?i)\bwww\.", rest), rest
    assert not re.search(r"(?<!\\)@", rest), rest  # no bare e-mail address either
    assert "\x00" not in markdown and "\x1b" not in markdown and "\u202e" not in markdown


def _request(hostile: str, url: str | None = None) -> ApprovalRequest:
    return ApprovalRequest(
        run_id="20261123T000000Z-abcd",
        flow_run_id="8f1c2d3e-0000-4000-8000-000000000001",
        manifest=f"{hostile}.json",
        deadline=datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
        details_url=DETAILS_URL,
        items=[
            PendingItem(
                id=hostile,
                title=hostile,
                prompt=hostile,
                verdict="review",
                reasons=[f"awaiting human review: {hostile}"],
                scores={hostile: 0.5},
                sheet_url=url or f"{BUCKET}work/sheet.jpg?X-Amz-Signature=1",
                clip_urls={1: url or f"{BUCKET}work/clip.mp4?X-Amz-Signature=2"},
            )
        ],
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_approval_markdown_is_shown_not_run(hostile):
    request = _request(hostile)
    for markdown in (describe(request), details(request, Settings())):
        _assert_safe(markdown)
    shown = _readable(details(request, Settings()))
    assert _plain(hostile) in shown  # escaped, not dropped
    _assert_plain_line(label(request.items[0]), hostile)
    assert f"{_plain(hostile)}.json" in _readable(describe(request))
    # The bucket's own links still work.
    assert f"]({BUCKET}work/sheet.jpg?X-Amz-Signature=1)" in details(request, Settings())
    assert re.search(
        rf"!\[contact sheet of .*\]\({BUCKET}work/sheet\.jpg", details(request, Settings())
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_approval_form_is_shown_not_run(hostile):
    form = form_for(_request(hostile))
    schema = form.model_json_schema(by_alias=True)
    for markdown in (form._description, schema["properties"]["reviewer"]["description"]):
        _assert_safe(markdown)
    # A field's title is shown as text, not markdown (checked in a real browser by
    # test_approval_ui.py): one plain line, the hostile text as written, not escaped.
    (item,) = (field for field in schema["properties"].values() if "enum" in field)
    _assert_plain_line(item["title"], hostile)


def _assert_plain_line(line: str, hostile: str) -> None:
    assert "\n" not in line and not re.search(
        r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", line
    )
    assert _plain(hostile)[:40] in line and "\\" not in line.replace(hostile, "")


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/wanflow/work/sheet.jpg",
        "https://s3.local/wanflow/work/sheet.jpg",  # the endpoint is http
        "http://s3.local/other-bucket/sheet.jpg",
        "http://s3.local.evil.example/wanflow/x.jpg",
        "http://user:pw@s3.local/wanflow/x.jpg",
        "javascript:alert(1)//s3.local/wanflow/",
        "http://s3.local/wanflow/x.jpg) ![](http://evil.example/b",
        "http://s3.local/wanflow/x.jpg\n![](http://evil.example/b)",
        "data:image/png;base64,AAAA",
        "http://s3.local/wanflow/../other-bucket/x.jpg",
        "http://s3.local/wanflow/%2e%2e/other-bucket/x.jpg",
    ],
)
def test_only_presigned_urls_of_the_configured_bucket_become_links(url):
    request = _request("item", url=url)
    text = details(request, Settings())
    _assert_safe(text)
    assert "evil" not in text and "](" + url not in text
    assert "contact sheet" not in text  # neither the link nor the picture, no dead link


def test_the_details_link_must_be_one_prefect_artifact():
    bad_urls = ("javascript:alert(1)", "http://ui/artifacts/artifact/42",
                f"{DETAILS_URL}?next=http://evil",
                "http://u:p@ui/artifacts/artifact/x")  # fmt: skip
    for bad in bad_urls:
        request = _request("item").model_copy(update={"details_url": bad})
        assert "](" not in describe(request)
        schema = form_for(request).model_json_schema(by_alias=True)
        assert "](" not in schema["properties"]["reviewer"].get("description", "")


def _report(hostile: str) -> RunReport:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    published = Published(
        prefix=f"published/2026-11-23/{hostile}/",
        files={},
        urls={
            "video.mp4": f"{BUCKET}published/v.mp4?X-Amz-Signature=1",
            "thumbnail.jpg": "http://evil.example/beacon.gif",
        },
        fingerprint="f",
        at=now,
    )
    return RunReport(
        run_id="r1",
        manifest=hostile,
        source_key="incoming/x.json",
        status="failed",
        error=hostile,
        started_at=now,
        stages={hostile: 1.0},
        items=[
            ItemOutcome(id=hostile, title=hostile, status="published", published=published),
            ItemOutcome(id=f"{hostile}-2", status="failed", reasons=[hostile]),
        ],
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_run_summary_is_shown_not_run(hostile):
    text = summary(_report(hostile), Settings())
    _assert_safe(text)
    assert f"[video]({BUCKET}published/v.mp4?X-Amz-Signature=1)" in text
    assert "(http://evil.example/beacon.gif)" not in text  # a foreign picture: not shown
    assert _readable(text).count(_plain(hostile)) >= 5  # title, error, stage, reason, heading


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_the_run_table_is_shown_not_run(hostile):
    from wanflow.ingest import IngestSummary, Rejection

    report = _report(hostile)
    report.items[1].review = None
    report.ingest = IngestSummary(
        source="x.csv", encoding="utf-8", format="csv",
        rejected=[Rejection(row=3, id=hostile, field="prompt", error=hostile)],
    )  # fmt: skip
    rows = table(report, Settings())
    for row in rows:
        for cell in row.values():
            _assert_safe(cell)
    assert rows[0]["link"] == f"[video]({BUCKET}published/v.mp4?X-Amz-Signature=1)"
    for row in rows:
        assert _plain(hostile) in _readable(row["item"])


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_reads_as_written(hostile):
    escaped = md.text(hostile)
    assert "\n" not in escaped and _readable(escaped) == _plain(hostile)
    _assert_safe(escaped)
    assert _readable(md.code(hostile)) == _plain(hostile)
    _assert_safe(md.code(hostile))


def test_plain_identifiers_stay_plain():
    assert (
        md.text("orion-hunt · 猎户 | 出猎 (0.41 ≥ 0.35)")
        == "orion-hunt · 猎户 \\| 出猎 (0.41 ≥ 0.35)"
    )
    assert md.code("stars.json") == "`stars.json`"
    assert md.text("1. first") == "1\\. first" and md.text("- x") == "\\- x"
