"""The /v1 API over HTTP, against a running ``wanflow serve`` (no runner: jobs stay queued)."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.conftest import WANFLOW

GOOD = [{"id": "night-city", "prompt": "星空下的城市", "seed": 1}]
BAD = [
    {"id": "ok", "prompt": "月亮", "seed": 2},
    {"id": "no-prompt", "seed": 3},
    {"id": "bad seed", "prompt": "海", "seed": -1},
]


def _client(api, scope: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api.tokens[scope]}"} if scope else {}
    return httpx.Client(base_url=api.url, headers=headers, timeout=60)


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def test_every_api_path_needs_a_valid_token(api_service):
    anonymous = _client(api_service)
    for method, path in [
        ("GET", "/v1/health"),
        ("GET", "/v1/ready"),
        ("GET", "/v1/jobs"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/20261205T090107Z-84119167e9b9"),
        ("DELETE", "/v1/jobs/20261205T090107Z-84119167e9b9"),
    ]:
        response = anonymous.request(method, path)
        _error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = api_service.tokens["read"][:-2] + "xx"
    response = anonymous.get("/v1/jobs", headers={"Authorization": f"Bearer {forged}"})
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert forged not in response.text
    basic = anonymous.get("/v1/jobs", headers={"Authorization": "Basic dXNlcjpwdw=="})
    _error(basic, 401, "unauthorized")


def test_a_revoked_token_stops_working_at_once(api_service):
    secret = api_service.access.create_token("short-lived", "read")
    client = httpx.Client(base_url=api_service.url, headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/v1/health").json()["status"] == "ok"
    api_service.access.revoke_token("short-lived")
    _error(client.get("/v1/health"), 401, "unauthorized")


def test_scopes_decide_what_a_token_may_do(api_service):
    reader, reviewer = _client(api_service, "read"), _client(api_service, "review")
    error = _error(reader.post("/v1/jobs", json=GOOD), 403, "forbidden")
    assert "submit" in error["message"]
    _error(reviewer.post("/v1/jobs", json=GOOD), 403, "forbidden")
    job = _client(api_service, "submit").post("/v1/jobs", json=GOOD).json()
    _error(reader.delete(f"/v1/jobs/{job['id']}"), 403, "forbidden")
    # Reading tokens see every job; another submitter does not see this one at all.
    assert reader.get(f"/v1/jobs/{job['id']}").json()["id"] == job["id"]
    assert reviewer.get(f"/v1/jobs/{job['id']}").status_code == 200
    other = _client(api_service, "other")
    _error(other.get(f"/v1/jobs/{job['id']}"), 404, "not_found")
    _error(other.delete(f"/v1/jobs/{job['id']}"), 404, "not_found")
    assert job["id"] not in {j["id"] for j in other.get("/v1/jobs").json()["jobs"]}
    assert job["id"] in {j["id"] for j in reader.get("/v1/jobs?limit=100").json()["jobs"]}


def test_health_and_readiness(api_service):
    client = _client(api_service, "read")
    assert client.get("/v1/health").json()["status"] == "ok"
    ready = client.get("/v1/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"bucket": "ok", "prefect": "ok"}
    assert ready.headers["Cache-Control"] == "no-store"


def test_a_job_is_a_manifest_in_incoming_with_a_record(api_service):
    client = _client(api_service, "submit")
    response = client.post("/v1/jobs", json={"items": GOOD, "priority": "high"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["state"] == "queued" and job["items_total"] == 1
    assert job["submitted_by"] == "submit-bot"
    key = f"incoming/api/{job['id']}.json"
    assert job["manifest_key"] == key
    assert json.loads(api_service.storage.get_bytes(key))["items"] == GOOD
    assert api_service.storage.exists(f"jobs/{job['id']}.json")
    again = client.get(f"/v1/jobs/{job['id']}").json()
    assert again["state"] == "queued" and again["items"] == []
    _error(client.get("/v1/jobs/20990101T000000Z-000000000000"), 404, "not_found")
    _error(client.get("/v1/jobs/..%2Fconfig"), 404, "not_found")


def test_csv_manifests_are_accepted_too(api_service):
    client = _client(api_service, "submit")
    body = "id,prompt,seed\ncsv-item,海边的灯塔,4\n".encode()
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 202, response.text
    assert response.json()["manifest_key"].endswith(".csv")
    wrong = client.post("/v1/jobs", content=b"<x/>", headers={"Content-Type": "text/xml"})
    _error(wrong, 415, "unsupported_media_type")


def test_row_errors_are_those_of_wanflow_validate(api_service, tmp_path):
    client = _client(api_service, "submit")
    before = {o.key for o in api_service.storage.list("incoming/")}
    error = _error(client.post("/v1/jobs", json=BAD), 422, "invalid_rows")
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps(BAD, ensure_ascii=False), encoding="utf-8")
    env = {k: v for k, v in api_service.env.items()}
    cli = subprocess.run(
        [WANFLOW, "validate", "--json", str(manifest)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert cli.returncode == 1, cli.stderr
    expected = json.loads(cli.stdout)
    expected.pop("file")
    assert error["details"] == expected
    assert {r["id"] for r in error["details"]["rejected"]} == {"no-prompt", "bad seed"}
    assert {o.key for o in api_service.storage.list("incoming/")} == before  # nothing queued
    unreadable = client.post(
        "/v1/jobs", content=b'[{"prompt": ', headers={"Content-Type": "application/json"}
    )
    _error(unreadable, 422, "unreadable_manifest")
    empty = _error(client.post("/v1/jobs", json=[]), 422, "unreadable_manifest")
    assert "no items" in empty["message"]


def test_bodies_and_batches_over_the_limits_are_refused(api_service):
    client = _client(api_service, "submit")
    big = [{"prompt": "星" * 1000, "seed": i} for i in range(4)]  # > 10 KiB as JSON
    error = _error(client.post("/v1/jobs", json=big), 413, "too_large")
    assert error["details"]["limit"] == 10485

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b" " * 1024

    chunked = client.post(
        "/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(chunked, 413, "too_large")
    many = [{"prompt": "云", "seed": i} for i in range(6)]  # WANFLOW_MAX_ITEMS=5
    error = _error(client.post("/v1/jobs", json=many), 413, "too_many_items")
    assert error["details"] == {"items": 6, "limit": 5}
    assert client.post("/v1/jobs", json=many[:5]).status_code == 202


def test_an_idempotency_key_makes_a_retry_return_the_same_job(api_service):
    client = _client(api_service, "submit")
    headers = {"Idempotency-Key": "nightly-2026-12-05"}
    first = client.post("/v1/jobs", json=GOOD, headers=headers)
    retry = client.post("/v1/jobs", json=GOOD, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    changed = [{**GOOD[0], "seed": 99}]
    error = _error(client.post("/v1/jobs", json=changed, headers=headers), 409,
                   "idempotency_conflict")  # fmt: skip
    assert error["details"]["job_id"] == first.json()["id"]
    # Keys are per token: another submitter's same key is another job.
    theirs = _client(api_service, "other").post("/v1/jobs", json=GOOD, headers=headers)
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    # Without a key, each request is a job of its own.
    assert client.post("/v1/jobs", json=GOOD).json()["id"] != first.json()["id"]


def test_jobs_are_listed_newest_first_a_page_at_a_time(api_service):
    client = _client(api_service, "other")
    made = [client.post("/v1/jobs", json=GOOD).json()["id"] for _ in range(3)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/jobs", params=params).json()
        assert len(page["jobs"]) <= 2
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert set(made) <= set(seen) and len(seen) == len(set(seen))
    _error(client.get("/v1/jobs", params={"limit": 0}), 422, "invalid_request")


def test_cancelling_a_queued_job_takes_its_manifest_out_of_incoming(api_service):
    client = _client(api_service, "submit")
    job = client.post("/v1/jobs", json=GOOD).json()
    response = client.delete(f"/v1/jobs/{job['id']}")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["action"] == "removed" and cancelled["job"]["state"] == "cancelled"
    assert not api_service.storage.exists(job["manifest_key"])
    assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "cancelled"
    again = client.delete(f"/v1/jobs/{job['id']}").json()
    assert again["action"] == "none" and "cancelled" in again["message"]


def test_errors_share_one_shape_and_docs_are_public(api_service):
    anonymous = _client(api_service)
    _error(anonymous.get("/v1/nothing-here"), 404, "not_found")
    spec = anonymous.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"/v1/health", "/v1/ready", "/v1/jobs", "/v1/jobs/{job_id}"} <= set(paths)
    for path, operations in paths.items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                assert operation.get("security"), (path, operation)
    assert anonymous.get("/docs").status_code == 200


@pytest.mark.parametrize("scope", ["submit", "read", "review"])
def test_no_secret_reaches_the_service_output(api_service, scope):
    _client(api_service, scope).get("/v1/jobs")
    output = "".join(api_service.output)
    assert all(secret not in output for secret in api_service.tokens.values())
    assert api_service.env["WANFLOW_S3_SECRET_KEY"] not in output


def test_without_the_prefect_api_jobs_are_accepted_and_readiness_says_why(s3_server, tmp_path):
    """PREFECT_API_URL set: no temporary API and no runner; when it does not answer, the
    service still queues jobs and reads their state from the bucket."""
    from tests.service.server import running_service

    service = running_service(
        s3_server,
        tmp_path,
        [],
        env={"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_CLIENT_MAX_RETRIES": "0"},
    )
    try:
        output = "".join(service.output)
        assert "temporary Prefect API" not in output and "running submitted" not in output
        client = _client(service, "submit")
        error = _error(client.get("/v1/ready"), 503, "unavailable")
        assert error["details"]["bucket"] == "ok"
        assert error["details"]["prefect"].startswith("unavailable")
        job = client.post("/v1/jobs", json=GOOD).json()
        assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "queued"
        service.storage.move_manifest(job["manifest_key"], "processing/")
        assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "running"
    finally:
        service.stop()
