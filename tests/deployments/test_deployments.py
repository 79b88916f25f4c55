"""Deployed Wanflow: prefect.yaml, the worker images, `wanflow setup`, and the two flows that
pick manifests up (watch-incoming, daily-content), against a real Prefect API and S3 server."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from wanflow.settings import Settings

DEPLOYMENTS = ROOT / "deployments"
PREFECT_YAML = DEPLOYMENTS / "prefect.yaml"
DOCKERFILES = {"cpu": DEPLOYMENTS / "Dockerfile.cpu", "gpu": DEPLOYMENTS / "Dockerfile.gpu"}
ENTRYPOINTS = {
    "daily-content": "flows/watch.py:daily_content",
    "produce-manifest": "flows/produce_manifest.py:produce_manifest",
    "watch-incoming": "flows/watch.py:watch_incoming",
}
VARIABLE = re.compile(r"^\{\{ prefect\.variables\.(\w+) \}\}$")


def _prefect_yaml() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text())


# --- prefect.yaml -------------------------------------------------------------------------------


def test_prefect_yaml_is_what_prefect_deploy_reads():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(_prefect_yaml())
    assert {d.name: d.entrypoint for d in model.deployments} == ENTRYPOINTS
    assert model.pull == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/wanflow"}}
    ]


def test_each_entrypoint_loads_the_flow_its_deployment_is_named_after(monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(ROOT)  # `prefect deploy` runs from the repository root
    for deployment in _prefect_yaml()["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        assert flow.name == deployment["name"], deployment["entrypoint"]


def test_schedules_pools_and_limits_come_from_wanflow_settings():
    from cli.setup import variables
    from flows.watch import PRODUCE_DEPLOYMENT, watch_incoming

    deployments = {d["name"]: d for d in _prefect_yaml()["deployments"]}
    written = variables(Settings())  # what `wanflow setup` writes, by variable name
    pools = {
        name: VARIABLE.match(d["work_pool"]["name"]).group(1) for name, d in deployments.items()
    }
    assert pools == {
        "daily-content": "wanflow_cpu_pool",
        "produce-manifest": "wanflow_cpu_pool",
        "watch-incoming": "wanflow_cpu_pool",
    }
    (daily,) = deployments["daily-content"]["schedules"]
    assert VARIABLE.match(daily["cron"]).group(1) == "wanflow_schedule_cron"
    assert VARIABLE.match(daily["timezone"]).group(1) == "wanflow_schedule_timezone"
    referenced = set(re.findall(r"prefect\.variables\.(\w+)", PREFECT_YAML.read_text()))
    assert referenced == set(written), "every variable the YAML reads is one setup writes"
    assert written["wanflow_schedule_cron"] == "0 2 * * *"
    assert written["wanflow_schedule_timezone"] == "Asia/Shanghai"

    watch = deployments["watch-incoming"]
    assert watch["schedules"] == [{"interval": 60}]
    assert watch["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert "schedules" not in deployments["produce-manifest"]
    # The watcher starts runs of the deployment this file defines.
    assert PRODUCE_DEPLOYMENT == "produce-manifest/produce-manifest"
    assert watch_incoming.parameters.properties["deployment"]["default"] == PRODUCE_DEPLOYMENT


# --- the worker images --------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", "", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _bootstrap_apt_packages() -> set[str]:
    script = (ROOT / "scripts" / "bootstrap").read_text()
    (packages,) = re.findall(r"^APT_PACKAGES=\(([^)]*)\)", script, re.M)
    return set(packages.split())


def _lock() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_a_worker_image_is_built_from_what_the_repository_has(kind):
    steps = _instructions(DOCKERFILES[kind])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    copied = set()
    for word, args in steps:
        if word == "COPY":
            *sources, _target = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                copied.add(source)
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {p.rstrip("*") for p in packages} | {"pyproject.toml", "requirements.lock"}
    needed.add(pyproject["project"]["readme"])  # the build reads it
    assert needed <= copied, f"pip install -e . needs {sorted(needed - copied)}"

    runs = " ".join(args for word, args in steps if word == "RUN")
    installed = re.search(r"apt-get install -y --no-install-recommends ([\w\- ]+?)\s*&&", runs)
    assert set(installed.group(1).split()) == _bootstrap_apt_packages()
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    (pip_pin,) = re.findall(r'"(pip==[\d.]+)"', bootstrap)
    assert f'"{pip_pin}"' in runs, "the same pip as scripts/bootstrap"
    assert "pip install -c requirements.lock -e . && pip check" in runs
    lock = _lock()
    for name in ("torch", "torchvision"):
        assert f"{name}=={lock[name]}" in runs, f"{name} at requirements.lock's version"
    if kind == "cpu":
        assert "--index-url https://download.pytorch.org/whl/cpu" in runs

    (base,) = [args for word, args in steps if word == "FROM"]
    (python,) = [a.split("=", 1)[1] for w, a in steps if w == "ARG" and a.startswith("PYTHON_")]
    assert base == "python:${PYTHON_VERSION}-slim-bookworm"
    wanted = pyproject["project"]["requires-python"]
    assert wanted == ">=3.11" and tuple(map(int, python.split("."))) >= (3, 11)


def test_the_cpu_image_polls_the_pool_its_deployments_use():
    steps = _instructions(DOCKERFILES["cpu"])
    (cmd,) = [json.loads(args) for word, args in steps if word == "CMD"]
    assert cmd[:2] == ["sh", "-c"]
    command = shlex.split(cmd[2])
    assert command[:4] == ["exec", "prefect", "worker", "start"]
    pool = command[command.index("--pool") + 1]
    # The image's default is the setting's default, and the setting's variable names the pool
    # prefect.yaml deploys to.
    default = Settings.model_fields["cpu_pool"].default
    assert pool == f"${{WANFLOW_CPU_POOL:-{default}}}"
    used = {VARIABLE.match(d["work_pool"]["name"]).group(1) for d in _prefect_yaml()["deployments"]}
    assert used == {"wanflow_cpu_pool"}


def test_the_gpu_image_is_a_gpu_worker():
    steps = _instructions(DOCKERFILES["gpu"])
    (cmd,) = [json.loads(args) for word, args in steps if word == "CMD"]
    assert cmd == ["wanflow", "gpu-worker"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["wanflow"] == "cli.main:app"
    assert not [args for word, args in steps if word == "HEALTHCHECK"]  # no port to ask


# --- wanflow setup ------------------------------------------------------------------------------


def _setup_app():
    """The command registered as cli/main.py registers it."""
    import typer

    from cli import setup as cli_setup

    app = typer.Typer()
    app.callback()(lambda: None)
    app.command()(cli_setup.setup)
    return app


def _setup(*args: str) -> list[str]:
    from typer.testing import CliRunner

    result = CliRunner().invoke(_setup_app(), ["setup", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout.splitlines()


@pytest.fixture
def pool(wanflow_env, monkeypatch) -> str:
    """A pool name of this test's own, so that tests sharing the session's API do not meet;
    the S3 settings of the session's server (setup puts Prefect's results in the bucket)."""
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("WANFLOW_CPU_POOL", name)
    return name


def _pool_env(name: str) -> dict[str, str]:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        template = client.read_work_pool(name).base_job_template
    return template["variables"]["properties"]["env"]["default"]


@pytest.mark.parametrize(
    ("api_url", "endpoint", "status", "message"),
    [
        (None, "127.0.0.1:9", 2, "set PREFECT_API_URL"),
        ("http://127.0.0.1:9/api", None, 2, "set WANFLOW_S3_ENDPOINT"),
        (
            "http://127.0.0.1:9/api",
            "127.0.0.1:9",
            1,
            "cannot reach the Prefect API at http://127.0.0.1:9/api",
        ),
    ],
)
def test_setup_refuses_without_a_prefect_server_or_an_s3_server(
    tmp_path, api_url, endpoint, status, message
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if endpoint:
        env["WANFLOW_S3_ENDPOINT"] = endpoint
    code = (
        "import typer; from cli import setup as cli_setup; app = typer.Typer(); "
        "app.callback()(lambda: None); app.command()(cli_setup.setup); "
        "app(['setup'], prog_name='wanflow')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert result.stdout == ""  # nothing was done


@pytest.mark.slow
def test_setup_creates_then_leaves_alone_then_updates(prefect_api, pool, monkeypatch):
    from prefect import get_client

    monkeypatch.setenv("WANFLOW_SCHEDULE_CRON", "30 1 * * *")
    first = _setup()
    assert re.fullmatch(
        r"result storage remote-file-system/wanflow-results \(s3://.*\): .*", first[0]
    )
    assert f"work pool {pool} (process): created" in first
    assert not any("concurrency limit" in line for line in first)  # a worker's limit bounds
    assert "variable wanflow_cpu_pool = " + repr(pool) + ": created" in first

    second = _setup()
    assert len(second) == len(first) == 5
    assert all(line.endswith("unchanged") for line in second), second

    monkeypatch.setenv("WANFLOW_SCHEDULE_CRON", "0 2 * * *")
    third = _setup()
    assert "variable wanflow_schedule_cron = '0 2 * * *': updated (was '30 1 * * *')" in third
    assert f"work pool {pool} (process): unchanged" in third

    with get_client(sync_client=True) as client:
        assert client.read_work_pool(pool).type == "process"
        assert client.read_variable_by_name("wanflow_cpu_pool").value == pool


@pytest.mark.slow
def test_setup_keeps_prefect_results_in_the_bucket_without_its_keys(prefect_api, pool, storage):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    # A pool an earlier setup made, its results in a shared directory.
    template = ProcessWorker.get_default_base_job_template()
    old = {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": "local-file-system/wanflow-results",
        "OPERATOR_SETTING": "kept",
    }
    template["variables"]["properties"]["env"]["default"] = old
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name=pool, type="process", base_job_template=template)
        )

    lines = _setup()
    where = f"s3://{storage.bucket}/work/prefect-results"
    assert re.fullmatch(
        rf"result storage remote-file-system/wanflow-results \({where}\): (created|updated)",
        lines[0],
    ), lines
    assert lines[1] == (
        f"work pool {pool} (process): updated (flow runs get "
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=remote-file-system/wanflow-results, "
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK=remote-file-system/wanflow-results, "
        "WANFLOW_FLEET=remote)"
    )
    assert _pool_env(pool) == {
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": "remote-file-system/wanflow-results",
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": "remote-file-system/wanflow-results",
        "WANFLOW_FLEET": "remote",
        "OPERATOR_SETTING": "kept",
    }
    with get_client(sync_client=True) as client:
        block = client.read_block_document_by_name(
            "wanflow-results", block_type_slug="remote-file-system", include_secrets=True
        )
    settings = Settings()
    assert block.data == {
        "basepath": where,
        "settings": {
            "client_kwargs": {
                "endpoint_url": f"http://{settings.s3_endpoint}",
                "region_name": settings.s3_region,
            }
        },
    }
    document = json.dumps(block.data)
    assert settings.s3_secret_key.get_secret_value() not in document
    assert settings.s3_access_key not in document

    again = _setup()
    assert all(line.endswith(("unchanged", "unchanged (1)")) for line in again), again


@pytest.mark.slow
def test_prefect_deploy_all_uses_what_setup_wrote(prefect_api, pool, monkeypatch):
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("WANFLOW_SCHEDULE_CRON", "15 3 * * *")
    monkeypatch.setenv("WANFLOW_SCHEDULE_TIMEZONE", "Europe/Berlin")
    _setup()
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML)]
    deployed = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    with get_client(sync_client=True) as client:
        found = {name: client.read_deployment_by_name(f"{name}/{name}") for name in ENTRYPOINTS}
        try:
            for name, deployment in found.items():
                assert deployment.entrypoint == ENTRYPOINTS[name]
                assert deployment.work_pool_name == pool
                assert deployment.pull_steps == [
                    {
                        "prefect.deployments.steps.set_working_directory": {
                            "directory": "/opt/wanflow"
                        }
                    }
                ]
            (daily,) = found["daily-content"].schedules
            assert (daily.schedule.cron, daily.schedule.timezone) == ("15 3 * * *", "Europe/Berlin")
            (tick,) = found["watch-incoming"].schedules
            assert tick.schedule.interval.total_seconds() == 60
            watcher = found["watch-incoming"]
            assert watcher.global_concurrency_limit.limit == 1
            assert watcher.concurrency_options.collision_strategy.value == "CANCEL_NEW"
            assert found["produce-manifest"].schedules == []
            assert "manifest_key" in found["produce-manifest"].parameter_openapi_schema["required"]
        finally:
            for deployment in found.values():
                client.delete_deployment(deployment.id)


# --- watch-incoming -----------------------------------------------------------------------------


@pytest.fixture
def produce_deployment(prefect_api, wanflow_env, monkeypatch):
    """A produce-manifest deployment of this test's own (no worker: its runs stay scheduled);
    yields its "flow/deployment" name, then deletes it with its runs."""
    from prefect import get_client

    from flows.produce_manifest import produce_manifest

    monkeypatch.chdir(ROOT)
    name = f"watch-{uuid.uuid4().hex[:8]}"
    deployment_id = produce_manifest.to_deployment(name=name).apply()
    yield f"produce-manifest/{name}", deployment_id
    with get_client(sync_client=True) as client:
        for run in _runs_of(deployment_id):
            client.delete_flow_run(run.id)
        client.delete_deployment(deployment_id)


def _runs_of(deployment_id) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


@pytest.mark.slow
def test_two_watchers_racing_start_each_manifest_exactly_once(
    produce_deployment, storage, monkeypatch
):
    from flows.watch import watch_incoming
    from wanflow.storage import Storage

    deployment, deployment_id = produce_deployment
    names = [f"m{i}.csv" for i in range(4)]
    for name in names:
        storage.put_bytes(f"incoming/{name}", b"prompt\n\xe6\x98\x9f\xe7\xa9\xba\n")

    # Both watchers have listed every manifest before either claims one: a real race.
    both_listed = threading.Barrier(2)
    synced = threading.local()
    claim = Storage.claim

    def racing_claim(self, key, owner):
        if not getattr(synced, "done", False):
            synced.done = True
            both_listed.wait(timeout=120)
        return claim(self, key, owner)

    monkeypatch.setattr(Storage, "claim", racing_claim)
    results: dict[int, object] = {}

    def watch(i: int) -> None:
        try:
            results[i] = watch_incoming(deployment=deployment)
        except BaseException as exc:  # surfaced below
            results[i] = exc

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    a, b = results[0], results[1]
    assert not isinstance(a, BaseException) and not isinstance(b, BaseException), results

    processing = {f"processing/{n}" for n in names}
    started_a = {s.manifest_key for s in a.started}
    started_b = {s.manifest_key for s in b.started}
    assert started_a | started_b == processing and not started_a & started_b
    assert {k.replace("incoming/", "processing/") for k in a.skipped} == started_b
    assert {k.replace("incoming/", "processing/") for k in b.skipped} == started_a
    assert not a.failed and not b.failed

    runs = _runs_of(deployment_id)
    assert sorted(r.parameters["manifest_key"] for r in runs) == sorted(processing)
    ids = {s.flow_run_id for s in a.started + b.started}
    assert {str(r.id) for r in runs} == ids
    assert all(r.parent_task_run_id is None for r in runs)  # not children of a tick
    assert {o.key for o in storage.list("processing/")} == processing
    assert list(storage.list("incoming/")) == []


@pytest.mark.slow
def test_a_watcher_starts_at_most_limit_runs_oldest_first(produce_deployment, storage):
    from flows.watch import watch_incoming

    deployment, deployment_id = produce_deployment
    for name in ("a.csv", "b.csv", "c.csv"):
        storage.put_bytes(f"incoming/{name}", b"prompt\nx\n")
    summary = watch_incoming(deployment=deployment, limit=2)
    assert [s.manifest_key for s in summary.started] == ["processing/a.csv", "processing/b.csv"]
    assert summary.left == 1 and not summary.skipped and not summary.failed
    assert len(_runs_of(deployment_id)) == 2
    assert storage.exists("incoming/c.csv")

    again = watch_incoming(deployment=deployment, limit=2)  # the next tick takes the rest
    assert [s.manifest_key for s in again.started] == ["processing/c.csv"]
    assert again.left == 0


@pytest.mark.slow
def test_a_run_that_cannot_start_keeps_its_claim(prefect_api, wanflow_env, storage):
    from flows.watch import watch_incoming

    storage.put_bytes("incoming/kept.csv", b"prompt\nx\n")
    summary = watch_incoming(deployment="produce-manifest/no-such-deployment")
    assert summary.started == [] and summary.skipped == []
    assert list(summary.failed) == ["processing/kept.csv"]
    assert "ObjectNotFound" in summary.failed["processing/kept.csv"]
    # Still claimed, for a person to start: not back in incoming/ for a second run.
    assert storage.exists("processing/kept.csv") and not storage.exists("incoming/kept.csv")
    (record,) = [o.key for o in storage.list("work/claims/")]
    assert json.loads(storage.get_bytes(record))["owner"].startswith("watch-incoming/")


# --- daily-content ------------------------------------------------------------------------------


@pytest.mark.slow
def test_daily_content_files_every_manifest_whatever_happens_to_the_others(
    prefect_api, wanflow_env, storage, monkeypatch
):
    import flows.produce_manifest
    from flows.watch import daily_content

    read_config = flows.produce_manifest.read_operator_config

    def boom_on_one(*args, **kwargs):
        from prefect.runtime import flow_run

        if "boom" in flow_run.get_parameters()["manifest_key"]:
            raise RuntimeError("the operator config server fell over")
        return read_config(*args, **kwargs)

    monkeypatch.setattr(flows.produce_manifest, "read_operator_config", boom_on_one)
    storage.put_bytes("incoming/boom.json", json.dumps([{"id": "b", "prompt": "星空"}]).encode())
    storage.put_bytes("incoming/broken.json", b'[{"prompt": "x"}, {"prompt": ')
    storage.put_bytes("incoming/good.json", json.dumps([{"id": "g", "prompt": "星空"}]).encode())

    summary = daily_content()

    outcomes = summary.manifests
    assert set(outcomes) == {"incoming/boom.json", "incoming/broken.json", "incoming/good.json"}
    boom, broken, good = (outcomes[f"incoming/{n}.json"] for n in ("boom", "broken", "good"))
    assert boom.status == "error" and "operator config server fell over" in boom.error
    assert broken.status == "failed" and "unreadable manifest" in broken.error
    assert good.status == "succeeded" and good.error is None
    assert json.loads(storage.get_bytes(good.report_key))["status"] == "succeeded"
    assert json.loads(storage.get_bytes(broken.report_key))["status"] == "failed"
    assert storage.exists("processed/good.json")
    assert storage.exists("failed/broken.json") and storage.exists("failed/boom.json")
    assert list(storage.list("incoming/")) == [] and list(storage.list("processing/")) == []


@pytest.mark.slow
def test_daily_content_deployed_hands_each_manifest_to_a_run_of_its_own(
    produce_deployment, storage
):
    """A run waiting for approval must not hold up the next manifest: each gets its own run."""
    from flows.watch import daily_content

    deployment, deployment_id = produce_deployment
    for name in ("d1.csv", "d2.csv"):
        storage.put_bytes(f"incoming/{name}", b"prompt\nx\n")
    summary = daily_content(deployment=deployment)
    assert {k: o.status for k, o in summary.manifests.items()} == {
        "processing/d1.csv": "started",
        "processing/d2.csv": "started",
    }
    runs = _runs_of(deployment_id)
    assert sorted(r.parameters["manifest_key"] for r in runs) == [
        "processing/d1.csv",
        "processing/d2.csv",
    ]
    assert {str(r.id) for r in runs} == {o.flow_run_id for o in summary.manifests.values()}
