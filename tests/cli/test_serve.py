"""``wanflow tokens`` and ``wanflow serve`` as a person runs them on a fresh machine: no S3
endpoint and no Prefect API configured, so each command starts the local S3 server on the data
in ``.wanflow/s3``, and ``serve`` a temporary Prefect API as well."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import httpx

from tests.conftest import WANFLOW
from tests.service.server import Service


def _wanflow(home, env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WANFLOW, *args], capture_output=True, text=True, timeout=180, cwd=home, env=env
    )


def test_tokens_and_serve_on_a_fresh_machine(tmp_path):
    service = Service(None, tmp_path, ["--no-runner"])
    env = service.env
    created = _wanflow(tmp_path, env, "tokens", "create", "ci", "--scope", "submit")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert re.fullmatch(r"wf_[A-Za-z0-9_-]{43}", secret)
    assert "not shown again" in created.stderr
    bad = _wanflow(tmp_path, env, "tokens", "create", "x", "--scope", "admin")
    assert bad.returncode == 2 and "scope must be one of" in bad.stderr
    listed = _wanflow(tmp_path, env, "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (entry["name"], entry["scope"]) == ("ci", "submit")
    assert secret not in listed.stdout + listed.stderr
    table = _wanflow(tmp_path, env, "tokens", "list")
    assert "ci" in table.stdout and secret not in table.stdout

    service.start()
    try:
        output = "".join(service.output)
        assert "starting a local S3 server" in output and "temporary Prefect API" in output
        headers = {"Authorization": f"Bearer {secret}"}
        ready = httpx.get(f"{service.url}/v1/ready", headers=headers, timeout=60)
        assert ready.status_code == 200, ready.text
        # While it runs, the same commands find its S3 server (a second server on the same
        # data would corrupt it), as it says.
        endpoint = re.search(r"local S3 on (\S+):", output).group(1)
        revoked = _wanflow(tmp_path, env, "tokens", "revoke", "ci")
        assert revoked.returncode == 0, revoked.stderr
        assert f"using the local S3 server another process runs on {endpoint}" in revoked.stderr
        gone = httpx.get(f"{service.url}/v1/health", headers=headers, timeout=60)
        assert gone.status_code == 401
        again = _wanflow(tmp_path, env, "tokens", "revoke", "ci")
        assert again.returncode == 2 and "no token named 'ci'" in again.stderr
    finally:
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(60) == 0
        output = service.stop()
    assert secret not in output
