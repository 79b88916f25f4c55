"""What a flow run publishes carries no credentials: published files go to whoever gets the
video, while presigned links (into work/ and published/) belong in the private report."""

from __future__ import annotations

import json

import pytest

from tests.conftest import lenient_review
from wanflow.publication import FILES, METADATA

pytestmark = pytest.mark.slow


def test_published_files_carry_no_signed_links_or_credentials(
    prefect_api, wanflow_env, storage, s3_server, monkeypatch, clip_checkpoint
):
    from flows.produce_manifest import produce_manifest

    lenient_review(monkeypatch, clip_checkpoint)
    items = [{"id": "clean", "prompt": "星空", "seed": 1, "narration": "夜空中繁星闪烁。"}]
    storage.put_bytes("incoming/clean.json", json.dumps(items, ensure_ascii=False).encode())
    report = produce_manifest("incoming/clean.json")
    (item,) = report.items
    assert item.status == "published", item.reasons
    assert item.review.sheet_url  # the report does carry a presigned link into work/

    forbidden = [
        b"X-Amz-Signature",
        b"X-Amz-Credential",
        s3_server.access_key.encode(),
        s3_server._secret_key.encode(),
        s3_server.endpoint.encode(),  # no link to the bucket at all, into work/ or elsewhere
    ]
    published = [o.key for o in storage.list("published/")]
    assert {key.rsplit("/", 1)[1] for key in published} == {*FILES, METADATA}  # poster included
    for key in published:
        data = storage.get_bytes(key)
        for bad in forbidden:
            assert bad.lower() not in data.lower(), f"{key} carries {bad!r}"
    meta = json.loads(storage.get_bytes(f"{item.published.prefix}metadata.json"))
    assert meta["review"]["decision"] == "pass" and "sheet_url" not in meta["review"]
    assert "poster.jpg" in FILES and set(meta["files"]) == {*FILES, METADATA}
