"""The queue, an item's page, its media and a decision, against a run that really waits (a
flow in a thread, paused on a real Prefect API) and its report and files in a real bucket."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime

import pytest

from moderation.approval import PendingItem
from tests.flows.test_approval_ui import HOSTILE_TITLE, WaitingFlow
from tests.service.test_review_sessions import PASSWORD, csrf_of, log_in, pages  # noqa: F401
from wanflow import keys
from wanflow.clip import Clip
from wanflow.report import Final, ItemOutcome, Review, RunReport

RUN_ID = "20261203T000000Z-ui"  # the run id WaitingFlow asks with
EXPANDED = "Wide shot: Orion over a snowfield, <b>the hunter</b> draws his bow, cinematic"


def _video(path) -> bytes:
    import imageio_ffmpeg

    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         "testsrc=s=64x64:d=1:r=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture
def waiting(storage, prefect_api, tmp_path):
    """A run waiting on two held items: ``orion-hunt`` composed (video, contact sheet and plan
    in the bucket, named by the run's report) and ``vega``, not composed yet: its one clip."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    video = _video(tmp_path / "video.mp4")
    work = f"work/{RUN_ID}/orion-hunt"
    storage.put_bytes(f"{work}/final/video.mp4", video, content_type="video/mp4")
    storage.put_bytes(
        f"{work}/sheet.jpg", b"\xff\xd8\xff\xe0 not really", content_type="image/jpeg"
    )
    plan = {"shots": [{"prompt": EXPANDED}]}
    storage.put_bytes(f"{work}/plan.json", json.dumps(plan).encode())
    storage.put_bytes(f"work/{RUN_ID}/vega/shot-1.mp4", video, content_type="video/mp4")
    clip = Clip(
        shot=1, hash="0" * 16, key=f"work/{RUN_ID}/vega/shot-1.mp4", width=64, height=64,
        last_frame_key=f"work/{RUN_ID}/vega/shot-1.last.png", model="tiny", device="cpu",
        plan="whole", frames=8, fps=8,
    )  # fmt: skip
    report = RunReport(
        run_id=RUN_ID, manifest="orion.json", source_key="processing/orion.json",
        started_at=datetime(2026, 12, 3, tzinfo=UTC),
        items=[
            ItemOutcome(
                id="orion-hunt", title=HOSTILE_TITLE, status="held", plan_key=f"{work}/plan.json",
                review=Review(decision="review", sheet_key=f"{work}/sheet.jpg"),
                final=Final(files={"video.mp4": f"{work}/final/video.mp4"}, duration_s=1,
                            normalization="none"),
            ),
            ItemOutcome(id="vega", status="held", clips=[clip]),
        ],
    )  # fmt: skip
    storage.put_bytes(report.key, report.model_dump_json().encode())
    items = [
        PendingItem(
            id="orion-hunt", title=HOSTILE_TITLE, prompt="猎户座高悬在雪原之上 <script>",
            verdict="review", scores={"violence": 0.41},
            reasons=["awaiting human review: shot 1: violence 0.41 ≥ 0.35"],
        ),
        PendingItem(id="vega", prompt="织女星", verdict="pass", reasons=["awaiting approval"]),
    ]  # fmt: skip
    flow = WaitingFlow(PREFECT_API_URL.value(), "orion.json", items)
    with get_client(sync_client=True) as client:
        flow_run_id = flow.wait_paused(client)
    yield flow, flow_run_id, video


@pytest.fixture
def client(request):
    client, _, _ = request.getfixturevalue("pages")
    assert log_in(client).status_code == 303
    return client


def _paused_on(flow_run_id: str, ids: list[str], within_s: float = 120) -> None:
    from flows.approve import waiting_runs

    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if any(str(r.id) == flow_run_id and q.ids == ids for r, q in waiting_runs()):
            return
        time.sleep(0.3)
    raise AssertionError(f"{flow_run_id} never waited for {ids}")


def test_a_reviewer_sees_the_queue_and_the_item_and_decides_as_themselves(waiting, client):
    flow, flow_run_id, video = waiting
    queue = client.get("/review")
    assert queue.status_code == 200
    assert queue.text.count(f"/review/item/{flow_run_id}/") == 4  # two links per item
    assert "&lt;img src=x" in queue.text and "<img src=x" not in queue.text  # escaped
    assert "orion.json" in queue.text and "violence 0.41" in queue.text

    item = client.get(f"/review/item/{flow_run_id}/orion-hunt")
    assert item.status_code == 200
    media = f"/review/media/{flow_run_id}/orion-hunt"
    assert f'<video id="player" controls preload="auto" playsinline src="{media}/video.mp4">' in (
        item.text
    )
    assert f'src="{media}/sheet.jpg"' in item.text
    assert "&lt;b&gt;the hunter&lt;/b&gt;" in item.text  # the expanded prompt, escaped
    assert "猎户座高悬在雪原之上 &lt;script&gt;" in item.text
    assert "<kbd>a</kbd> approve" in item.text and "Logged as <strong>ann</strong>" in item.text
    assert f'href="/review/item/{flow_run_id}/vega"' in item.text  # next
    other = client.get(f"/review/item/{flow_run_id}/vega")
    assert "no finished video yet" in other.text and 'id="player"' not in other.text
    assert f'src="/review/media/{flow_run_id}/vega/shot-1.mp4"' in other.text
    assert client.get(f"/review/item/{flow_run_id}/sirius").status_code == 404

    whole = client.get(f"{media}/video.mp4")
    assert whole.status_code == 200 and whole.content == video
    assert (
        whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    )
    part = client.get(f"{media}/video.mp4", headers={"Range": "bytes=4-99"})
    assert part.status_code == 206 and part.content == video[4:100]
    assert part.headers["content-range"] == f"bytes 4-99/{len(video)}"
    tail = client.get(f"{media}/video.mp4", headers={"Range": f"bytes={len(video)}-"})
    assert tail.status_code == 416
    assert client.get(f"{media}/sheet.jpg").headers["content-type"] == "image/jpeg"
    assert client.get(f"{media}/plan.json").status_code == 404  # only what the page shows
    assert client.get(f"/review/media/{flow_run_id}/vega/video.mp4").status_code == 404
    assert client.get(f"/review/media/{flow_run_id}/vega/shot-1.mp4").content == video
    assert client.get(f"/review/media/{flow_run_id}/vega/shot-2.mp4").status_code == 404
    assert client.get(f"/review/media/{flow_run_id}/sirius/sheet.jpg").status_code == 404

    form = {"decision": "approve", "comment": "the bow  is\nfine"}
    refused = client.post(f"/review/item/{flow_run_id}/orion-hunt", data=form)
    assert refused.status_code == 403  # no CSRF token: the run keeps waiting
    _paused_on(flow_run_id, ["orion-hunt", "vega"], within_s=5)
    decided = client.post(
        f"/review/item/{flow_run_id}/orion-hunt", data=form | {"csrf": csrf_of(item)}
    )
    assert decided.status_code == 303, decided.text
    _paused_on(flow_run_id, ["vega"])  # the other item waits again, in round 2
    page = client.get(f"/review/item/{flow_run_id}/vega")
    assert "approved orion-hunt as ann" in page.text  # the message from the decision
    again = client.post(
        f"/review/item/{flow_run_id}/orion-hunt", data=form | {"csrf": csrf_of(item)}
    )
    assert again.status_code == 409 and "not waiting for a decision: orion-hunt" in again.text
    rejected = client.post(
        f"/review/item/{flow_run_id}/vega", data={"csrf": csrf_of(page), "decision": "reject"}
    )
    assert rejected.status_code == 303 and rejected.headers["location"] == "/review"

    first, second = flow.join()["answers"]
    assert first.choices == {"orion-hunt": "approve", "vega": "undecided"}
    assert (first.reviewer, first.comment) == ("ann", "the bow is fine")
    assert second.choices == {"vega": "reject"} and second.reviewer == "ann"
    assert "Nothing is waiting" in client.get("/review").text
    assert PASSWORD not in page.text


def test_the_report_key_of_a_run_is_found_from_its_id():
    from service.review_items import run_day

    assert keys.report_key(RUN_ID, run_day(RUN_ID)) == f"reports/2026-12-03/{RUN_ID}.json"


def test_the_queue_shows_the_runs_that_began_waiting_last_first():
    from types import SimpleNamespace

    from moderation.approval import ApprovalRequest
    from service.review_items import queue

    def run(n: int, hour: int, ids: list[str]):
        state = SimpleNamespace(timestamp=datetime(2026, 12, 3, hour, tzinfo=UTC))
        request = ApprovalRequest(
            run_id=RUN_ID, flow_run_id=str(n), manifest=f"m{n}.json",
            deadline=datetime(2026, 12, 4, tzinfo=UTC),
            items=[PendingItem(id=i, verdict="review") for i in ids],
        )  # fmt: skip
        return SimpleNamespace(id=n, state=state), request

    rows = queue([run(1, 8, ["a", "b"]), run(2, 10, ["c"]), run(3, 9, ["d", "e"])])
    assert [(r.flow_run_id, r.item.id) for r in rows] == [
        ("2", "c"), ("3", "d"), ("3", "e"), ("1", "a"), ("1", "b"),
    ]  # fmt: skip
    assert rows[0].path == "item/2/c"
