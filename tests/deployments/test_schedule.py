"""The deployed schedule, end to end: a real ``prefect server start`` process schedules
watch-incoming and daily-content, and a process worker runs a scheduled watch-incoming tick
that claims a manifest from a real S3 server.

In-process harnesses (``prefect_test_harness``) run no scheduler service, so only a real server
process proves that deployments with schedules get runs at all (Prefect 3.8's scheduler, for
one, fails on every loop with SQLAlchemy 2.1).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, WANFLOW
from tests.prefect_server import (
    PREFECT,
    PrefectServer,
    running_server,
    start,
    stop,
    wait_for,
    without_prefect_settings,
)
from wanflow.settings import Settings

pytestmark = pytest.mark.slow

PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
MANIFEST = json.dumps([{"id": "a", "prompt": "星空"}], ensure_ascii=False).encode()

# Generous bounds for a loaded 2-core machine; a healthy run takes a fraction of each.
COMMAND_S = 300
SCHEDULED_RUNS_S = 120  # the scheduler loops every 1-2 s here
WORKER_S = 300


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_S
    )
    assert done.returncode == 0, f"{command[:3]}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def prefect_server(tmp_path) -> Iterator[PrefectServer]:
    with running_server(tmp_path, scheduler=True) as server:
        yield server


@contextlib.contextmanager
def _client(url: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        yield client


def _client_env(server: PrefectServer, home: Path) -> dict[str, str]:
    """What `wanflow`, `prefect deploy` and the worker run with: this server, a Prefect home of
    their own, and the WANFLOW_* settings (S3 endpoint, credentials, bucket) of ``wanflow_env``,
    which the worker hands on to the flow runs it starts."""
    return without_prefect_settings() | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": server.url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


# --- deployments and their runs -----------------------------------------------------------------


def _run_from_this_checkout(client, deployment) -> None:
    """prefect.yaml's pull step enters /opt/wanflow, where the worker images keep the code; a
    worker on this machine runs it from the repository instead. Changing the deployment drops
    its auto-scheduled runs, so this comes before waiting for the scheduler."""
    from prefect.client.schemas.actions import DeploymentUpdate

    step = "prefect.deployments.steps.set_working_directory"
    assert deployment.pull_steps == [{step: {"directory": "/opt/wanflow"}}]
    client.update_deployment(
        deployment.id, DeploymentUpdate(pull_steps=[{step: {"directory": str(ROOT)}}])
    )


def _scheduled_runs(client, deployment_id) -> list:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
    )


def _runs_of(client, deployment_id) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )


def _make_due_now(client, run) -> None:
    """The scheduler's first interval slot may be a minute away: the run it created is moved to
    now, so the worker finds it due without the test waiting for the slot."""
    from prefect.states import Scheduled

    client.set_flow_run_state(run.id, Scheduled(scheduled_time=datetime.now(UTC)), force=True)


# --- the test -----------------------------------------------------------------------------------


def test_the_server_schedules_both_deployments_and_a_worker_runs_a_scheduled_tick(
    prefect_server, wanflow_env, storage, tmp_path
):
    """`wanflow setup` and `prefect deploy` as an operator runs them; then the server alone must
    create the scheduled runs, and a worker running one tick must claim a waiting manifest."""
    env = _client_env(prefect_server, tmp_path / "client-home")
    _run([WANFLOW, "setup"], env)
    _run([PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML)], env)

    with _client(prefect_server.url) as client:
        watch = client.read_deployment_by_name("watch-incoming/watch-incoming")
        daily = client.read_deployment_by_name("daily-content/daily-content")
        produce = client.read_deployment_by_name("produce-manifest/produce-manifest")
        _run_from_this_checkout(client, watch)

        # The server's own scheduler creates the runs: nothing here asks for one.
        scheduled = {
            name: wait_for(
                f"scheduled run of {name}",
                lambda d=deployment: _scheduled_runs(client, d.id),
                SCHEDULED_RUNS_S,
                prefect_server.log_tail,
            )
            for name, deployment in (("watch-incoming", watch), ("daily-content", daily))
        }
        assert all(run.auto_scheduled for runs in scheduled.values() for run in runs)
        tick = scheduled["watch-incoming"][0]

        storage.put_bytes("incoming/x.json", MANIFEST)
        _make_due_now(client, tick)
        worker_log = tmp_path / "worker.log"
        pool = Settings().cpu_pool
        command = [PREFECT, "worker", "start", "--pool", pool, "--run-once", "--limit", "1"]
        worker = start(command, env, worker_log)
        try:
            code = worker.wait(timeout=WORKER_S)  # --run-once: it exits when the tick has ended
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop(worker)
        log = worker_log.read_text(errors="replace")[-4000:]
        assert code == 0, f"worker exit status {code}\n{log}"

        ran = client.read_flow_run(tick.id)
        assert ran.state.is_completed(), f"{ran.state}\n{log}"
        # The tick claimed the manifest and handed it to a produce-manifest run (which no
        # worker runs here: it stays scheduled).
        assert not storage.exists("incoming/x.json")
        assert storage.exists("processing/x.json")
        (record,) = [o.key for o in storage.list("work/claims/")]
        assert json.loads(storage.get_bytes(record))["owner"] == f"watch-incoming/{tick.id}"
        (started,) = _runs_of(client, produce.id)
        assert started.parameters == {"manifest_key": "processing/x.json"}
