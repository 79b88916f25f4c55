"""Publication rules and the signed callback, with a real HTTP receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import HttpReceiver
from wanflow.callback import SIGNATURE_HEADER, TIMESTAMP_HEADER, post, sign, verify
from wanflow.publication import FILES, NotPublishable, fingerprint, sources
from wanflow.report import Approval, Clip, Final, ItemOutcome, Narration, Review

FINAL = Final(
    files={n: f"work/r/a/final/{n}" for n in ("video.mp4", "subtitles.srt", "subtitles.vtt",
                                              "thumbnail.jpg", "poster.jpg")},
    duration_s=5.0,
    normalization="linear",
)  # fmt: skip


def _clip(shot: int, digest: str) -> Clip:
    return Clip(
        shot=shot, key=f"work/clips/{digest}/clip.mp4", last_frame_key="k", hash=digest,
        model="tiny", device="cpu", plan="full", width=64, height=64, frames=17, fps=16,
        cached=False, load_s=1.0, step_s=0.1, render_s=2.0,
    )  # fmt: skip


def _outcome(decision="pass", approval=None, final=FINAL, sheet="work/r/a/sheet.jpg"):
    return ItemOutcome(
        id="a",
        status="composed",
        review=Review(decision=decision, sheet_key=sheet),
        approval=Approval(decision=approval, actor="ann", at=datetime.now(UTC))
        if approval
        else None,
        final=final,
        clips=[_clip(2, "bb"), _clip(1, "aa")],
        narration=Narration(voice="espeak", rate=1.0, speech_s=[1.0, 2.0], files={"x": "y"}),
    )


def test_sources_are_the_finished_files_and_the_contact_sheet():
    found = sources(_outcome())
    assert list(found) == list(FILES)
    assert found["contact_sheet.jpg"] == "work/r/a/sheet.jpg"
    assert sources(_outcome("review", "approve"))["video.mp4"] == "work/r/a/final/video.mp4"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (_outcome("review"), "neither passed review nor was approved"),
        (_outcome("review", "hold"), "neither passed review nor was approved"),
        (_outcome("block", "approve"), "neither passed review nor was approved"),
        (_outcome("pass", "reject"), "was not approved"),
        (_outcome(final=None), "no finished video"),
        (_outcome(sheet=None), "lacks contact_sheet.jpg"),
        (ItemOutcome(id="a", status="composed", final=FINAL), "never reviewed"),
    ],
)
def test_nothing_unreviewed_or_unapproved_is_publishable(outcome, message):
    with pytest.raises(NotPublishable, match=message):
        sources(outcome)


def test_fingerprint_follows_what_decides_the_video():
    plan = {"item_id": "a", "shots": [{"prompt": "p"}]}
    base = fingerprint("m.csv", _outcome(), plan)
    moved = _outcome()
    moved.narration.files = {"other": "run"}  # same speech, another run's keys
    moved.clips.reverse()
    assert fingerprint("m.csv", moved, plan) == base
    assert fingerprint("m.csv", _outcome(), {**plan, "seed": 2}) != base
    slower = _outcome()
    slower.narration.rate = 0.9
    assert fingerprint("m.csv", slower, plan) != base
    assert fingerprint("n.csv", _outcome(), plan) != base


@pytest.fixture
def receiver():
    made = []

    def make(statuses):
        made.append(HttpReceiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_callback_is_signed_and_retried_on_server_errors(receiver):
    hook = receiver([503, 500, 200])
    sleeps = []
    result = post(
        hook.url, {"run": "r1", "title": "星空"}, "s3cret", allow_hosts=["127.0.0.1"],
        sleep=sleeps.append,
    )  # fmt: skip
    assert (result.delivered, result.status_code, result.attempts) == (True, 200, 3)
    assert sleeps == [1.0, 2.0]
    headers, body = hook.requests[-1]
    assert json.loads(body) == {"run": "r1", "title": "星空"}
    assert verify("s3cret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify("other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify("s3cret", headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER])
    stale = "1000000000"
    assert not verify("s3cret", stale, body, sign("s3cret", int(stale), body))


def test_callback_gives_up_on_a_client_error_and_reports_unreachable(receiver):
    hook = receiver([404])
    refused = post(hook.url, {}, "k", allow_hosts=["127.0.0.1"], sleep=lambda s: None)
    assert (refused.delivered, refused.status_code, refused.attempts) == (False, 404, 1)
    assert refused.error.startswith("HTTP 404")
    hook.close()
    gone = post(
        hook.url, {}, "k", allow_hosts=["127.0.0.1"], retries=2, timeout_s=2,
        sleep=lambda s: None,
    )  # fmt: skip
    assert (gone.delivered, gone.status_code, gone.attempts) == (False, None, 3)
    assert "ConnectError" in gone.error


class _Recording:
    """The real storage, with every write recorded in order."""

    def __init__(self, store) -> None:
        self.store, self.writes = store, []

    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if name in ("copy", "put_bytes", "put_file", "delete"):

            def recorded(*args, **kwargs):
                key = args[1] if name == "copy" else args[0]
                self.writes.append((name, key))
                return attr(*args, **kwargs)

            return recorded
        return attr


def _document(print_: str, run: str = "r1") -> dict:
    return {"fingerprint": print_, "run_id": run, "manifest": "m.csv",
            "published_at": datetime.now(UTC).isoformat()}  # fmt: skip


def test_publish_writes_metadata_last_and_never_twice(prefect_api, wanflow_env, storage,
                                                      monkeypatch):  # fmt: skip
    from datetime import date

    import tasks.publish as publish
    from wanflow.settings import current_settings

    recording = _Recording(storage)
    monkeypatch.setattr(publish, "storage", lambda settings: recording)
    settings = current_settings()
    srcs = {}
    for name in FILES:
        srcs[name] = f"work/r1/a/final/{name}"
        storage.put_bytes(srcs[name], name.encode())
    day = date(2026, 11, 23)
    first = publish.publish_item(day, "a", srcs, _document("f1"), settings)
    assert not first.reused and first.prefix == "published/2026-11-23/a/"
    published = [key for op, key in recording.writes if key.startswith("published/")]
    assert published[-1] == "published/2026-11-23/a/metadata.json"
    assert len(published) == len(FILES) + 1
    assert storage.get_bytes("published/2026-11-23/a/video.mp4") == b"video.mp4"

    # A rerun (even the next day) finds the same fingerprint: nothing is written again.
    recording.writes.clear()
    again = publish.publish_item(date(2026, 11, 24), "a", srcs, _document("f1", "r2"), settings)
    assert again.reused and again.prefix == first.prefix
    assert not [k for _, k in recording.writes if k.startswith("published/")]
    assert not list(storage.list("published/2026-11-24/"))

    # Another version under the same id and day is refused, naming the earlier run...
    with pytest.raises(publish.AlreadyPublished, match=r"run r1, manifest m\.csv"):
        publish.publish_item(day, "a", srcs, _document("f2", "r3"), settings)
    # ...unless the operator allows replacing: metadata goes first, then data, then metadata.
    monkeypatch.setenv("WANFLOW_REPUBLISH", "true")
    recording.writes.clear()
    replaced = publish.publish_item(day, "a", srcs, _document("f2", "r3"), current_settings())
    assert not replaced.reused
    ops = [(op, key.rsplit("/", 1)[1]) for op, key in recording.writes
           if key.startswith("published/")]  # fmt: skip
    assert ops[0] == ("delete", "metadata.json") and ops[-1] == ("put_bytes", "metadata.json")
    meta = json.loads(storage.get_bytes("published/2026-11-23/a/metadata.json"))
    assert meta["fingerprint"] == "f2"


def test_artifacts_table_and_summary_say_where_each_item_ended(monkeypatch):
    from tasks.artifacts import artifact_key, summary, table
    from wanflow.ingest import IngestSummary, Rejection
    from wanflow.report import Published, RunReport
    from wanflow.settings import Settings

    # The summary links only to presigned URLs of the configured bucket.
    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", "s3")
    monkeypatch.setenv("WANFLOW_S3_BUCKET", "wanflow")
    settings = Settings()

    report = RunReport(
        run_id="r1", manifest="星空 Night.csv", source_key="incoming/x.csv",
        started_at=datetime(2026, 11, 23, tzinfo=UTC), status="succeeded",
    )  # fmt: skip
    done = _outcome()
    done.status, done.title = "published", "Stars"
    done.published = Published(
        prefix="published/2026-11-23/a/",
        files={"video.mp4": "published/2026-11-23/a/video.mp4"},
        urls={"video.mp4": "http://s3/wanflow/v?sig", "thumbnail.jpg": "http://s3/wanflow/t?sig"},
        fingerprint="f",
        at=datetime.now(UTC),
    )
    held = ItemOutcome(id="b", status="held", reasons=["awaiting approval: the item requires it"])
    report.items = [done, held]
    report.ingest = IngestSummary(
        source="x.csv", encoding="utf-8", format="csv", rows=3, valid=2, rejected_rows=1,
        rejected=[Rejection(row=3, field="prompt", error="required")],
    )  # fmt: skip
    rows = table(report, settings)
    assert [(r["item"], r["status"], r["link"]) for r in rows] == [
        ("a", "published", "[video](http://s3/wanflow/v?sig)"), ("b", "held", ""),
        ("row 3", "rejected", ""),
    ]  # fmt: skip
    assert rows[1]["reason"] == "awaiting approval: the item requires it"
    text = summary(report, settings)
    assert "![a](http://s3/wanflow/t?sig)" in text and "[video](http://s3/wanflow/v?sig)" in text
    assert "**b** (held): awaiting approval" in text
    assert artifact_key(report.manifest, "items") == "wanflow-night-csv-items"


def test_what_is_published_holds_no_links_or_signed_queries():
    from wanflow.publication import scrub

    signed = "http://s3:9000/wanflow/work/r/a/sheet.jpg?X-Amz-Credential=k&X-Amz-Signature=s"
    document = {
        "review": {"decision": "pass", "sheet_url": signed, "sheet_key": "work/r/a/sheet.jpg"},
        "urls": {"video.mp4": signed},
        "notes": [signed, "星空"],
        "item": {"callback_url": "https://hooks.example/x?token=t", "prompt": "星空"},
        "odd": signed.replace("X-Amz-", "x-amz-"),
    }
    assert scrub(document) == {
        "review": {"decision": "pass", "sheet_key": "work/r/a/sheet.jpg"},
        "notes": ["星空"],
        "item": {"prompt": "星空"},
    }
