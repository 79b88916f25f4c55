"""Claims against the real S3 server: every upload to incoming/ is claimed exactly once, and
none replaces another, whatever its name, its bytes or its timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import EXAMPLES, ROOT, WANFLOW


def test_an_identical_reupload_in_the_same_second_is_a_new_claim(storage):
    data = b"prompt\nthe same bytes\n"
    for _ in range(20):  # until both uploads carry the same whole-second time
        storage.put_bytes("incoming/same.csv", data)
        first = storage.stat("incoming/same.csv")
        claimed = storage.claim("incoming/same.csv", owner="a")
        assert claimed is not None
        storage.put_bytes("incoming/same.csv", data)
        second = storage.stat("incoming/same.csv")
        if int(first.last_modified.timestamp()) == int(second.last_modified.timestamp()):
            break
        storage.claim("incoming/same.csv", owner="a")
        for o in storage.list("processing/"):
            storage.delete(o.key)
    again = storage.claim("incoming/same.csv", owner="b")
    assert again is not None, "the re-upload was never claimable"
    assert again.record != claimed.record
    assert not storage.exists("incoming/same.csv")
    assert storage.claim("incoming/same.csv", owner="c") is None


def test_two_manifests_of_one_name_are_both_kept(storage, monkeypatch):
    from tasks.manifest import finish_manifest
    from wanflow.settings import Settings

    storage.put_bytes("incoming/daily.csv", b"prompt\nfirst\n")
    first = storage.claim("incoming/daily.csv", owner="a")
    storage.put_bytes("incoming/daily.csv", b"prompt\nsecond\n")
    second = storage.claim("incoming/daily.csv", owner="b")
    assert first is not None and second is not None
    assert first.key == "processing/daily.csv"
    assert second.key != first.key and second.key.endswith(".csv")
    assert storage.get_bytes(first.key) == b"prompt\nfirst\n"
    assert storage.get_bytes(second.key) == b"prompt\nsecond\n"

    # Filing keeps both too, in either order, and filing again (a retried task) is a no-op.
    monkeypatch.setattr("tasks.manifest.storage", lambda settings: storage)
    settings = Settings()
    done_second = finish_manifest.fn(second.key, True, settings)
    done_first = finish_manifest.fn(first.key, True, settings)
    finish_manifest.fn(first.key, True, settings)
    assert len(list(storage.list("processed/"))) == 2
    assert done_first != done_second
    assert {storage.get_bytes(done_first), storage.get_bytes(done_second)} == {
        b"prompt\nfirst\n",
        b"prompt\nsecond\n",
    }
    assert list(storage.list("processing/")) == []


_WORKER = """
import json, sys, time
from pathlib import Path
from wanflow.storage import Storage
endpoint, access, secret, bucket, folder, me, rounds = sys.argv[1:8]
store = Storage(endpoint, access, secret, bucket, retries=3, backoff_s=0.05)
store.check_conditional_writes()
folder = Path(folder)
(folder / f"ready-{me}").write_text("")
for n in range(int(rounds)):
    while not (folder / f"go-{n}").exists():
        time.sleep(0.005)
    claim = store.claim("incoming/race.csv", owner=f"process-{me}")
    result = {"won": claim is not None, "key": claim.key if claim else None}
    (folder / f"result-{n}-{me}.tmp").write_text(json.dumps(result))
    (folder / f"result-{n}-{me}.tmp").rename(folder / f"result-{n}-{me}")
"""


def _wait_for(path, deadline_s: float = 120.0):
    end = time.monotonic() + deadline_s
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.02)


def test_two_processes_claim_each_upload_exactly_once(s3_server, storage, tmp_path):
    """Two claimant processes, released together for each upload; every upload of one name (the
    same bytes each time) is claimed by exactly one of them and none is lost."""
    rounds = 5
    server = [s3_server.endpoint, s3_server.access_key, s3_server._secret_key, storage.bucket]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *server, str(tmp_path), str(i), str(rounds)], cwd=ROOT
        )
        for i in range(2)
    ]
    try:
        for i in range(2):
            _wait_for(tmp_path / f"ready-{i}")
        for n in range(rounds):
            storage.put_bytes("incoming/race.csv", b"prompt\nthe same every time\n")
            (tmp_path / f"go-{n}").write_text("")
            results = []
            for i in range(2):
                _wait_for(tmp_path / f"result-{n}-{i}")
                results.append(json.loads((tmp_path / f"result-{n}-{i}").read_text()))
            winners = [r for r in results if r["won"]]
            assert len(winners) == 1, f"upload {n}: {results}"
            assert not storage.exists("incoming/race.csv")
    finally:
        for worker in workers:
            worker.wait(timeout=60)
    claimed = [o.key for o in storage.list("processing/")]
    assert len(claimed) == rounds  # one per upload: none replaced another


def _submit(*args):
    import os

    return subprocess.run(
        [WANFLOW, "submit", *args], capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_submit_refuses_to_replace_a_waiting_manifest(wanflow_env, storage):
    source = EXAMPLES / "constellations.csv"
    assert _submit(str(source)).returncode == 0
    refused = _submit(str(source))
    assert refused.returncode == 2, refused.stderr
    assert "--replace" in refused.stderr and "waiting" in refused.stderr
    replaced = _submit(str(source), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert storage.get_bytes("incoming/constellations.csv") == source.read_bytes()


def test_a_claimant_that_stalled_behind_the_winner_takes_nothing(s3_server, storage, monkeypatch):
    """It saw upload A, the winner claimed A, B was uploaded: the late claimant must neither take
    A again nor take B under A's claim; B waits for a claim of its own."""
    from tests.conftest import make_storage

    storage.put_bytes("incoming/late.csv", b"prompt\nA\n")
    seen = storage.stat("incoming/late.csv")
    assert storage.claim("incoming/late.csv", owner="winner") is not None
    storage.put_bytes("incoming/late.csv", b"prompt\nB\n")
    late = make_storage(s3_server, bucket=storage.bucket)
    stat = late.stat
    monkeypatch.setattr(late, "stat", lambda key: seen if key == "incoming/late.csv" else stat(key))
    assert late.claim("incoming/late.csv", owner="late") is None
    assert storage.get_bytes("incoming/late.csv") == b"prompt\nB\n"
    b = storage.claim("incoming/late.csv", owner="next")
    assert b is not None and storage.get_bytes(b.key) == b"prompt\nB\n"
