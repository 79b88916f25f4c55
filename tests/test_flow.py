"""produce_manifest end to end: a real Prefect API and a real S3 server."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import EXAMPLES, WANFLOW, make_storage
from wanflow.localserver import LocalS3Server
from wanflow.settings import Settings

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
    assert set(report.stages) == {"claim", "ingest", "report"}

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


def test_processed_manifests_are_not_run_again_by_accident(produce, storage):
    with pytest.raises(ValueError, match="already been processed"):
        produce("processed/x.csv")


def test_wanflow_run_on_embedded_defaults(tmp_path):
    """The README's main job: no S3 endpoint, no Prefect server configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANFLOW_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    result = subprocess.run(
        [WANFLOW, "run", str(EXAMPLES / "constellations.csv"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting a local S3 server" in result.stderr
    assert "report: s3://wanflow/reports/" in result.stdout
    (copy,) = (tmp_path / "out").glob("*.json")
    report = json.loads(copy.read_text())
    assert report["status"] == "succeeded"
    assert [i["id"] for i in report["items"]] == [
        "orion-hunt",
        "scorpius-rise",
        "cowherd-weaver",
        "big-dipper",
    ]
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
