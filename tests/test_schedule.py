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
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, WANFLOW
from wanflow.settings import get_settings

pytestmark = pytest.mark.slow

PREFECT = str(Path(sys.executable).parent / "prefect")
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
MANIFEST = json.dumps([{"id": "a", "prompt": "星空"}], ensure_ascii=False).encode()

# Generous bounds for a loaded 2-core machine; a healthy run takes a fraction of each.
SERVER_START_S = 240  # a fresh SQLite database is migrated first
COMMAND_S = 300
SCHEDULED_RUNS_S = 120  # the scheduler loops every 1-2 s here
WORKER_S = 300


@dataclass
class PrefectServer:
    url: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


# --- processes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _without_prefect_settings() -> dict[str, str]:
    """This process's environment less its PREFECT_* settings (conftest's private home among
    them), so that each process started here gets only the Prefect settings it is given."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a session of its own, so that stopping its group stops whatever it started
    in that group too; its output goes to ``log``, for failure messages."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, to the process and every process it started.

    Prefect's servers and workers do not always honour SIGTERM, and a process worker starts
    each flow run in a session of its own, out of reach of a signal to the worker's group:
    the whole family is found first and each of its process groups signalled.
    """
    import psutil

    try:
        leader = psutil.Process(process.pid)
        family = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    groups = {process.pid}
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            groups.add(os.getpgid(member.pid))
    groups.discard(os.getpgrp())  # never the test's own
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
        _, alive = psutil.wait_procs(family, timeout=grace_s)
        if not alive:
            break
    process.wait(timeout=grace_s)


def _wait_for(what: str, check: Callable[[], object], deadline_s: float, why: Callable[[], str]):
    """Poll ``check`` every half second until it returns something truthy; fail after
    ``deadline_s`` with ``why()`` (a log tail) in the message."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            pytest.fail(f"no {what} after {deadline_s} s\n{why()}")
        time.sleep(0.5)


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_S
    )
    assert done.returncode == 0, f"{command[:3]}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


# --- the Prefect server -------------------------------------------------------------------------


def _healthy(server: PrefectServer, process: subprocess.Popen) -> bool:
    import httpx

    if process.poll() is not None:
        pytest.fail(f"prefect server start exited with {process.returncode}\n{server.log_tail()}")
    try:
        return httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def prefect_server(tmp_path) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free loopback port, with a home and SQLite database of its
    own and the scheduler looping every 2 s (recently changed deployments every second) instead
    of every minute. Services the test does not need are off, to spare the CPU."""
    home, port = tmp_path / "server-home", _free_port()
    env = _without_prefect_settings() | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    }
    command = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = PrefectServer(f"http://127.0.0.1:{port}/api", tmp_path / "server.log")
    process = _start(command, env, server.log)
    try:
        # Seconds of imports for the test's own client, paid while the server migrates.
        import prefect.client.orchestration  # noqa: F401

        _wait_for(
            "answer from /api/health",
            lambda: _healthy(server, process),
            SERVER_START_S,
            server.log_tail,
        )
        yield server
    finally:
        _stop(process)


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
    return _without_prefect_settings() | {
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
            name: _wait_for(
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
        pool = get_settings().cpu_pool
        command = [PREFECT, "worker", "start", "--pool", pool, "--run-once", "--limit", "1"]
        worker = _start(command, env, worker_log)
        try:
            code = worker.wait(timeout=WORKER_S)  # --run-once: it exits when the tick has ended
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _stop(worker)
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
