"""produce_manifest end to end: a real Prefect API and a real S3 server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, WANFLOW, HttpReceiver, make_storage
from wanflow.callback import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from wanflow.localserver import LocalS3Server
from wanflow.settings import Settings
from wanflow.video import probe

pytestmark = pytest.mark.slow

MIXED = (
    "编号,提示词,种子,备注\n"
    "orion,猎人在星空下追逐,1,x\nbad,,2,y\nbear,母熊升上星空,-3,z\nok2,北斗,4,\n"
)


@pytest.fixture
def produce(prefect_api, wanflow_env):
    from flows.produce_manifest import produce_manifest

    return produce_manifest


def test_mixed_manifest_is_processed_and_reported(produce, storage, s3_server):
    storage.put_bytes("incoming/mixed.csv", MIXED.encode("gbk"))
    report = produce("incoming/mixed.csv")

    assert report.status == "succeeded"
    assert [i.id for i in report.items] == ["orion", "ok2"]
    assert {(r.row, r.id, r.field) for r in report.rejected} == {
        (3, "bad", "prompt"),
        (4, "bear", "seed"),
    }
    assert report.ingest.encoding == "gbk"
    assert any("备注" in w for w in report.ingest.warnings)
    assert set(report.stages) == {
        "claim",
        "config",
        "ingest",
        "expand",
        "screen",
        "plan",
        "narrate",
        "generate",
        "review",
        "approve",
        "compose",
        "publish",
        "report",
    }
    # No OpenCLIP weights are configured: the review fails closed, every item waits for a person.
    assert {i.status for i in report.items} == {"held"}
    assert "no OpenCLIP weights configured" in report.items[0].reasons[-2]
    assert report.items[0].reasons[-1] == (
        "no wait for a reviewer (approval timeout 0): held, not published"
    )
    plan = json.loads(storage.get_bytes(report.items[0].plan_key))
    assert report.items[0].plan_key == f"work/{report.run_id}/orion/plan.json"
    assert plan["item_id"] == "orion" and plan["shots"][0]["seed"] == 1

    assert storage.exists("processed/mixed.csv")
    assert not storage.exists("incoming/mixed.csv")
    assert not storage.exists("processing/mixed.csv")
    stored = json.loads(storage.get_bytes(report.key))
    assert report.key.startswith("reports/")
    assert stored["status"] == "succeeded"
    assert stored["manifest_key"] == "processed/mixed.csv"
    assert len(stored["ingest"]["rejected"]) == 2
    assert stored["settings"]["s3_secret_key"] == "********"
    assert s3_server._secret_key not in storage.get_bytes(report.key).decode()


BLOCKED = [
    {"id": "safe", "prompt": "猎人在星空下追逐", "narration": "他是最勇敢的猎人。他追了一夜。"},
    {"id": "evasive-prompt", "prompt": "村民遭到屠·杀"},
    {"id": "traditional-narration", "prompt": "夜空", "narration": "天很黑。他最後自殺了。"},
    {"id": "title", "title": "They RAPED the town", "prompt": "A quiet town", "language": "en"},
    {"id": "by-expansion", "prompt": "测试词在夜空下"},
    {"id": "operator-term", "prompt": "竞品甲的新品发布会"},
    {"id": "operator-category", "prompt": "暴·打一顿"},
    {"id": "allowlisted", "prompt": "吧台上一杯血腥玛丽，旁边一杯血腥风暴鸡尾酒"},
    {"id": "tags", "prompt": "夜空", "tags": ["星空", "屠杀"]},
]
OPERATOR_LEXICON = '[zh]\n"测试词" = ["一场血腥的厮杀"]\n'


def test_blocked_items_are_reported_with_their_reasons_and_never_planned(produce, storage):
    storage.put_bytes("config/lexicon.toml", OPERATOR_LEXICON.encode())
    storage.put_bytes("config/blacklists/brands.txt", "# 竞品\n竞品甲\tcustom\n".encode())
    storage.put_bytes("config/blacklists/ops-violence.txt", "暴打\n".encode())
    storage.put_bytes("config/allowlists/bar.txt", "血腥风暴鸡尾酒  # a cocktail\n".encode())
    storage.put_bytes("incoming/blocked.json", json.dumps(BLOCKED, ensure_ascii=False).encode())
    report = produce("incoming/blocked.json")

    assert report.status == "succeeded"
    items = {i.id: i for i in report.items}
    assert [i.id for i in report.items] == [row["id"] for row in BLOCKED]
    assert {i for i, o in items.items() if o.status == "held"} == {"safe", "allowlisted"}
    blocks = {
        i: [(b.field, b.term, b.category, b.matched) for b in o.blocked] for i, o in items.items()
    }
    assert blocks["evasive-prompt"][0] == ("prompt", "屠杀", "violence", "屠·杀")
    assert ("narration", "自杀", "self_harm", "自殺") in blocks["traditional-narration"]
    assert ("title", "rape", "sexual", "RAPED") in blocks["title"]
    # The idea is clean; the operator's lexicon wrote the blacklisted word into the prompt.
    assert {f for f, *_ in blocks["by-expansion"]} >= {"expanded_prompt"}
    assert "prompt" not in {f for f, *_ in blocks["by-expansion"]}
    assert blocks["operator-term"][0][:3] == ("prompt", "竞品甲", "custom")
    assert blocks["operator-category"][0][:3] == ("prompt", "暴打", "violence")
    assert blocks["safe"] == [] and blocks["allowlisted"] == []
    assert blocks["tags"] == [("tags", "屠杀", "violence", "屠杀")]
    assert items["evasive-prompt"].reasons == ["'屠杀' (violence) in prompt, expanded_prompt"]

    for item_id, outcome in items.items():
        plan_key = f"work/{report.run_id}/{item_id}/plan.json"
        assert storage.exists(plan_key) == (outcome.status == "held"), item_id
        assert (outcome.plan_key is not None) == (outcome.status == "held")
        assert bool(outcome.clips) == (outcome.status == "held")
    stored = json.loads(storage.get_bytes(report.key))
    title = next(i for i in stored["items"] if i["id"] == "title")
    assert title["status"] == "blocked"
    assert title["blocked"][0] | {"start": 0} == {
        "field": "title",
        "term": "rape",
        "category": "sexual",
        "start": 0,
        "end": 10,
        "matched": "RAPED",
    }


def test_a_manifest_whose_items_are_all_blocked_is_processed_with_nothing_planned(produce, storage):
    """Blocking is the pipeline doing its job, not a fault: the manifest is processed."""
    rows = [{"id": "a", "prompt": "屠杀"}, {"id": "b", "prompt": "自杀"}]
    storage.put_bytes("incoming/allblocked.json", json.dumps(rows).encode())
    report = produce("incoming/allblocked.json")
    assert {i.status for i in report.items} == {"blocked"}
    assert report.status == "succeeded"
    assert storage.exists("processed/allblocked.json")
    assert not list(storage.list(f"work/{report.run_id}/"))


def test_a_bad_operator_list_fails_the_run_closed_naming_the_line(produce, storage):
    storage.put_bytes("config/blacklists/bad.txt", b"fine\nterm\tno-such-category\n")
    storage.put_bytes("incoming/c.json", json.dumps([{"id": "a", "prompt": "星空"}]).encode())
    with pytest.raises(ValueError, match=r"config/blacklists/bad\.txt:2"):
        produce("incoming/c.json")
    assert storage.exists("failed/c.json")
    (report_obj,) = storage.list("reports/")
    stored = json.loads(storage.get_bytes(report_obj.key))
    assert stored["status"] == "failed" and "bad.txt:2" in stored["error"]
    assert not list(storage.list(f"work/{stored['run_id']}/"))


STORY = [
    {
        "id": "story",
        "prompt": "猎人在星空下追逐",
        "narration": "他是最勇敢的猎人。他追了一夜。",
        "seed": 11,
    },
    {"id": "one", "prompt": "A quiet lake at dawn", "language": "en", "preset": "high"},
]


def test_clips_are_generated_stored_by_content_hash_and_reused_on_rerun(produce, storage):
    from wanflow.video import probe, read_frames

    storage.put_bytes("incoming/story.json", json.dumps(STORY, ensure_ascii=False).encode())
    report = produce("incoming/story.json")
    assert report.status == "succeeded"
    story, one = report.items
    assert (story.status, one.status) == ("held", "held")
    assert [c.shot for c in story.clips] == [1, 2] and len(one.clips) == 1
    for clip in [*story.clips, *one.clips]:
        assert clip.key == f"work/clips/{clip.hash}/clip.mp4" and not clip.cached
        assert storage.exists(clip.key) and storage.exists(clip.last_frame_key)
        assert clip.model.startswith("tiny-") and clip.device == "cpu" and clip.plan == "cpu"
    # TI2V (the standard preset) takes an image: shot 2 starts from shot 1's last frame.
    meta = json.loads(storage.get_bytes(f"work/clips/{story.clips[1].hash}/meta.json"))
    assert meta["image_key"] == story.clips[0].last_frame_key
    assert meta["model"] == "tiny-ti2v-5b" and meta["fps"] == 24
    # T2V-A14B (the high preset) does not: its one shot ran both experts.
    one_meta = json.loads(storage.get_bytes(f"work/clips/{one.clips[0].hash}/meta.json"))
    assert one_meta["model"] == "tiny-t2v-a14b" and set(one_meta["experts"]) == {
        "transformer",
        "transformer_2",
    }
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["generate-story-shot-2"]))
        )
    assert artifact.type == "progress" and artifact.data == 100.0
    local = storage.download(story.clips[0].key, storage_tmp := Path(report.run_id + ".mp4"))
    try:
        info = probe(local)
        assert (info.frames, info.fps, info.codec) == (story.clips[0].frames, 24, "h264")
        first_frames = read_frames(local)
    finally:
        storage_tmp.unlink()

    # A rerun reuses every clip but one cut short in the bucket, which it renders again and says so.
    storage.put_bytes(story.clips[1].key, b"truncated", content_type="video/mp4")
    storage.put_bytes("incoming/story.json", json.dumps(STORY, ensure_ascii=False).encode())
    again = produce("incoming/story.json")
    assert again.status == "succeeded" and again.run_id != report.run_id
    assert [c.hash for i in again.items for c in i.clips] == [
        c.hash for i in report.items for c in i.clips
    ]
    assert [c.cached for i in again.items for c in i.clips] == [True, False, True]
    (warning,) = again.items[0].warnings
    assert warning.startswith("shot 2: cached clip") and "rendered again" in warning
    assert not again.items[1].warnings
    assert first_frames.shape[0] == story.clips[0].frames


def test_a_failed_shot_fails_its_item_not_the_run(produce, storage, monkeypatch):
    rows = [
        {"id": "fine", "prompt": "星空"},
        {"id": "no-weights", "prompt": "月亮", "preset": "high"},
    ]
    monkeypatch.setenv("WANFLOW_MODEL_T2V", "/nowhere/t2v")
    storage.put_bytes("incoming/partial.json", json.dumps(rows, ensure_ascii=False).encode())
    report = produce("incoming/partial.json")
    assert report.status == "succeeded"
    fine, broken = report.items
    assert fine.status == "held"
    assert broken.status == "failed" and not broken.clips
    assert "MissingWeights" in broken.reasons[0] and "WANFLOW_MODEL_T2V" in broken.reasons[0]


def test_flow_run_is_recorded_by_the_prefect_api(produce, storage):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    storage.put_bytes("incoming/a.json", json.dumps([{"id": "a", "prompt": "星空"}]).encode())
    report = produce("incoming/a.json")
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[report.flow_run_id]))
        )
        (run,) = runs
        assert run.state.is_completed()
        assert run.name == "produce incoming/a.json"
        tasks = {
            t.name.rsplit("-", 1)[0] for t in client.read_task_runs() if t.flow_run_id == run.id
        }
    assert {"claim-manifest", "ingest-manifest", "write-report", "finish-manifest"} <= tasks


def test_unreadable_manifest_goes_to_failed_with_the_reason(produce, storage):
    storage.put_bytes("incoming/broken.json", b'[{"prompt": "x"}, {"prompt": ')
    report = produce("incoming/broken.json")
    assert report.status == "failed"
    assert "truncated JSON" in report.error
    assert storage.exists("failed/broken.json")
    assert not storage.exists("processing/broken.json")
    assert json.loads(storage.get_bytes(report.key))["status"] == "failed"


def test_manifest_with_no_valid_rows_fails(produce, storage):
    storage.put_bytes("incoming/allbad.csv", b"id,prompt,seed\na,x,-1\nb,,1\n")
    report = produce("allbad.csv")  # a bare name means incoming/allbad.csv
    assert report.status == "failed"
    assert "every row was rejected" in report.error
    assert storage.exists("failed/allbad.csv")


def test_a_manifest_already_claimed_is_skipped(produce, storage):
    storage.put_bytes("incoming/once.csv", b"prompt\nx\n")
    assert storage.claim("incoming/once.csv", owner="someone-else") is not None
    report = produce("incoming/once.csv")
    assert report.status == "skipped"
    assert list(storage.list("reports/")) == []
    assert storage.exists("processing/once.csv")  # left to its owner


def test_a_claimed_manifest_can_be_resumed_from_processing(produce, storage):
    storage.put_bytes("processing/resume.csv", b"prompt\nx\n")
    report = produce("processing/resume.csv")
    assert report.status == "succeeded"
    assert storage.exists("processed/resume.csv")


def test_a_manifest_filed_beside_an_earlier_one_of_its_name_is_reported_where_it_went(
    produce, storage
):
    storage.put_bytes("processed/daily.csv", b"prompt\nyesterday\n")
    storage.put_bytes("processing/daily.csv", b"prompt\ntoday\n")
    report = produce("processing/daily.csv")
    assert report.status == "succeeded"
    assert report.manifest_key.startswith("processed/daily~") and report.manifest_key != (
        "processed/daily.csv"
    )
    assert storage.get_bytes(report.manifest_key) == b"prompt\ntoday\n"
    assert storage.get_bytes("processed/daily.csv") == b"prompt\nyesterday\n"
    stored = json.loads(storage.get_bytes(report.key))
    assert stored["manifest_key"] == report.manifest_key


def test_processed_manifests_are_not_run_again_by_accident(produce, storage):
    with pytest.raises(ValueError, match="already been processed"):
        produce("processed/x.csv")


def demo_model_env() -> dict[str, str]:
    """The model variables scripts/demo exports (read from the script, so the two agree)."""
    script = (Path(__file__).parents[2] / "scripts" / "demo").read_text()
    found = dict(re.findall(r"^export (WANFLOW_MODEL_\w+)=\$\{\w+:-(\w+)\}$", script, re.M))
    assert set(found) == {"WANFLOW_MODEL_T2V", "WANFLOW_MODEL_I2V", "WANFLOW_MODEL_TI2V"}
    return found


def test_wanflow_run_on_embedded_defaults(tmp_path, model_dir):
    """The README's main job: no S3 endpoint, no Prefect server configured, tiny models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANFLOW_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env |= demo_model_env() | {"WANFLOW_MODEL_DIR": str(model_dir)}  # built once per session
    out = tmp_path / "out"
    result = subprocess.run(
        [WANFLOW, "run", str(EXAMPLES / "constellations.csv"), "--auto-approve", "--out",
         str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting a local S3 server" in result.stderr
    assert "report: s3://wanflow/reports/" in result.stdout
    assert "cowherd-weaver" in result.stdout and "standard, 3 shots, ~" in result.stdout
    assert "4 published" in result.stdout
    (copy,) = out.glob("*.json")
    report = json.loads(copy.read_text())
    assert report["status"] == "succeeded"
    ids = ["orion-hunt", "scorpius-rise", "cowherd-weaver", "big-dipper"]
    assert [i["id"] for i in report["items"]] == ids
    assert [i["warnings"] for i in report["items"]] == [[]] * 4  # the examples' happy path
    assert "~" in result.stdout and " s on H100 (est.)" in result.stdout  # says what it is
    assert all(item["final"]["music"] for item in report["items"])  # the shipped library
    # Every item through every stage, copied out under the bucket's names, and playable.
    for item_id in ids:
        folder = out / item_id
        assert f"{item_id}: {folder}/" in result.stdout.replace("\n", "")
        assert sorted(p.name for p in folder.iterdir()) == [
            "contact_sheet.jpg", "metadata.json", "poster.jpg", "subtitles.srt",
            "subtitles.vtt", "thumbnail.jpg", "video.mp4"]  # fmt: skip
        info = probe(folder / "video.mp4")
        assert info.frames > 0 and info.duration_s > 2
        assert " --> " in (folder / "subtitles.srt").read_text(encoding="utf-8")
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["item_id"] == item_id
        assert meta["audio"]["music"] and meta["audio"]["music_licence"].startswith("Apache-2.0")
    # Looking inside the bucket afterwards, as README says: the local server starts for it.
    listed = subprocess.run(
        [WANFLOW, "storage", "ls", "published/"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert sum(line.endswith("/video.mp4") for line in listed.stdout.splitlines()) == 4
    # The local server kept its data: restarted on it, the bucket holds the report and manifest.
    defaults = Settings()
    with LocalS3Server(
        tmp_path / ".wanflow" / "s3",
        defaults.s3_access_key,
        defaults.s3_secret_key.get_secret_value(),
    ) as server:
        store = make_storage(server, bucket="wanflow")
        assert store.exists("processed/constellations.csv")
        run_id = copy.stem
        assert next(o.key for o in store.list("reports/")).endswith(f"{run_id}.json")


REVIEWED = [
    {"id": "clean", "prompt": "星空", "seed": 1, "narration": "夜空中繁星闪烁。", "bgm": "夜曲"},
    {"id": "needs-sign-off", "prompt": "月亮", "seed": 2, "require_approval": True},
]


def _bgm_library(storage, tmp_path) -> None:
    """A one-track music library in the bucket, as an operator keeps it."""
    import ffmpeg

    from postprocess.runner import run

    track = tmp_path / "nocturne.wav"
    run(ffmpeg.input("sine=frequency=330:duration=3", f="lavfi").output(str(track)), "track")
    storage.put_file("config/bgm/calm/nocturne.wav", track)
    index = (
        '[[track]]\nid = "nocturne"\nfile = "calm/nocturne.wav"\ntitle = "夜曲"\n'
        'moods = ["calm"]\nlicence = "CC0, generated by the test"\n'
    )
    storage.put_bytes("config/bgm/index.toml", index.encode())


def test_review_passes_holds_and_blocks_by_the_policy(
    produce, storage, monkeypatch, clip_checkpoint, tmp_path
):
    import urllib.request

    monkeypatch.setenv("WANFLOW_CLIP_MODEL", "ViT-S-32")
    monkeypatch.setenv("WANFLOW_CLIP_WEIGHTS", str(clip_checkpoint))
    # Thresholds no random score reaches: every classifier ran and found nothing.
    lenient = {c: {"review": 1.0, "block": 1.0} for c in ("violence", "gore", "blood")}
    lenient |= {c: {"review": 1.0, "block": 1.0} for c in ("weapons", "sexual", "nudity")}
    monkeypatch.setenv("WANFLOW_REVIEW_THRESHOLDS", json.dumps(lenient))
    _bgm_library(storage, tmp_path)
    hook = HttpReceiver()
    monkeypatch.setenv("WANFLOW_CALLBACK_SECRET", "hook-key")
    monkeypatch.setenv("WANFLOW_CALLBACK_ALLOW_HOSTS", "127.0.0.1")  # the local receiver
    manifest = {"callback_url": hook.url, "items": REVIEWED}
    storage.put_bytes("incoming/reviewed.json", json.dumps(manifest).encode())
    report = produce("incoming/reviewed.json")
    clean, signoff = report.items
    assert (clean.status, signoff.status) == ("published", "held")
    # Held: composed, so that its reviewer judges the finished video, and never published.
    assert signoff.final is not None and signoff.published is None
    assert signoff.held_because == ["approval: the item requires it"]
    assert set(clean.final.files) == {
        "video.mp4", "subtitles.srt", "subtitles.vtt", "thumbnail.jpg", "poster.jpg"
    }  # fmt: skip
    assert all(storage.exists(key) for key in clean.final.files.values())
    assert clean.final.sentences == 1 and abs(clean.final.loudness_lufs - -16.0) <= 1.0
    srt = storage.get_bytes(clean.final.files["subtitles.srt"]).decode()
    assert "夜空中繁星闪烁" in srt
    assert clean.final.music == "nocturne"  # named by its title in the item's bgm column
    assert clean.review.decision == "pass" and clean.review.failures == []
    assert set(clean.review.scores) >= {"violence", "gore", "blood", "weapons"}
    assert signoff.reasons[0] == "awaiting approval: the item requires it"
    assert signoff.approval.decision == "hold"
    for key in (clean.review.sheet_key, clean.review.thumbnail_key, clean.review.review_key):
        assert storage.exists(key)

    # Published: data first, metadata.json last; only the clean item.
    day = report.started_at.date().isoformat()
    prefix = f"published/{day}/clean/"
    published = {o.key: o for o in storage.list("published/")}
    assert set(published) == {prefix + n for n in (
        "video.mp4", "subtitles.srt", "subtitles.vtt", "thumbnail.jpg", "poster.jpg",
        "contact_sheet.jpg", "metadata.json")}  # fmt: skip
    meta_at = published[prefix + "metadata.json"].last_modified
    assert all(o.last_modified <= meta_at for o in published.values())
    meta = json.loads(storage.get_bytes(prefix + "metadata.json"))
    assert meta["prompts"]["original"] == "星空" and meta["seed"] == 1
    assert "星空" in meta["prompts"]["expanded"][0]  # the keyword expanded
    assert meta["model"]["name"] == clean.clips[0].model and meta["preset"] == clean.preset
    assert meta["plan"]["shots"][0]["num_frames"] == clean.clips[0].frames
    assert meta["review"]["decision"] == "pass" and meta["approval"] is None
    assert meta["gpu_seconds"] > 0 and meta["versions"]["wanflow"]
    assert meta["timings"]["speech_s"] == clean.narration.speech_s
    with urllib.request.urlopen(clean.published.urls["video.mp4"], timeout=10) as response:
        assert response.read(12)[4:8] == b"ftyp"  # an MP4, fetched with the presigned link

    # The callback: one signed POST after the report was written, recorded in the report.
    assert report.callback.delivered and report.callback.attempts == 1
    ((headers, body),) = hook.requests
    assert verify("hook-key", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    sent = json.loads(body)
    assert sent["report"] == report.key and storage.exists(sent["report"])
    assert [(i["id"], i["status"]) for i in sent["items"]] == [
        ("clean", "published"), ("needs-sign-off", "held")]  # fmt: skip
    assert json.loads(storage.get_bytes(report.key))["callback"]["delivered"] is True

    # The same manifest again: nothing is published twice; the publication is reused.
    storage.put_bytes("incoming/reviewed.json", json.dumps(manifest).encode())
    again = produce("incoming/reviewed.json")
    assert again.items[0].status == "published" and again.items[0].published.reused
    assert {o.key: o.etag for o in storage.list("published/")} == {
        k: o.etag for k, o in published.items()
    }
    hook.close()

    with urllib.request.urlopen(clean.review.sheet_url, timeout=10) as response:
        assert response.read(3) == b"\xff\xd8\xff"  # a JPEG, fetched with the presigned link

    # A block threshold every score reaches: the item is blocked with the evidence.
    strict = lenient | {"violence": {"review": 0.0, "block": 0.0}}
    monkeypatch.setenv("WANFLOW_REVIEW_THRESHOLDS", json.dumps(strict))
    storage.put_bytes("incoming/strict.json", json.dumps(REVIEWED[:1]).encode())
    (blocked,) = produce("incoming/strict.json").items
    assert blocked.status == "blocked" and blocked.review.decision == "block"
    assert blocked.reasons[0].startswith("review: shot 1: violence ")
    assert blocked.review.flagged_frames > 0
