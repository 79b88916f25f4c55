"""A reviewer in a real browser: the approval form in the Prefect UI of a real
``prefect server start``, at the screen sizes reviewers use.

A flow in a thread of the test waits for a decision; headless Chromium opens the run's page,
the Resume dialog and the round's details artifact (its contact sheet loaded from a loopback
HTTP server), and then answers the form. Screenshots go to ``SHOTS`` for a person to look at.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from moderation.approval import PendingItem, label
from tests.prefect_server import PrefectServer, running_server

pytestmark = pytest.mark.slow

SHOTS = Path("/tmp/wanflow-approval-ui")
VIEWPORTS = [(1366, 768), (1920, 1080)]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Generous bounds for a loaded 2-core machine.
PAUSED_S = 240
PAGE_MS = 120_000
FLOW_END_S = 180

# What a classifier failure looks like once the review has merged it over shots 1-4: the
# message carries the classifier's whole error, which no form label should.
ERROR_DETAIL = (
    "searched local-dir:/srv/wanflow/models/clip, hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K "
    "and the tag laion2b_s34b_b79k in HF_HUB_CACHE=/var/cache/huggingface/hub with "
    "HF_HUB_OFFLINE=1; the checkpoint open_clip_pytorch_model.bin was not found in any of them"
)
CLASSIFIER_FAILED = (
    "awaiting human review: shots 1–4: classifier failed, a person must look: zeroshot: "
    f"ClassifierError: no OpenCLIP weights for ViT-B-32 (set WANFLOW_CLIP_WEIGHTS): {ERROR_DETAIL}"
)
PROMPT = (
    "冬夜，猎户座高悬在雪原之上，猎人拉开长弓追逐奔跑的金牛，星光在冰面上碎成千万点，"
    "镜头从地平线缓缓升起，穿过薄雾与松林，最后停在参宿四那一点橙红色的光上。"
) * 3


# --- loopback servers ---------------------------------------------------------------------------


BUCKET = "wanflow"


class MediaServer:
    """What the S3 server's presigned links would serve: a contact sheet (JPEG) and shot clips
    (MP4), on a loopback port; ``requested`` lists the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.requested: list[str] = []
        media = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                media.requested.append(self.path.split("?")[0])
                self.path = self.path.split("?")[0]  # a presigned link's query is no file
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def presigned(self, path: str) -> str:
        return (
            f"{self.base}/{BUCKET}/{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=test%2F20261203%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Expires=604800&X-Amz-Signature=0123456789abcdef"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _write_media(root: Path) -> None:
    """A contact sheet of four frames and a one-second clip per shot."""
    import imageio_ffmpeg
    from PIL import Image, ImageDraw

    item = root / "work" / "r1" / "orion-hunt"
    item.mkdir(parents=True)
    sheet = Image.new("RGB", (640, 200), (16, 24, 48))
    draw = ImageDraw.Draw(sheet)
    for n in range(4):
        draw.rectangle([8 + n * 158, 8, 154 + n * 158, 192], outline=(255, 196, 0), width=4)
        draw.ellipse([60 + n * 158, 80, 100 + n * 158, 120], fill=(255, 120, 40))
    sheet.save(item / "sheet.jpg", quality=85)
    clip = item / "shot-1.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=navy:s=64x64:d=1:r=8",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
        timeout=120,
    )
    for shot in (2, 3, 4):
        (item / f"shot-{shot}.mp4").write_bytes(clip.read_bytes())


@pytest.fixture
def media(tmp_path, monkeypatch) -> Iterator[MediaServer]:
    root = tmp_path / "media"
    _write_media(root / BUCKET)
    server = MediaServer(root)
    # Wanflow links only to its bucket's presigned URLs: the media server stands in for it.
    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", server.base.removeprefix("http://"))
    monkeypatch.setenv("WANFLOW_S3_SECURE", "false")
    monkeypatch.setenv("WANFLOW_S3_BUCKET", BUCKET)
    yield server
    server.close()


@pytest.fixture
def ui_server(tmp_path) -> Iterator[PrefectServer]:
    with running_server(tmp_path, ui=True) as server:
        yield server


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- the flow -----------------------------------------------------------------------------------


class WaitingFlow:
    """A flow in a thread that asks for a decision on ``items`` and returns the answers."""

    def __init__(self, api_url: str, manifest: str, items: list[PendingItem]) -> None:
        self.api_url, self.manifest, self.items = api_url, manifest, items
        self.flow_run_id: str | None = None
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from prefect import flow
        from prefect.context import FlowRunContext
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from flows.approve import wait_for_decisions
        from wanflow.settings import Settings

        @flow(name="approval-ui-probe")
        def ask() -> tuple:
            self.flow_run_id = str(FlowRunContext.get().flow_run.id)
            return wait_for_decisions(
                "20261203T000000Z-ui",
                self.manifest,
                self.items,
                600,
                1,
                suspend=False,
                settings=Settings(),  # the media server's bucket, set by the fixture
            )

        try:  # settings live in a context that a new thread does not inherit
            with temporary_settings({PREFECT_API_URL: self.api_url}):
                self.result["answers"], self.result["held"] = ask()
        except BaseException as exc:  # surfaced by the test
            self.result["error"] = exc

    def wait_paused(self, client) -> str:
        deadline = time.monotonic() + PAUSED_S
        while time.monotonic() < deadline:
            if "error" in self.result:
                raise AssertionError(f"the flow failed: {self.result['error']!r}")
            if self.flow_run_id:
                run = client.read_flow_run(self.flow_run_id)
                if run.state and run.state.is_paused():
                    return self.flow_run_id
            time.sleep(0.5)
        raise AssertionError(f"{self.manifest}: not paused after {PAUSED_S} s ({self.result})")

    def join(self) -> dict:
        self.thread.join(timeout=FLOW_END_S)
        assert not self.thread.is_alive(), f"{self.manifest}: the flow is still waiting"
        assert "error" not in self.result, self.result
        return self.result


# A manifest author's title that would run in the reviewer's browser if shown as markup.
HOSTILE_TITLE = '<img src=x onerror="document.title=1"> *天狼星*'


def _items(media: MediaServer, more: int = 0) -> list[PendingItem]:
    """The round as the review hands it over: a held item whose classifier failed on every
    shot (reasons already merged), and one that waits only because every item does."""
    clips = {n: media.presigned(f"work/r1/orion-hunt/shot-{n}.mp4") for n in (1, 2, 3, 4)}
    items = [
        PendingItem(
            id="orion-hunt",
            title="猎户座 · 雪原出猎",
            prompt=PROMPT,
            verdict="review",
            reasons=[CLASSIFIER_FAILED, "awaiting human review: shot 3: violence 0.41 ≥ 0.35"],
            scores={"violence": 0.41, "weapons": 0.22, "nudity": 0.02},
            sheet_url=media.presigned("work/r1/orion-hunt/sheet.jpg"),
            clip_urls=clips,
        ),
        PendingItem(
            id="big_dipper-2",
            title="北斗",
            prompt="北斗七星在夏夜的北方天空缓缓转动",
            verdict="pass",
            reasons=["awaiting approval: every item is approved by a person"],
            scores={"violence": 0.01},
        ),
    ]
    items += [
        PendingItem(
            id=f"star-{n}",
            title=HOSTILE_TITLE if n == more else "天狼星",
            prompt="天狼星在冬夜南方天空闪烁",
            verdict="review",
            reasons=[f"awaiting human review: shot {n}: blood 0.38 ≥ 0.35"],
        )
        for n in range(1, more + 1)
    ]
    return items


def _off_loop(api_url: str, call, *args, **kwargs):
    """``call`` on a thread of its own: Prefect's sync functions hand back a coroutine on a
    thread with a running event loop, as the test's is while Playwright's sync API runs."""
    from concurrent.futures import ThreadPoolExecutor

    from prefect.settings import PREFECT_API_URL, temporary_settings

    def run():
        with temporary_settings({PREFECT_API_URL: api_url}):
            return call(*args, **kwargs)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=120)


def _flush(api_url: str) -> None:
    """Send the flows' last logs and events while the server still runs: at exit, Prefect
    would spend a minute retrying a server that is gone."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        _off_loop(api_url, worker.drain_all, timeout=30, at_exit=False)


# --- the browser --------------------------------------------------------------------------------


def _open_form(page, ui: str, flow_run_id: str):
    """The run's page, and its Resume dialog opened as a person would."""
    page.goto(f"{ui}/runs/flow-run/{flow_run_id}", timeout=PAGE_MS)
    page.get_by_role("button", name="Resume").first.click(timeout=PAGE_MS)
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("await a decision").first.wait_for(timeout=PAGE_MS)
    dialog.get_by_role("button", name="Submit").wait_for(timeout=PAGE_MS)
    return dialog


def _within(inner: dict | None, outer: dict | None) -> bool:
    return bool(inner and outer) and (
        inner["x"] >= outer["x"] - 1
        and inner["y"] >= outer["y"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1
    )


def _hit(page, locator) -> bool:
    """Whether a click at the middle of ``locator`` lands on it: not clipped by a shrunken
    box, not covered, inside the viewport."""
    box = locator.bounding_box()
    viewport = page.viewport_size
    screen = {"x": 0, "y": 0, "width": viewport["width"], "height": viewport["height"]}
    if not box or box["height"] == 0 or not _within(box, screen):
        return False
    return locator.evaluate(
        "(e, [x, y]) => { const at = document.elementFromPoint(x, y); "
        "return at !== null && (at === e || e.contains(at)); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )


def _reachable_links(page, dialog, href: str) -> list:
    links = []
    for link in dialog.locator(f'a[href="{href}"]').all():
        link.scroll_into_view_if_needed()
        if _hit(page, link):
            links.append(link)
    return links


def _description(dialog):
    """The form's description, as Prefect renders it above the fields."""
    return dialog.locator("article").filter(has_text="await a decision").first


def _field(dialog, item_id: str):
    name = dialog.page.locator(".schema-form-property__label").filter(has_text=f"{item_id} ")
    return dialog.locator(".schema-form-property").filter(has=name)


def _choose(page, dialog, item_id: str, choice: str) -> None:
    from playwright.sync_api import expect

    control = _field(dialog, item_id).locator(".p-select-button__control")
    control.scroll_into_view_if_needed()
    control.click()
    # In headless Chromium, Prefect's select closed its list as soon as a click opened it; the
    # keyboard opens it (and does nothing when it is already open).
    control.press("ArrowDown")
    page.get_by_role("option", name=choice, exact=True).click(timeout=PAGE_MS)
    expect(control).to_have_text(choice, timeout=PAGE_MS)


def _check_artifact(artifact, items: list[PendingItem], media: MediaServer, shot: Path) -> None:
    """The details page: each item's prompt, the contact sheet loaded, links to the clips."""
    from playwright.sync_api import expect

    held = items[0]
    expect(artifact.get_by_text(held.prompt[:40]).first).to_be_visible(timeout=PAGE_MS)
    sheet = artifact.get_by_role("img", name=f"contact sheet of {held.id}")
    sheet.scroll_into_view_if_needed(timeout=PAGE_MS)
    expect(sheet).to_be_visible(timeout=PAGE_MS)
    artifact.wait_for_function(
        "e => e.complete && e.naturalWidth > 0", arg=sheet.element_handle(), timeout=PAGE_MS
    )
    assert sheet.evaluate("e => e.naturalWidth") == 640
    assert f"/{BUCKET}/work/r1/orion-hunt/sheet.jpg" in media.requested
    for item in items[1:]:
        expect(artifact.get_by_text(item.prompt).first).to_be_attached()
    clips = artifact.get_by_role("link", name="shot 2 clip")
    assert clips.get_attribute("href") == held.clip_urls[2]
    fetched = artifact.request.get(held.clip_urls[2])
    assert fetched.ok and fetched.body()[4:8] == b"ftyp"  # an MP4, from where the link says
    artifact.screenshot(path=shot)


# --- the test -----------------------------------------------------------------------------------


def test_a_reviewer_reads_the_details_and_decides_in_the_prefect_ui(
    ui_server, media, browser, monkeypatch
):
    from playwright.sync_api import expect
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    from flows.approve import stored_request

    SHOTS.mkdir(exist_ok=True)
    monkeypatch.setenv("PREFECT_API_URL", ui_server.url)
    stack = contextlib.ExitStack()
    with stack:
        stack.enter_context(temporary_settings({PREFECT_API_URL: ui_server.url}))
        client = stack.enter_context(get_client(sync_client=True))
        ui = PREFECT_UI_URL.value()
        assert ui == ui_server.url.removesuffix("/api")

        two = _items(media)
        # A round of six: Prefect's dialog then squeezes its description to nothing.
        six = _items(media, more=4)
        pair = WaitingFlow(ui_server.url, "incoming/orion.json", two)
        many = WaitingFlow(ui_server.url, "incoming/winter-sky.json", six)
        flows = {"pair": pair.wait_paused(client), "many": many.wait_paused(client)}
        details = {
            name: _off_loop(ui_server.url, stored_request, run_id, "approval-1").details_url
            for name, run_id in flows.items()
        }
        for url in details.values():
            assert url and url.startswith(f"{ui}/artifacts/artifact/"), details

        for width, height in VIEWPORTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            for name, items in (("pair", two), ("many", six)):
                dialog = _open_form(page, ui, flows[name])
                page.screenshot(path=SHOTS / f"form-{name}-{width}x{height}.png")
                where = f"{name} at {width}×{height}"

                description = _description(dialog)
                box = description.bounding_box()
                if name == "pair":  # a short round: the description shows
                    assert box and box["height"] > 0, f"{where}: description squeezed: {box}"
                    first = description.get_by_text("await a decision")
                    assert _within(first.bounding_box(), box), f"{where}: clipped"
                    (in_description,) = _reachable_links(page, description, details[name])

                # The details link stays within reach, however many items the round holds.
                reachable = _reachable_links(page, dialog, details[name])
                assert reachable, f"{where}: no link to the details can be clicked"
                for item in items:
                    shown = _field(dialog, item.id).locator(".schema-form-property__label")
                    expect(shown).to_be_visible()
                    text = shown.inner_text().removesuffix(" (Optional)")
                    assert text == label(item) and len(text) < 160, (where, text)
                assert page.locator("img[src='x']").count() == 0, f"{where}: a title ran"
                html = page.content()
                assert ERROR_DETAIL[:60] not in html and ERROR_DETAIL[-60:] not in html, where
                assert "ClassifierError: no OpenCLIP" not in html, where

                link = in_description if name == "pair" else reachable[0]
                with page.context.expect_page(timeout=PAGE_MS) as opened:
                    link.click()
                artifact = opened.value
                artifact.wait_for_load_state(timeout=PAGE_MS)
                assert artifact.url == details[name]
                if name == "pair":
                    shot = SHOTS / f"artifact-{width}x{height}.png"
                    _check_artifact(artifact, items, media, shot)
                artifact.close()
                dialog.get_by_role("button", name="Close").click()
                expect(dialog).to_be_hidden(timeout=PAGE_MS)
            page.close()

        # The big round is answered through the API; the browser answers the pair.
        answer = {item.id: "approve" for item in six} | {"reviewer": "api"}
        _off_loop(ui_server.url, resume_flow_run, flows["many"], run_input=answer)

        page = browser.new_page(viewport={"width": 1366, "height": 768})
        dialog = _open_form(page, ui, flows["pair"])
        _choose(page, dialog, "orion-hunt", "approve")
        _choose(page, dialog, "big_dipper-2", "reject")
        reviewer = dialog.locator(".schema-form-property").filter(has_text="Reviewer")
        reviewer.locator("textarea, input").first.fill("Ann Lee <ann@example.org>")
        comment = dialog.locator(".schema-form-property").filter(has_text="Comment")
        comment.locator("textarea, input").first.fill("sheet checked; the bow is fine")
        page.screenshot(path=SHOTS / "form-filled-1366x768.png")
        before = datetime.now(UTC)
        dialog.get_by_role("button", name="Submit").click()
        expect(dialog).to_be_hidden(timeout=PAGE_MS)
        deadline = time.monotonic() + FLOW_END_S
        while client.read_flow_run(flows["pair"]).state.is_paused():
            assert time.monotonic() < deadline, "the run is still paused after the submit"
            time.sleep(0.5)
        after = datetime.now(UTC)
        page.screenshot(path=SHOTS / "submitted-1366x768.png")
        page.close()

        result = pair.join()
        (answer,) = result["answers"]
        assert answer.choices == {"orion-hunt": "approve", "big_dipper-2": "reject"}
        assert answer.reviewer == "Ann Lee <ann@example.org>"
        assert answer.comment == "sheet checked; the bow is fine"
        assert not answer.automatic and result["held"] == []
        assert before <= answer.at <= after, (before, answer.at, after)
        (other,) = many.join()["answers"]
        assert set(other.choices.values()) == {"approve"}
        _flush(ui_server.url)
