"""Faults the pipeline must survive, with the real parts: a run killed mid-generation and run
again, the S3 server restarted mid-run, and a manifest where every kind of item ends where it
should. (Two racing watchers: test_deployments; an approval timeout: test_approval.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import WANFLOW, lenient_review, make_storage, published_ids
from tests.faults import FaultProxy
from wanflow.localserver import LocalS3Server

pytestmark = pytest.mark.slow

STORIES = [
    {
        "id": "vega",
        "prompt": "织女星",
        "seed": 1,
        "narration": "织女在天河边织布。她抬头望向远方。",
    },
    {"id": "altair", "prompt": "牛郎星", "seed": 2, "narration": "牛郎挑着担子。他走过鹊桥。"},
    {"id": "deneb", "prompt": "天津四", "seed": 3, "narration": "天鹅展开翅膀。"},
]


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _clips(storage) -> set[str]:
    return {o.key for o in storage.list("work/clips/") if o.key.endswith("/clip.mp4")}


def _made(storage) -> set[str]:
    """The clips that count as made (their meta.json, written last, is stored), by mp4 key."""
    return {
        o.key.removesuffix("meta.json") + "clip.mp4"
        for o in storage.list("work/clips/")
        if o.key.endswith("/meta.json")
    }


def _settled(read, quiet_s: float = 1.0, timeout_s: float = 60):
    """``read()`` once two reads ``quiet_s`` apart agree: an upload a killed client had sent in
    full may still be landing on the server just after the client's death."""
    deadline, last = time.monotonic() + timeout_s, read()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still changing after {timeout_s} s: {last}")


def _port(server: LocalS3Server) -> int:
    return int(server.endpoint.rsplit(":", 1)[1])


def test_a_run_killed_during_generation_resumes_without_redoing_shots(
    prefect_api, wanflow_env, storage, tmp_path, monkeypatch
):
    manifest = tmp_path / "killed.json"
    manifest.write_text(json.dumps(STORIES, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # its own throwaway API
    log = tmp_path / "victim.log"
    with log.open("wb") as out:  # a file: a full pipe nobody reads would stall the run
        victim = subprocess.Popen(
            [WANFLOW, "run", str(manifest), "--auto-approve"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        # The first clip made in full (its meta.json is written last): from here on, the kill
        # may land anywhere, even between another clip's mp4 and its meta.json.
        _wait_for(lambda: bool(_made(storage)) or victim.poll() is not None, 300, "the first clip")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)  # the worker dies: no cleanup of any kind
        victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-4000:]
    before = _settled(lambda: _made(storage))  # what the killed run had made, and no more
    assert before and storage.exists("processing/killed.json")
    assert not list(storage.list("published/"))

    # The manifest stayed claimed in processing/; the operator (or a retry) runs it from there.
    from flows.produce_manifest import produce_manifest

    monkeypatch.setenv("WANFLOW_AUTO_APPROVE", "1")
    report = produce_manifest("processing/killed.json")
    assert report.status == "succeeded"
    assert [i.status for i in report.items] == ["published"] * 3
    clips = [c for i in report.items for c in i.clips]
    # The shots made before the kill were found, not rendered again; the rest (a clip.mp4 left
    # without its meta.json among them) were made now.
    assert {c.key for c in clips if c.cached} == before
    assert all(not c.cached for c in clips if c.key not in before)
    assert {c.key for c in clips} == _made(storage)
    assert published_ids(storage) == {"vega": 1, "altair": 1, "deneb": 1}
    assert storage.exists("processed/killed.json")

    # And once more from a fresh upload: nothing is rendered or published again.
    storage.put_bytes("incoming/killed.json", manifest.read_bytes())
    again = produce_manifest("incoming/killed.json")
    assert all(c.cached for i in again.items for c in i.clips)
    assert all(i.published.reused for i in again.items)
    assert published_ids(storage) == {"vega": 1, "altair": 1, "deneb": 1}


def test_the_s3_server_restarted_mid_run_is_ridden_out_by_retries(
    prefect_api, wanflow_env, tmp_path, monkeypatch, s3_credentials
):
    access, secret = s3_credentials
    data = tmp_path / "s3"
    server = LocalS3Server(data, access, secret).start()
    # Clients reach the server through a fixed address, as they would a load balancer: the
    # restarted server may come back on another port (the old one can linger in TIME_WAIT).
    proxy = FaultProxy(_port(server), plan=[]).__enter__()
    storage = make_storage(server)
    storage.ensure_bucket()
    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", proxy.endpoint)
    monkeypatch.setenv("WANFLOW_S3_BUCKET", storage.bucket)
    monkeypatch.setenv("WANFLOW_S3_BACKOFF_S", "0.5")  # 0.5, 1, 2, 4, 8 s: outlasts a restart
    monkeypatch.setenv("WANFLOW_AUTO_APPROVE", "1")
    storage.put_bytes("incoming/restart.json", json.dumps(STORIES[:2]).encode())
    from flows.produce_manifest import produce_manifest

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = produce_manifest("incoming/restart.json")
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    restarted = None
    try:
        _wait_for(lambda: bool(_clips(storage)), 300, "the first clip")
        server.stop()  # mid-generation: uploads, reads and the claim record all go dark
        time.sleep(2)
        restarted = LocalS3Server(data, access, secret).start()
        proxy.target = ("127.0.0.1", _port(restarted))
        thread.join(timeout=600)
    finally:
        proxy.__exit__(None, None, None)
        (restarted or server).stop()
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert report.status == "succeeded", report.error
    assert [i.status for i in report.items] == ["published", "published"], [
        i.reasons for i in report.items
    ]


def test_a_manifest_of_every_kind_of_item_ends_each_where_it_should(
    prefect_api, wanflow_env, storage, monkeypatch, clip_checkpoint
):
    rows = (
        "编号,提示词,旁白,需要审核,音色\n"
        "ok,星空,夜空中繁星闪烁。,否,\n"
        ",,,否,\n"  # a row with no prompt: rejected with the reason, the rest go on
        "bad-seed,星空,,否,festival:kal\n"  # an unknown TTS engine: a row error at ingest
        "gory,血腥的屠杀,,否,\n"  # blocked by the text screen before any GPU time
        "sign,月亮,月亮升起。,是,\n"  # needs a person; nobody answers (timeout 0): held
        "mute,太阳,太阳落山。,否,piper:nobody\n"  # a voice that is not installed: failed
    )
    lenient_review(monkeypatch, clip_checkpoint)  # the classifiers run and pass clean items
    storage.put_bytes("incoming/kinds.csv", rows.encode("utf-8"))
    from flows.produce_manifest import produce_manifest

    report = produce_manifest("incoming/kinds.csv")
    assert report.status == "succeeded"
    ended = {i.id: (i.status, i.reasons) for i in report.items}
    assert set(ended) == {"ok", "gory", "sign", "mute"}
    assert ended["ok"] == ("published", [])
    assert ended["sign"] == (
        "held",
        ["awaiting approval: the item requires it",
         "no wait for a reviewer (approval timeout 0): held, not published"],
    )  # fmt: skip
    assert ended["gory"][0] == "blocked" and "(violence)" in ended["gory"][1][0]
    assert ended["mute"] == (
        "failed",
        ["narrate: TTSError: Piper voice 'nobody' is not installed "
         "(WANFLOW_PIPER_VOICE_DIR is not set)"],
    )  # fmt: skip
    rejected = {(r.row, r.field) for r in report.rejected}
    assert (3, "prompt") in rejected and (4, "voice") in rejected
    # Only the clean item is published; nothing unreviewed or unapproved ever is.
    assert published_ids(storage) == {"ok": 1}
    stored = json.loads(storage.get_bytes(report.key))
    assert {i["id"]: i["status"] for i in stored["items"]} == {k: v[0] for k, v in ended.items()}
