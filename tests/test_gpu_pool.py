"""Shots rendered by the generate-shots deployment (the GPU pool), not in the manifest's process:
produce-manifest starts one run per manifest with ``run_deployment`` and reads its results."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import (  # at import time: importing it re-runs its environment reset
    ROOT,
    DeploymentWorker,
)

pytestmark = pytest.mark.slow

ITEMS = [
    {"id": "lyra", "prompt": "天琴座", "seed": 5, "narration": "天琴座在夏夜升起。"},
    {"id": "cygnus", "prompt": "天鹅座", "seed": 6},
]


def test_shots_go_to_the_gpu_deployment_in_one_batch(
    prefect_api, wanflow_env, storage, monkeypatch
):
    from prefect import get_client

    from flows.generate_shots import generate_shots
    from flows.produce_manifest import produce_manifest
    from wanflow.settings import get_settings

    monkeypatch.chdir(ROOT)  # the deployment's entrypoint is relative to the repository
    monkeypatch.setenv("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")  # the worker's results
    monkeypatch.setenv("WANFLOW_GPU_DEPLOYMENT", "generate-shots/gpu-test")
    monkeypatch.setenv("WANFLOW_AUTO_APPROVE", "1")
    get_settings.cache_clear()
    deployment_id = generate_shots.to_deployment(name="gpu-test").apply()

    storage.put_bytes("incoming/gpu.json", json.dumps(ITEMS).encode())
    with DeploymentWorker(deployment_id) as worker:  # the gpu pool's worker
        report = produce_manifest("incoming/gpu.json")
    executed = worker.executed
    assert report.status == "succeeded", report.error
    assert [i.status for i in report.items] == ["published", "published"]
    assert len(executed) == 1  # one batch for the whole manifest: the model loaded once

    async def read():
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

        async with get_client() as client:
            run = await client.read_flow_run(executed[0])
            shown = await client.read_artifacts(
                artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["table", "progress"]))
            )
            return run, shown

    run, artifacts = asyncio.run(read())
    # The run's outcome as artifacts: the item table, and progress that reached 100 %.
    (items,) = [a for a in artifacts if a.key == "wanflow-gpu-json-items"]
    rows = json.loads(items.data) if isinstance(items.data, str) else items.data
    assert [(r["item"], r["status"]) for r in rows] == [
        ("lyra", "published"),
        ("cygnus", "published"),
    ]
    assert all(r["link"].startswith("[video](http") for r in rows)  # presigned video links
    # The batch's progress, made in the GPU run (other tests' artifacts share this API).
    progress = [a for a in artifacts if a.type == "progress" and a.flow_run_id == run.id]
    assert progress and all(a.data == 100.0 for a in progress)
    assert run.state.is_completed() and run.parameters["jobs"][0]["item_id"] == "lyra"
    assert run.parent_task_run_id is not None  # shown as a subflow of the manifest's run
    clips = [c for i in report.items for c in i.clips]
    assert len(clips) == sum(i.shots for i in report.items) and all(c.frames for c in clips)
