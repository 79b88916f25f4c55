"""A reviewer in a real browser (headless Debian Chromium) on the review pages of a real
service, deciding the held items of a real pipeline run that waits on a real Prefect API.

The run renders, reviews and composes two items (no classifier weights: both are held for a
person), then waits. The reviewer is refused with a wrong password, logs in, watches the
finished video (H.264, as the pipeline encodes it: Debian's Chromium decodes it), is refused
without a CSRF token and once the session has ended, approves one item and rejects the other
from the keyboard; the approved one is published and the audit log names the account.

Screenshots go to ``$REVIEW_SCREENSHOTS`` (default /tmp/wanflow-review-ui); the README's
pictures are made with ``REVIEW_SCREENSHOTS=docs``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import WANFLOW, published_ids
from tests.flows.test_approval import ITEMS, approving  # noqa: F401
from tests.flows.test_approval_ui import PAGE_MS, _off_loop, browser  # noqa: F401
from tests.prefect_server import free_port
from tests.service.test_review_sessions import PASSWORD

pytestmark = pytest.mark.slow

SHOTS = Path(os.environ.get("REVIEW_SCREENSHOTS", "/tmp/wanflow-review-ui"))
LISTED_S = 600  # render, review and compose two items on a loaded 2-core machine
LIFETIME_S = 3600


class Clock:
    """Real time, plus whatever the test adds to end sessions without waiting for them."""

    def __init__(self) -> None:
        self.extra = 0.0

    def __call__(self) -> float:
        return time.time() + self.extra


@pytest.fixture
def service(storage):
    """The review pages served by uvicorn on a loopback port, in a thread."""
    import uvicorn
    from fastapi import FastAPI

    from service.review import router_for
    from service.sessions import Sessions
    from wanflow.access import Access
    from wanflow.settings import Settings

    clock = Clock()
    settings = Settings()
    app = FastAPI()
    sessions = Sessions(LIFETIME_S, clock=clock)
    app.include_router(router_for(settings, storage, Access(storage), sessions=sessions))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{server.config.port}", clock
    server.should_exit = True
    thread.join(timeout=30)


def _listed(api_url: str, ids: list[str], flow: threading.Thread) -> str:
    """The flow run once it waits for ``ids``. Prefect is asked from a thread of its own: this
    one runs Playwright's event loop."""
    from flows.approve import waiting_runs

    deadline = time.monotonic() + LISTED_S
    while time.monotonic() < deadline and flow.is_alive():
        for run, request in _off_loop(api_url, waiting_runs):
            if request.ids == ids:
                return str(run.id)
        time.sleep(1)
    raise AssertionError(f"no run waited for {ids} (flow alive: {flow.is_alive()})")


def _log_in(page, base: str, password: str) -> None:
    page.goto(f"{base}/review", timeout=PAGE_MS)
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _decide_by_key(page, key: str, comment: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Comment").fill(comment)
    page.keyboard.press("Escape")  # leave the field: keys act outside it
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation(timeout=PAGE_MS):
        page.keyboard.press(key)
    expect(page.locator(".flash")).to_be_visible(timeout=PAGE_MS)


def test_a_reviewer_logs_in_watches_the_video_and_decides(approving, storage, service, browser):  # noqa: F811
    from playwright.sync_api import expect

    from moderation.audit import read_entries

    base, clock = service
    start, api_url = approving
    storage.put_bytes("incoming/summer.json", json.dumps(ITEMS[:2]).encode())
    flow, result = start("incoming/summer.json", timeout=1800)
    flow_run_id = _listed(api_url, ["vega", "altair"], flow)

    added = subprocess.run(
        [WANFLOW, "reviewers", "add", "ann", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [WANFLOW, "reviewers", "list"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "ann" in listed.stdout, listed.stderr
    assert PASSWORD not in added.stdout + added.stderr + listed.stdout

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    _log_in(page, base, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.", timeout=PAGE_MS)
    _log_in(page, base, PASSWORD)
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2, timeout=PAGE_MS)
    expect(page.get_by_role("link", name="vega")).to_be_visible()
    page.screenshot(path=SHOTS / "review-queue.png")

    ranges: list[int] = []
    page.on("response", lambda r: r.url.endswith("/video.mp4") and ranges.append(r.status))
    page.keyboard.press("j")  # the first row, then open it
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/item/{flow_run_id}/vega", timeout=PAGE_MS)
    video = page.locator("video#player")
    video.wait_for(timeout=PAGE_MS)
    page.wait_for_function(
        "v => v.readyState >= 2 || v.error", arg=video.element_handle(), timeout=PAGE_MS
    )
    state = video.evaluate("v => [v.readyState, v.duration, v.error && v.error.code]")
    assert state[0] >= 2 and state[1] > 0 and state[2] is None, state
    assert 206 in ranges, ranges  # the player asked for a range, and got it
    video.evaluate("v => { v.currentTime = v.duration / 2; }")  # seek, as a reviewer would
    page.wait_for_function(
        "v => !v.seeking && v.currentTime > 0 && v.readyState >= 2",
        arg=video.element_handle(),
        timeout=PAGE_MS,
    )
    sheet = page.get_by_role("img", name="contact sheet of vega")
    page.wait_for_function(
        "e => e.complete && e.naturalWidth > 0", arg=sheet.element_handle(), timeout=PAGE_MS
    )
    expect(page.get_by_text("no OpenCLIP weights").first).to_be_visible()
    page.screenshot(path=SHOTS / "review-item.png", full_page=True)

    # A form without its CSRF token (as another site would post it) is refused.
    page.evaluate("document.querySelector('form.decide input[name=csrf]').remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Approve").click()
    assert posted.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("The form has expired")
    page.goto(f"{base}/review/item/{flow_run_id}/vega", timeout=PAGE_MS)

    # The session ends while the page is open: the decision is refused, nothing resumes.
    clock.extra = LIFETIME_S + 1
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended", timeout=PAGE_MS)
    clock.extra = 0
    _log_in(page, base, PASSWORD)
    page.goto(f"{base}/review/item/{flow_run_id}/vega", timeout=PAGE_MS)
    _decide_by_key(page, "a", "the sky is fine")
    expect(page.locator(".flash")).to_have_text("approved vega as ann")

    # The run reads the decision and waits again for altair, in round 2.
    deadline = time.monotonic() + 240
    while page.get_by_role("link", name="altair").count() == 0:
        assert time.monotonic() < deadline, "altair never came back"
        page.wait_for_timeout(1000)
        page.goto(f"{base}/review", timeout=PAGE_MS)
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{base}/review/item/{flow_run_id}/altair", timeout=PAGE_MS)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the item page is {width} px wide on a phone"
    phone.close()
    page.get_by_role("link", name="altair").click()
    _decide_by_key(page, "r", "a weapon in shot 1")
    page.close()

    flow.join(timeout=300)
    assert not flow.is_alive() and "error" not in result, result
    report = result["report"]
    assert [(o.id, o.status) for o in report.items] == [
        ("vega", "published"),
        ("altair", "rejected"),
    ]
    assert published_ids(storage) == {"vega": 1}
    audit = read_entries(storage, report.run_id, report.started_at.date())
    human = [(e.item_id, e.decision, e.actor, e.comment) for e in audit if not e.automatic]
    assert human == [
        ("vega", "approve", "ann", "the sky is fine"),
        ("altair", "reject", "ann", "a weapon in shot 1"),
    ]
