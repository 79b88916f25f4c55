"""Storage against a real S3 server: the same code Wanflow runs against MinIO."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import make_storage
from tests.faults import FaultProxy
from wanflow import keys
from wanflow.errors import (
    ObjectNotFoundError,
    PermanentStorageError,
    PreconditionFailedError,
    TransientStorageError,
)


def test_bytes_round_trip_with_type_and_chinese_metadata(storage):
    etag = storage.put_bytes(
        "work/run/item/a.json", b'{"a": 1}', metadata={"title": "猎户座 100% 完成"}
    )
    info = storage.stat("work/run/item/a.json")
    assert info.etag == etag
    assert info.size == 8
    assert info.content_type == "application/json"
    assert info.metadata == {"title": "猎户座 100% 完成"}
    assert storage.get_bytes("work/run/item/a.json") == b'{"a": 1}'


def test_large_file_goes_multipart_and_downloads_intact(s3_server, storage, tmp_path):
    source = tmp_path / "big.bin"
    payload = os.urandom(12 * 2**20 + 123)
    source.write_bytes(payload)
    store = make_storage(s3_server, bucket=storage.bucket, part_size_mb=5)
    etag = store.put_file("work/run/item/big.bin", source)
    # A multipart upload's ETag is "<md5 of part md5s>-<number of parts>".
    assert etag.endswith("-3")
    target = store.download("work/run/item/big.bin", tmp_path / "copy" / "big.bin")
    assert target.read_bytes() == payload


def test_exists_stat_and_listing_by_prefix(storage):
    for key in ("incoming/a.csv", "incoming/sub/b.json", "processing/c.csv"):
        storage.put_bytes(key, b"x")
    assert storage.exists("incoming/a.csv")
    assert not storage.exists("incoming/nope.csv")
    assert [o.key for o in storage.list("incoming/")] == ["incoming/a.csv", "incoming/sub/b.json"]
    shallow = list(storage.list("incoming/", recursive=False))
    assert [(o.key, o.is_dir) for o in shallow] == [
        ("incoming/a.csv", False),
        ("incoming/sub/", True),
    ]
    with pytest.raises(ObjectNotFoundError, match="NoSuchKey"):
        storage.stat("incoming/nope.csv")


def test_missing_key_fails_at_once_without_retrying(s3_server, storage):
    start = time.monotonic()
    store = make_storage(s3_server, bucket=storage.bucket, retries=5, backoff_s=1.0)
    with pytest.raises(ObjectNotFoundError, match="NoSuchKey"):
        store.get_bytes("work/none.bin")
    assert time.monotonic() - start < 1.0  # a permanent error is not retried


def test_missing_bucket_is_permanent_and_named(s3_server):
    store = make_storage(s3_server, bucket="no-such-bucket-here")
    with pytest.raises(ObjectNotFoundError, match="NoSuchBucket"):
        store.get_bytes("incoming/a.csv")


def test_wrong_secret_is_refused_with_a_hint(s3_server, storage):
    from wanflow.storage import Storage

    store = Storage(s3_server.endpoint, s3_server.access_key, "wrong-secret", storage.bucket)
    with pytest.raises(PermanentStorageError) as caught:
        store.put_bytes("incoming/a.csv", b"x")
    assert "SECRET_KEY" in str(caught.value) or "AccessDenied" in str(caught.value)
    assert not isinstance(caught.value, TransientStorageError)


def test_anonymous_request_is_refused(storage):
    storage.put_bytes("published/x/video.mp4", b"secret video")
    url = f"http://{storage.endpoint}/{storage.bucket}/published/x/video.mp4"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(url, data=b"overwrite", method="PUT"), timeout=10
        )
    assert caught.value.code == 403
    assert storage.get_bytes("published/x/video.mp4") == b"secret video"


def test_presigned_url_works_over_http_until_it_expires(storage):
    storage.put_bytes("published/2026-01-01/item/video.mp4", b"frames", content_type="video/mp4")
    url = storage.presigned_get("published/2026-01-01/item/video.mp4", expiry_s=2)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"frames"
        assert response.headers["Content-Type"] == "video/mp4"
    tampered = url.replace("video.mp4", "video.mp5")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(tampered, timeout=10)
    assert caught.value.code == 403
    time.sleep(3.1)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 403


def test_presign_expiry_is_bounded(storage):
    with pytest.raises(ValueError, match="7 days"):
        storage.presigned_get("published/x", expiry_s=8 * 24 * 3600)


def test_conditional_write_refuses_an_existing_key(storage):
    storage.put_bytes("work/claims/x.json", b"1", if_absent=True)
    with pytest.raises(PreconditionFailedError):
        storage.put_bytes("work/claims/x.json", b"2", if_absent=True)
    assert storage.get_bytes("work/claims/x.json") == b"1"


@pytest.mark.parametrize(
    "bad",
    ["incoming/../reports/x.json", "/incoming/a.csv", "incoming//a.csv", "incoming/./a", "a\x00b"],
)
def test_unsafe_keys_are_refused_before_any_request(storage, bad):
    with pytest.raises(keys.InvalidKeyError):
        storage.put_bytes(bad, b"x")


def test_claim_moves_the_manifest_once(storage):
    storage.put_bytes("incoming/星座.csv", b"prompt\nx\n")
    claim = storage.claim("incoming/星座.csv", owner="a")
    assert claim is not None
    assert claim.key == "processing/星座.csv"
    assert not storage.exists("incoming/星座.csv")
    assert storage.get_bytes("processing/星座.csv") == b"prompt\nx\n"
    assert storage.claim("incoming/星座.csv", owner="b") is None


def test_a_new_upload_under_the_same_name_is_a_new_claim(storage):
    storage.put_bytes("incoming/daily.csv", b"prompt\nfirst\n")
    assert storage.claim("incoming/daily.csv", owner="a") is not None
    storage.move("processing/daily.csv", "processed/daily.csv")
    storage.put_bytes("incoming/daily.csv", b"prompt\nsecond\n")
    second = storage.claim("incoming/daily.csv", owner="b")
    assert second is not None
    assert storage.get_bytes(second.key) == b"prompt\nsecond\n"


def test_racing_claimants_have_exactly_one_winner(s3_server, storage):
    rounds, claimants = 8, 6
    for n in range(rounds):
        storage.put_bytes(f"incoming/race-{n}.csv", b"prompt\nx\n")
    # Separate clients (own connection pools), released together by a barrier.
    clients = [make_storage(s3_server, bucket=storage.bucket) for _ in range(claimants)]
    for n in range(rounds):
        barrier = threading.Barrier(claimants)

        def attempt(i, n=n, barrier=barrier):
            barrier.wait()
            return clients[i].claim(f"incoming/race-{n}.csv", owner=f"claimant-{i}")

        with ThreadPoolExecutor(claimants) as pool:
            results = list(pool.map(attempt, range(claimants)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, f"round {n}: {len(winners)} winners"
        assert storage.exists(f"processing/race-{n}.csv")
        assert not storage.exists(f"incoming/race-{n}.csv")


def test_transient_faults_are_retried_until_the_request_succeeds(s3_server, storage):
    storage.put_bytes("work/x.bin", b"payload")
    with FaultProxy(s3_server.port, ["reset", "503", "reset"]) as proxy:
        store = make_storage(s3_server, bucket=storage.bucket, endpoint=proxy.endpoint, retries=4)
        assert store.get_bytes("work/x.bin") == b"payload"
        assert proxy.served[:4] == ["reset", "503", "reset", "pass"]


def test_transient_faults_exhaust_retries_as_a_transient_error(s3_server, storage):
    with FaultProxy(s3_server.port, ["503"] * 10) as proxy:
        store = make_storage(s3_server, bucket=storage.bucket, endpoint=proxy.endpoint, retries=2)
        with pytest.raises(TransientStorageError, match="transient"):
            store.get_bytes("work/x.bin")
        assert proxy.served == ["503", "503", "503"]


def test_connection_refused_is_transient(s3_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = make_storage(s3_server, endpoint=f"127.0.0.1:{port}", retries=1)
    with pytest.raises(TransientStorageError):
        store.get_bytes("work/x.bin")


def test_repr_hides_credentials(s3_server, storage):
    assert s3_server._secret_key not in repr(storage)
    assert s3_server.access_key not in repr(storage)


def test_a_claim_whose_answer_was_lost_is_still_ours(storage, monkeypatch):
    """The record PUT landed but its answer was lost; the retried conditional PUT is refused.
    The claimant finds its own record and goes on, instead of stranding the manifest."""
    from wanflow.storage import PreconditionFailedError

    storage.put_bytes("incoming/lost.csv", b"prompt\nx\n")
    put = storage.put_bytes

    def lost_answer(key, data, **options):
        etag = put(key, data, **options)
        if key.startswith("work/claims/") and key.endswith(".json") and options.get("if_absent"):
            raise PreconditionFailedError(f"put {key}: the retry found it written")
        return etag

    monkeypatch.setattr(storage, "put_bytes", lost_answer)
    claim = storage.claim("incoming/lost.csv", owner="watch-incoming/1")
    assert claim is not None and claim.key == "processing/lost.csv"
    assert not storage.exists("incoming/lost.csv")
    # (A claimant meeting a record that is not its own still loses: the racing test.)


def test_patient_retries_ride_out_faults_within_the_window_and_then_give_up(storage):
    """The window, not a count, bounds the retries; the backoff doubles up to 30 s."""
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    def failing():
        now[0] += 1.0  # each attempt itself takes a second
        raise TransientStorageError("down", "ConnectionRefused")

    with pytest.raises(TransientStorageError):
        storage.patiently("upload x", failing, 100.0, sleep=sleep, clock=lambda: now[0])
    assert 100.0 <= now[0] <= 102.0  # gave up once the window was spent, not before
    assert max(slept) <= 30.0 and slept[:3] == [0.05, 0.1, 0.2]

    answers = iter([TransientStorageError("down", "503"), "etag"])

    def flaky():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert storage.patiently("upload y", flaky, 10.0, sleep=lambda s: None) == "etag"
