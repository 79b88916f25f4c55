"""Keyframe items through ``produce_manifest``: a real Prefect API, a real S3 server, the tiny
models. Each gap between two keyframes is a shot; the images are checked before any GPU time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import lenient_review

pytestmark = pytest.mark.slow


@pytest.fixture
def produce(prefect_api, wanflow_env, monkeypatch):
    from flows.produce_manifest import produce_manifest

    monkeypatch.setenv("WANFLOW_MODEL_FLF2V", "tiny")
    return produce_manifest


def upload_keyframes(storage, tmp_path, count: int = 3) -> list[str]:
    keys = []
    for k in range(count):
        rng = np.random.default_rng(k)
        picture = np.zeros((72, 128, 3), np.uint8)
        picture[:] = rng.integers(0, 256, 3)
        picture[16:56, 32:96] = rng.integers(0, 256, 3)
        path = tmp_path / f"k{k}.png"
        Image.fromarray(picture).save(path)
        keys.append(f"config/keyframes/k{k}.png")
        storage.put_file(keys[-1], path)
    return keys


def test_keyframe_items_render_a_shot_per_gap_and_publish_their_keyframes(
    produce, storage, monkeypatch, clip_checkpoint, tmp_path
):
    lenient_review(monkeypatch, clip_checkpoint)
    a, b, c = upload_keyframes(storage, tmp_path)
    manifest = [
        {
            "id": "pinned",
            "prompt": "a lighthouse by the sea",
            "images": [a, b, c],
            "transitions": ["the beam turns slowly", "night falls"],
            "preset": "flf2v-14b",
            "seed": 5,
            "duration": 2,
        },
        {
            "id": "drifting",
            "prompt": "a lighthouse by the sea",
            "images": [a, c],
            "narration": "The light sweeps the water.",
            "preset": "draft",
            "seed": 6,
        },
    ]
    storage.put_bytes("incoming/keyframes.json", json.dumps(manifest).encode())
    report = produce("incoming/keyframes.json")

    pinned, drifting = report.items
    assert (pinned.status, drifting.status) == ("published", "published"), (
        pinned.reasons,
        drifting.reasons,
    )
    assert "keyframes" in report.stages
    # Two gaps, two shots, each from its keyframe; the first-last-frame model ends on the next.
    assert [(c.shot, c.image_key) for c in pinned.clips] == [(1, a), (2, b)]
    assert [(c.shot, c.image_key) for c in drifting.clips] == [(1, a)]
    assert not any("pinned" in w for w in pinned.warnings)
    assert any("not pinned" in w for w in drifting.warnings)

    day = report.started_at.date().isoformat()
    meta = json.loads(storage.get_bytes(f"published/{day}/pinned/metadata.json"))
    assert meta["item"]["images"] == [a, b, c]
    assert meta["model"]["name"] == "tiny-flf2v-14b"
    shots = meta["plan"]["shots"]
    assert [(s["start_image"], s["end_image"], s["end_pinned"]) for s in shots] == [
        (a, b, True),
        (b, c, True),
    ]
    assert {s["seed"] for s in shots} == {5}
    other = json.loads(storage.get_bytes(f"published/{day}/drifting/metadata.json"))
    assert other["plan"]["shots"][0]["end_pinned"] is False
    assert other["plan"]["shots"][0]["narration"] == "The light sweeps the water."


def test_unsafe_unreadable_and_missing_keyframes_stop_their_item_before_generation(
    produce, storage, monkeypatch, clip_checkpoint, tmp_path
):
    lenient_review(monkeypatch, clip_checkpoint)
    # A block threshold every score reaches: every keyframe is unsafe.
    strict = {c: {"review": 1.0, "block": 1.0} for c in ("gore", "blood", "weapons")}
    strict |= {c: {"review": 1.0, "block": 1.0} for c in ("sexual", "nudity")}
    strict["violence"] = {"review": 0.0, "block": 0.0}
    monkeypatch.setenv("WANFLOW_REVIEW_THRESHOLDS", json.dumps(strict))
    a, b = upload_keyframes(storage, tmp_path, 2)
    storage.put_bytes("config/keyframes/notes.png", b"not a picture")
    manifest = [
        {"id": "unsafe", "prompt": "x", "images": [a, b], "transitions": ["go on"]},
        {"id": "unreadable", "prompt": "x", "images": [a, "config/keyframes/notes.png"],
         "transitions": ["go on"]},
        {"id": "missing", "prompt": "x", "images": ["config/keyframes/gone.png", a],
         "transitions": ["go on"]},
    ]  # fmt: skip
    storage.put_bytes("incoming/badframes.json", json.dumps(manifest).encode())
    report = produce("incoming/badframes.json")

    items = {o.id: o for o in report.items}
    assert items["unsafe"].status == "blocked"
    assert items["unsafe"].reasons[0].startswith(f"keyframe 1 ({a}): violence ")
    assert items["unreadable"].status == "failed"
    assert items["unreadable"].reasons == [
        "keyframes: keyframe 2 (config/keyframes/notes.png) is not a picture that can be read "
        + items["unreadable"].reasons[0].split("can be read ", 1)[1]
    ]
    assert items["missing"].status == "failed"
    assert items["missing"].reasons == [
        "keyframes: keyframe 1 (config/keyframes/gone.png) is not in the bucket"
    ]
    assert all(not o.clips and o.plan_key is None for o in report.items)  # no GPU time spent
