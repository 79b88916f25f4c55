"""The review pages' sessions, CSRF tokens, login throttle and bounded forms, against the real
router (FastAPI's TestClient), reviewer accounts in a real bucket and a real Prefect API."""

from __future__ import annotations

import re

import pytest

from service.review_items import byte_range
from service.sessions import COOKIE, Accounts, Sessions, Throttle

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# --- the parts on their own ------------------------------------------------------------------


def test_a_session_lives_for_its_lifetime_and_a_login_gets_a_new_id():
    clock = Clock()
    sessions = Sessions(100, pre_session_s=10, clock=clock)
    visit = sessions.anonymous()
    assert visit.user is None and sessions.get(visit.id) is visit
    clock.now += 11
    assert sessions.get(visit.id) is None  # a pre-session lasts only as long as a login takes
    visit = sessions.anonymous()
    ann = sessions.log_in(visit, "ann")
    assert ann.id != visit.id and ann.csrf != visit.csrf
    assert sessions.get(visit.id) is None  # the planted id is worth nothing after the login
    assert ann.csrf_ok(ann.csrf) and not ann.csrf_ok(visit.csrf) and not ann.csrf_ok(None)
    assert not ann.csrf_ok("")
    clock.now += 99
    assert sessions.get(ann.id) is ann
    clock.now += 1
    assert sessions.get(ann.id) is None and len(sessions) == 0


def test_a_flood_of_visits_is_bounded_and_never_pushes_out_a_reviewer():
    sessions = Sessions(100, max_sessions=50)
    ann = sessions.log_in(None, "ann")
    for _ in range(500):
        sessions.anonymous()
    assert len(sessions) <= 50
    assert sessions.get(ann.id) is ann


def test_the_throttle_refuses_after_the_limit_until_the_window_passes():
    clock = Clock()
    throttle = Throttle(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.allowed("name:ann", "client:a")
        throttle.failed("name:ann", "client:a")
    assert not throttle.allowed("name:ann", "client:b")  # the name, from anywhere
    assert not throttle.allowed("name:bo", "client:a")  # anything, from that client
    assert throttle.allowed("name:bo", "client:b")
    clock.now += 61
    assert throttle.allowed("name:ann", "client:a")


def test_accounts_are_read_again_after_their_time_to_live():
    clock, names = Clock(), {"ann"}
    accounts = Accounts(lambda: set(names), ttl_s=30, clock=clock)
    assert "ann" in accounts
    names.clear()
    assert "ann" in accounts  # within the time to live
    clock.now += 30
    assert "ann" not in accounts


def test_byte_ranges():
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-", 100) == (0, 99)
    assert byte_range("bytes=10-19", 100) == (10, 19)
    assert byte_range("bytes=90-200", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=100-", 100) is False
    assert byte_range("bytes=5-4", 100) is False
    assert byte_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole object
    assert byte_range("items=0-1", 100) is None


# --- the pages ---------------------------------------------------------------------------------


@pytest.fixture
def pages(storage, prefect_api):
    """The review router alone in an app, with a reviewer ``ann`` and a clock the test moves."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from service.review import router_for
    from wanflow.access import Access
    from wanflow.settings import Settings

    access = Access(storage)
    access.add_reviewer("ann", PASSWORD)
    clock = Clock()
    settings = Settings(review_session_s=3600)
    sessions = Sessions(settings.review_session_s, clock=clock)
    app = FastAPI()
    app.include_router(
        router_for(settings, storage, access, sessions=sessions, throttle=Throttle(clock=clock))
    )
    with TestClient(app, follow_redirects=False) as client:
        yield client, clock, access


def csrf_of(response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert found, response.text
    return found[1]


def log_in(client, name="ann", password=PASSWORD):
    page = client.get("/review/login")
    return client.post(
        "/review/login", data={"csrf": csrf_of(page), "name": name, "password": password}
    )


def test_login_sets_a_strict_http_only_session_cookie_and_logout_ends_it(pages):
    client, _, _ = pages
    assert client.get("/review").headers["location"] == "/review/login"
    page = client.get("/review/login")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    assert "script-src 'self'" in page.headers["content-security-policy"]
    visit = client.cookies[COOKIE]
    done = client.post(
        "/review/login", data={"csrf": csrf_of(page), "name": "ann", "password": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/review"
    assert client.cookies[COOKIE] != visit
    queue = client.get("/review")
    assert queue.status_code == 200 and "Nothing is waiting" in queue.text and "ann" in queue.text
    assert client.post("/review/logout", data={}).status_code == 403  # no CSRF token
    assert client.get("/review").status_code == 200  # still logged in
    out = client.post("/review/logout", data={"csrf": csrf_of(queue)})
    assert out.status_code == 303 and out.headers["location"] == "/review/login"
    client.cookies.set(COOKIE, visit)  # an old id is worth nothing either
    assert client.get("/review").headers["location"] == "/review/login?expired=1"


def test_a_login_without_its_csrf_token_is_refused(pages):
    client, _, _ = pages
    page = client.get("/review/login")
    for data in (
        {"name": "ann", "password": PASSWORD},
        {"csrf": "forged", "name": "ann", "password": PASSWORD},
    ):
        refused = client.post("/review/login", data=data)
        assert refused.status_code == 403, refused.text
        assert client.get("/review").status_code == 303  # not logged in
    client.cookies.clear()  # a token without the session it belongs to
    data = {"csrf": csrf_of(page), "name": "ann", "password": PASSWORD}
    assert client.post("/review/login", data=data).status_code == 403


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer_then_a_throttle(pages):
    client, clock, _ = pages
    wrong = log_in(client, password="not the password")
    unknown = log_in(client, name="nobody")
    for refused in (wrong, unknown):
        assert refused.status_code == 401 and "Wrong name or password." in refused.text
    assert PASSWORD not in wrong.text and "not the password" not in wrong.text
    for _ in range(3):
        assert log_in(client, password="still wrong").status_code == 401
    throttled = log_in(client)  # the right password, too late
    assert throttled.status_code == 429 and "Too many failed logins" in throttled.text
    clock.now += 901
    assert log_in(client).status_code == 303


def test_an_expired_session_is_sent_to_the_login_page_and_cannot_decide(pages):
    client, clock, _ = pages
    assert log_in(client).status_code == 303
    page = client.get("/review")
    clock.now += 3600
    assert client.get("/review").headers["location"] == "/review/login?expired=1"
    assert "Your session has ended" in client.get("/review/login?expired=1").text
    decided = client.post(
        "/review/item/8f1c2d3e-0000-4000-8000-000000000001/vega",
        data={"csrf": csrf_of(page), "decision": "approve"},
    )
    assert decided.status_code == 401
    media = client.get("/review/media/8f1c2d3e-0000-4000-8000-000000000001/vega/video.mp4")
    assert media.status_code == 401


def test_a_removed_account_loses_its_session(pages):
    client, _, access = pages
    assert log_in(client).status_code == 303
    access.remove_reviewer("ann")
    log_in_again = client.get("/review")  # the account list is read again after a login
    assert log_in_again.status_code == 303 and "login" in log_in_again.headers["location"]


def test_form_bodies_are_bounded_and_must_be_forms(pages):
    client, _, _ = pages
    page = client.get("/review/login")
    big = {"csrf": csrf_of(page), "name": "ann", "password": "x" * 20_000}
    assert client.post("/review/login", data=big).status_code == 413
    assert client.post("/review/login", json={"name": "ann"}).status_code == 415


def test_the_service_serves_the_review_pages(storage):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from wanflow.access import Access
    from wanflow.settings import Settings

    client = TestClient(create_app(Settings(), storage, Access(storage)), follow_redirects=False)
    page = client.get("/review/login")
    assert page.status_code == 200 and 'name="csrf"' in page.text
    assert client.get("/review/static/review.css").headers["content-type"].startswith("text/css")
    assert client.get("/review/static/../app.py").status_code == 404


def test_the_cookie_is_secure_over_https(storage):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from service.review import router_for
    from wanflow.access import Access
    from wanflow.settings import Settings

    app = FastAPI()
    app.include_router(router_for(Settings(), storage, Access(storage)))
    client = TestClient(app, base_url="https://review.example")
    assert "Secure" in client.get("/review/login").headers["set-cookie"]


def test_reviewer_accounts_from_the_command_line(wanflow_env, storage):
    import subprocess

    from tests.conftest import WANFLOW
    from wanflow.access import Access

    def reviewers(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [WANFLOW, "reviewers", *args], input=stdin, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    added = reviewers("add", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert Access(storage).verify_reviewer("ann", PASSWORD)
    again = reviewers("add", "ann", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "exists" in again.stderr
    short = reviewers("add", "bo", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "8 to 1024 characters" in short.stderr
    listed = reviewers("list")
    assert listed.returncode == 0 and "ann" in listed.stdout and "bo" not in listed.stdout
    assert PASSWORD not in added.stdout + added.stderr + listed.stdout
    assert reviewers("remove", "ann").returncode == 0
    assert not Access(storage).verify_reviewer("ann", PASSWORD)
    gone = reviewers("remove", "ann")
    assert gone.returncode == 2 and "no reviewer named 'ann'" in gone.stderr
