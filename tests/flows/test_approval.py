"""Human approval: the request and form, the CLI, and the round trip through a real Prefect API."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from flows.approve import form_for
from moderation.approval import (
    ApprovalRequest,
    DecisionError,
    PendingItem,
    brief,
    check_decision,
    describe,
    details,
    label,
)
from tests.conftest import ROOT, WANFLOW

REQUEST = ApprovalRequest(
    run_id="20261123T000000Z-abcd",
    flow_run_id="8f1c2d3e-0000-4000-8000-000000000001",
    manifest="stars.json",
    deadline=datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
    items=[
        PendingItem(
            id="orion-hunt",
            title="猎户 | 出猎",
            prompt="猎人在星空下追逐\n第二行",
            verdict="review",
            reasons=["awaiting human review: violence 0.41 ≥ 0.35 at 2.0 s"],
            scores={"violence": 0.41, "nudity": 0.02},
            sheet_url="http://s3.local/wanflow/work/r/orion-hunt/sheet.jpg?X-Amz-Signature=1",
        ),
        PendingItem(id="big_dipper-2", prompt="北斗" * 200, verdict="pass"),
    ],
)


DETAILS_URL = "http://ui/artifacts/artifact/0b6f5a52-4f0c-4bb1-9d7e-3f1a2b3c4d5e"


@pytest.fixture
def bucket(monkeypatch):
    """The settings of the bucket whose presigned URLs the markdown may link to:
    http://s3.local/wanflow/."""
    from wanflow.settings import Settings

    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", "s3.local")
    monkeypatch.setenv("WANFLOW_S3_BUCKET", "wanflow")
    monkeypatch.setenv("WANFLOW_S3_SECURE", "false")
    return Settings()


CLASSIFIER_ERROR = (
    "awaiting human review: shots 1–4: classifier failed, a person must look: zeroshot: "
    "ClassifierError: no OpenCLIP weights for ViT-B-32 (set WANFLOW_CLIP_WEIGHTS) " + "x" * 200
)


def test_the_description_is_a_few_short_lines_linking_to_the_details():
    request = REQUEST.model_copy(update={"details_url": DETAILS_URL})
    text = describe(request)
    assert "2 item(s) of `stars.json` await a decision" in text
    assert "round 1, until 2026-11-24 02:00 UTC" in text
    assert f"[Contact sheets, clips, prompts and scores]({DETAILS_URL})" in text
    assert f"wanflow approvals decide {REQUEST.flow_run_id}" in text
    # Prefect squeezes a long description to nothing: no prompts, reasons or sheets here.
    assert "猎人" not in text and "violence" not in text and "sheet.jpg" not in text
    assert len(text) < 500 and len(text.splitlines()) <= 5
    assert "Contact sheets" not in describe(REQUEST)  # no artifact, no dead link


def test_the_details_artifact_shows_each_item_with_what_a_reviewer_needs(bucket):
    clip = "http://s3.local/wanflow/work/clips/{}.mp4?X-Amz-Signature=2"
    held = REQUEST.items[0].model_copy(
        update={
            "reasons": [CLASSIFIER_ERROR, REQUEST.items[0].reasons[0], CLASSIFIER_ERROR],
            "clip_urls": {2: clip.format(2), 1: clip.format(1)},
            "video_url": clip.format("final"),
        }
    )
    text = details(REQUEST.model_copy(update={"items": [held, REQUEST.items[1]]}), bucket)
    assert "## `orion-hunt` — 猎户 \\| 出猎" in text  # a pipe would break the markdown
    assert "> 猎人在星空下追逐 第二行" in text
    assert "- **verdict:** review" in text
    assert text.count("classifier failed") == 1  # every distinct reason, once
    assert "  - awaiting human review: violence 0.41" in text
    assert "**scores:** violence 0.41, nudity 0.02" in text
    sheet = "http://s3.local/wanflow/work/r/orion-hunt/sheet.jpg?X-Amz-Signature=1"
    assert f"![contact sheet of orion-hunt]({sheet})" in text  # inline, not only a link
    assert (
        f"[finished video]({clip.format('final')}) · [contact sheet]({sheet}) · "
        f"[shot 1 clip]({clip.format(1)}) · [shot 2 clip]({clip.format(2)})"
    ) in text
    assert "北斗" * 119 + "北…" in text and "北斗" * 121 not in text  # long prompts are cut


def test_an_items_label_is_one_short_line_with_distinct_reasons_in_a_few_words():
    held = REQUEST.items[0].model_copy(
        update={"reasons": [CLASSIFIER_ERROR] * 4 + [REQUEST.items[0].reasons[0]]}
    )
    text = label(held)
    assert text == (
        "orion-hunt · 猎户 | 出猎 — review: shots 1–4: zeroshot failed (ClassifierError); "
        "violence 0.41 ≥ 0.35 at 2.0 s"
    )
    assert brief([]) == "no reason given"
    assert brief(["shot 2: violence 0.41 at 2.0 s (open_clip) → review"]) == (
        "shot 2: violence 0.41 at 2.0 s"
    )
    four = ["a" * 30, "b" * 30, "c" * 30, "d" * 30]
    assert brief(four, 72) == f"{'a' * 30}; {'b' * 30} (+2 more)"
    assert brief(four, 71) == f"{'a' * 30} (+3 more)"


def test_the_form_has_a_choice_per_item_keyed_by_its_id():
    form = form_for(REQUEST)
    schema = form.model_json_schema(by_alias=True)
    assert set(schema["properties"]) == {"orion-hunt", "big_dipper-2", "reviewer", "comment"}
    choice = schema["properties"]["orion-hunt"]
    assert choice["enum"] == ["approve", "reject", "undecided"]
    assert choice["default"] == "undecided"
    assert choice["title"] == label(REQUEST.items[0])
    assert "description" not in choice  # the label says it in one line
    answer = form(**{"orion-hunt": "approve", "reviewer": "ann"})
    assert answer.model_dump(by_alias=True)["big_dipper-2"] == "undecided"
    with pytest.raises(ValidationError):
        form(**{"orion-hunt": "maybe"})
    with pytest.raises(ValidationError):
        form(**{"not-an-item": "approve"})
    assert form._description == describe(REQUEST)
    # Prefect's resume dialog shrinks a form's description to nothing once enough items fill it,
    # never a field's: the reviewer field carries the link to the details too.
    linked = form_for(REQUEST.model_copy(update={"details_url": DETAILS_URL}))
    reviewer = linked.model_json_schema(by_alias=True)["properties"]["reviewer"]
    assert f"({DETAILS_URL})" in reviewer["description"]
    assert "http" not in schema["properties"]["reviewer"].get("description", "")


def test_a_decision_must_fit_the_request():
    ids = REQUEST.ids
    assert check_decision(ids, ["orion-hunt"], ["big_dipper-2", "big_dipper-2"]) == {
        "orion-hunt": "approve",
        "big_dipper-2": "reject",
    }
    with pytest.raises(DecisionError, match="nothing to decide"):
        check_decision(ids, [], [])
    with pytest.raises(DecisionError, match="approved and rejected at once: orion-hunt"):
        check_decision(ids, ["orion-hunt"], ["orion-hunt"])
    with pytest.raises(DecisionError, match=r"not waiting for a decision: vega; waiting: orion"):
        check_decision(ids, ["vega"], [])


def test_the_cli_needs_the_server_the_runs_report_to(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path)
    for args in (["list"], ["decide", REQUEST.flow_run_id, "--approve", "x"]):
        result = subprocess.run(
            [WANFLOW, "approvals", *args], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 2, result.stderr
        assert "set PREFECT_API_URL" in result.stderr


# --- against a real Prefect API -----------------------------------------------------------------

ITEMS = [
    {"id": "vega", "title": "织女", "prompt": "织女星在夏夜闪烁", "seed": 1},
    {"id": "altair", "title": "牛郎", "prompt": "牛郎星穿过银河", "seed": 2},
    {"id": "deneb", "prompt": "天鹅座的尾巴", "seed": 3},
]


def _cli(*args: str, api_url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PREFECT_API_URL=api_url, COLUMNS="80")
    return subprocess.run(
        [WANFLOW, "approvals", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _wait_listed(api_url: str, ids: list[str], flow: threading.Thread, within_s=240) -> dict:
    """The run as ``wanflow approvals list --json`` shows it once it waits for ``ids``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and flow.is_alive():
        listed = _cli("list", "--json", api_url=api_url)
        assert listed.returncode == 0, listed.stderr
        for run in json.loads(listed.stdout):
            if [i["id"] for i in run["items"]] == ids:
                return run
        time.sleep(1)
    raise AssertionError(f"no run waited for {ids} (flow thread alive: {flow.is_alive()})")


@pytest.fixture
def approving(prefect_api, wanflow_env, monkeypatch):
    """The flow in a thread, waiting up to ``timeout`` s for a decision; the test is the
    reviewer, in other processes."""
    from prefect.settings import PREFECT_API_URL

    from flows.produce_manifest import produce_manifest

    def start(key: str, timeout: float) -> tuple[threading.Thread, dict]:
        monkeypatch.setenv("WANFLOW_APPROVAL_TIMEOUT_S", str(timeout))
        result: dict = {}

        def run() -> None:
            try:
                result["report"] = produce_manifest(manifest_key=key)
            except BaseException as exc:  # surfaced by the test
                result["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, result

    return start, PREFECT_API_URL.value()


@pytest.mark.slow
def test_approval_round_trip_through_the_cli(approving, storage):
    from moderation.audit import read_entries

    start, api_url = approving
    storage.put_bytes("incoming/summer.json", json.dumps(ITEMS).encode())
    thread, result = start("incoming/summer.json", timeout=300)

    run = _wait_listed(api_url, ["vega", "altair", "deneb"], thread)
    assert run["round"] == 1 and run["manifest"] == "summer.json"
    assert all(i["verdict"] == "review" and i["sheet_url"] for i in run["items"])
    assert any("no OpenCLIP weights" in r for r in run["items"][0]["reasons"])
    flow_run_id = run["flow_run_id"]
    vega_sheet = run["items"][0]["sheet_url"]
    assert run["items"][0]["clip_urls"]["1"].startswith("http")
    table = _cli("list", api_url=api_url)  # at 80 columns
    assert flow_run_id in table.stdout and "altair" in table.stdout and "织女" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80, table.stdout
    assert "http" not in table.stdout and "OpenCLIP weights" not in table.stdout  # a few words
    assert table.stdout.count("failed") == 3  # each item's classifier failure, once
    linked = _cli("list", "--links", api_url=api_url)
    assert f"vega contact sheet: {vega_sheet}" in linked.stdout.splitlines()  # whole
    assert "vega shot 1 clip: http" in linked.stdout

    # A decision that does not fit is refused here, and the run keeps waiting.
    typo = _cli("decide", flow_run_id, "--approve", "vegaa", api_url=api_url)
    assert typo.returncode == 2 and "not waiting for a decision: vegaa" in typo.stderr

    first = _cli(
        "decide", flow_run_id, "--approve", "vega", "--reject", "altair",
        "--comment", "altair shows a weapon", "--reviewer", "ann@studio", api_url=api_url,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "approved: vega" in first.stdout and "rejected: altair" in first.stdout
    assert "still waiting: deneb" in first.stdout

    second = _wait_listed(api_url, ["deneb"], thread)  # undecided items wait again
    assert second["round"] == 2 and second["flow_run_id"] == flow_run_id
    done = _cli("decide", flow_run_id, "--reject", "deneb", "--reviewer", "bo", api_url=api_url)
    assert done.returncode == 0, done.stderr

    thread.join(timeout=240)
    assert not thread.is_alive() and "error" not in result, result
    report = result["report"]
    assert report.status == "succeeded"
    vega, altair, deneb = report.items
    assert (vega.status, altair.status, deneb.status) == ("published", "rejected", "rejected")
    assert vega.approval.decision == "approve" and vega.final is not None  # approved, finished
    # Composed before the decision, so that the reviewer judged the finished video; rejected,
    # never published.
    assert altair.final is not None and altair.published is None and deneb.published is None
    assert not list(storage.list(f"published/{report.started_at.date()}/altair/"))
    assert vega.approval.actor == "ann@studio" and vega.reasons == [
        "approved by ann@studio: altair shows a weapon"
    ]
    assert altair.reasons[-1] == "rejected by ann@studio: altair shows a weapon"
    assert deneb.approval.actor == "bo"
    # Only the approved item is published; the rejected ones never reach published/.
    day = report.started_at.date().isoformat()
    assert {o.key.split("/")[2] for o in storage.list("published/")} == {"vega"}
    assert vega.published.prefix == f"published/{day}/vega/"
    meta = json.loads(storage.get_bytes(vega.published.files["metadata.json"]))
    assert meta["approval"]["actor"] == "ann@studio" and meta["approval"]["decision"] == "approve"

    audit = read_entries(storage, report.run_id, report.started_at.date())
    automatic = [(e.item_id, e.stage, e.decision) for e in audit if e.automatic]
    assert automatic == [(i, "review", "review") for i in ("vega", "altair", "deneb")]
    human = [(e.item_id, e.decision, e.actor, e.comment) for e in audit if not e.automatic]
    assert human == [
        ("vega", "approve", "ann@studio", "altair shows a weapon"),
        ("altair", "reject", "ann@studio", "altair shows a weapon"),
        ("deneb", "reject", "bo", ""),
    ]
    assert all(e.flow_run_id == flow_run_id for e in audit)

    from prefect import get_client

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run_id).state.is_completed()


@pytest.mark.slow
def test_undecided_items_are_held_when_the_wait_times_out(approving, storage):
    from moderation.audit import read_entries

    start, _ = approving
    storage.put_bytes("incoming/late.json", json.dumps(ITEMS[:1]).encode())
    thread, result = start("incoming/late.json", timeout=3)
    thread.join(timeout=300)
    assert "error" not in result, result
    report = result["report"]
    assert report.status == "succeeded" and report.manifest_key == "processed/late.json"
    (vega,) = report.items
    assert vega.status == "held" and vega.approval.decision == "hold"
    assert vega.reasons[-1] == "no decision within 3 s: held, not published"
    assert vega.approval.actor == "wanflow/approval-timeout"
    stored = json.loads(storage.get_bytes(report.key))
    assert stored["items"][0]["status"] == "held"
    audit = read_entries(storage, report.run_id, report.started_at.date())
    assert [(e.stage, e.decision) for e in audit] == [("review", "review"), ("approval", "hold")]

    from prefect import get_client

    with get_client(sync_client=True) as client:  # Prefect's failed pause did not fail the run
        assert client.read_flow_run(report.flow_run_id).state.is_completed()


@pytest.mark.slow
def test_auto_approve_approves_held_items_and_logs_it(approving, storage, monkeypatch):
    from moderation.audit import read_entries

    monkeypatch.setenv("WANFLOW_AUTO_APPROVE", "true")
    start, _ = approving
    storage.put_bytes("incoming/auto.json", json.dumps(ITEMS[:1]).encode())
    thread, result = start("incoming/auto.json", timeout=3600)
    thread.join(timeout=300)
    (vega,) = result["report"].items
    assert vega.status == "published" and vega.approval.actor == "wanflow/auto-approve"
    report = result["report"]
    (entry,) = [
        e
        for e in read_entries(storage, report.run_id, report.started_at.date())
        if e.stage == "approval"
    ]
    assert entry.automatic and entry.decision == "approve"
    assert entry.at - report.started_at < timedelta(minutes=10)


def _suspended_run(storage, monkeypatch, name: str, items: list, timeout_s: int):
    """A deployed produce-manifest run of ``items``, run by a worker until it suspends to wait
    for a reviewer; returns the flow run and its state."""
    import asyncio

    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    from flows.produce_manifest import produce_manifest

    monkeypatch.chdir(ROOT)  # the deployment's entrypoint is relative to the repository
    monkeypatch.setenv("WANFLOW_APPROVAL_TIMEOUT_S", str(timeout_s))
    monkeypatch.setenv("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true")
    storage.put_bytes(f"incoming/{name}.json", json.dumps(items).encode())
    produce_manifest.to_deployment(name=name).apply()
    flow_run = run_deployment(
        f"produce-manifest/{name}",
        parameters={"manifest_key": f"incoming/{name}.json"},
        timeout=0,
    )
    asyncio.run(Runner().execute_flow_run(flow_run.id))  # returns: the run is suspended
    with get_client(sync_client=True) as client:
        return flow_run, client.read_flow_run(flow_run.id).state


@pytest.mark.slow
def test_a_deployed_run_suspends_while_waiting_and_resumes_from_the_top(
    prefect_api, wanflow_env, storage, monkeypatch
):
    """No process is held while a deployed run waits; resumed, it re-runs from the top and finds
    its claim and its items where it left them instead of redoing them: nothing renders, is
    reviewed or composed again. Two rounds: the report sums the stage times of all three
    passes, each decision is stamped when it was made, and only real suspensions say so in the
    log."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL

    from moderation.audit import read_entries

    api_url = PREFECT_API_URL.value()
    flow_run, state = _suspended_run(storage, monkeypatch, "deployed", ITEMS[:2], 900)
    assert state.name == "Suspended" and state.is_paused()
    (interim,) = [o.key for o in storage.list("reports/") if o.key.endswith(".json")]
    first = json.loads(storage.get_bytes(interim))
    assert first["status"] == "running" and first["passes"] == 1
    assert first["stages"]["generate"] > 0
    # Held items wait composed: the reviewer judges the finished video.
    assert all(i["status"] == "held" and i["final"] for i in first["items"])

    def task_runs() -> list:
        with get_client(sync_client=True) as client:
            only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            return client.read_task_runs(flow_run_filter=only)

    def named(runs: list, prefix: str) -> list[str]:
        return sorted(t.state.name for t in runs if t.name.startswith(prefix))

    before = task_runs()
    assert named(before, "render-") == ["Completed", "Completed"]  # one shot per item

    def resume_after(*decision: str) -> tuple[datetime, datetime]:
        """Decide with the CLI, then let a worker run the resumed run; when the decision was
        made (between the two times returned)."""
        before = datetime.now(UTC)
        decided = _cli("decide", str(flow_run.id), *decision, "--reviewer", "cy", api_url=api_url)
        assert decided.returncode == 0, decided.stderr
        after = datetime.now(UTC)
        asyncio.run(Runner().execute_flow_run(flow_run.id))  # a worker takes the resumed run
        return before, after

    vega_decided = resume_after("--approve", "vega")  # altair waits for round 2
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.name == "Suspended"
    altair_decided = resume_after("--reject", "altair")

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.is_completed()
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
    # Re-run from the top, twice: no shot rendered, no item reviewed or composed again.
    after = task_runs()
    for stage in ("render-", "review-item", "compose-item"):
        assert named(after, stage) == named(before, stage), stage
    # Two waits, two suspensions; the passes that replayed an answered round did not suspend.
    assert sum("Suspending flow run" in log.message for log in logs) == 2

    (key,) = [o.key for o in storage.list("reports/") if o.key.endswith(".json")]
    assert key == interim  # the same run id after the re-runs
    report = json.loads(storage.get_bytes(key))
    assert report["status"] == "succeeded" and report["passes"] == 3
    assert [i["status"] for i in report["items"]] == ["published", "rejected"]
    # Stage times add up over the passes: the first pass's generation is still counted.
    assert report["stages"]["generate"] >= first["stages"]["generate"]
    assert all(report["stages"][s] >= first["stages"][s] for s in first["stages"])
    run_id = report["run_id"]
    audit = read_entries(storage, run_id, datetime.fromisoformat(report["started_at"]).date())
    assert [(e.item_id, e.decision, e.actor) for e in audit] == [
        ("vega", "review", "wanflow/review-policy"),
        ("altair", "review", "wanflow/review-policy"),
        ("vega", "approve", "cy"),
        ("altair", "reject", "cy"),
    ]
    # Each decision carries the time it was made, not the time a later pass logged it.
    vega, altair = audit[2], audit[3]
    assert vega_decided[0] <= vega.at <= vega_decided[1]
    assert altair_decided[0] <= altair.at <= altair_decided[1]
    assert report["items"][0]["approval"]["at"] == vega.at.isoformat().replace("+00:00", "Z")


@pytest.mark.slow
def test_a_suspended_run_past_its_deadline_is_resumed_by_the_watcher_and_holds(
    prefect_api, wanflow_env, storage, monkeypatch
):
    """Prefect would fail a suspended run at its timeout, its manifest stranded in processing/;
    the watcher's tick resumes it once the deadline has passed, and the run holds and files."""
    import asyncio

    from prefect import get_client
    from prefect.input.actions import create_flow_run_input, delete_flow_run_input
    from prefect.runner import Runner

    from flows.approve import SWEEP_GRACE_S, record_key, resume_overdue, stored_request
    from flows.watch import watch_incoming
    from moderation.audit import read_entries

    # A deadline no slow start can reach: the run suspends before it, every time.
    flow_run, state = _suspended_run(storage, monkeypatch, "overdue", ITEMS[:1], 900)
    assert state.name == "Suspended"
    # Prefect's own timeout is the deadline plus the grace: the watcher gets there first.
    assert state.state_details.pause_timeout > state.timestamp + timedelta(seconds=SWEEP_GRACE_S)
    assert resume_overdue() == []  # before the deadline: left alone

    # The deadline passes, without waiting for it: the stored one (the first round's record,
    # which both the watcher's sweep and the run's re-run read) moves a second into the past.
    request = stored_request(flow_run.id, "approval-1")
    assert request is not None and request.deadline > datetime.now(UTC)
    passed = request.model_copy(update={"deadline": datetime.now(UTC) - timedelta(seconds=1)})
    delete_flow_run_input(record_key("approval-1"), flow_run_id=flow_run.id)
    create_flow_run_input(
        record_key("approval-1"), passed.model_dump(mode="json"), flow_run_id=flow_run.id
    )
    assert resume_overdue(now=passed.deadline - timedelta(seconds=1)) == []  # not before it
    summary = watch_incoming(deployment="produce-manifest/overdue")  # a tick, at the real now
    assert summary.resumed == [str(flow_run.id)] and summary.started == []
    asyncio.run(Runner().execute_flow_run(flow_run.id))  # a worker picks the resumed run up

    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.is_completed()
    assert storage.exists("processed/overdue.json")
    (key,) = [o.key for o in storage.list("reports/") if o.key.endswith(".json")]
    report = json.loads(storage.get_bytes(key))
    (vega,) = report["items"]
    assert vega["status"] == "held" and vega["published"] is None
    assert vega["reasons"][-1] == "no decision within 900 s: held, not published"
    audit = read_entries(
        storage, report["run_id"], datetime.fromisoformat(report["started_at"]).date()
    )
    assert [(e.decision, e.actor) for e in audit if e.stage == "approval"] == [
        ("hold", "wanflow/approval-timeout")
    ]
    assert not list(storage.list("published/"))


def test_the_waiting_list_prints_a_hostile_title_as_text():
    from types import SimpleNamespace

    from rich.console import Console
    from rich.text import Text

    from cli.approvals import _waiting_run

    hostile = "[link=http://evil.example]click[/link] [/] [bold red]x"
    item = REQUEST.items[0].model_copy(update={"title": hostile, "reasons": [hostile]})
    request = REQUEST.model_copy(update={"items": [item]})
    run = SimpleNamespace(id=REQUEST.flow_run_id, state=SimpleNamespace(name="Paused"))
    console = Console(width=400, force_terminal=True)
    with console.capture() as captured:
        console.print(_waiting_run(run, request))
    printed = captured.get()
    assert "[link=http://evil.example]click[/link] [/]" in Text.from_ansi(printed).plain
    assert "\x1b]8;" not in printed  # no terminal hyperlink
