"""``wanflow serve`` as a real process on a free port, for the API, SDK and CLI tests: started
on the session's S3 server with a bucket of its own, and known ready when it prints the address
it listens on (its socket is bound before that line)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import uuid
from pathlib import Path

from tests.conftest import WANFLOW, make_storage
from wanflow.access import Access

READY = re.compile(r"serving on (http://\S+)")


class Service:
    def __init__(self, s3_server, home: Path, args: list[str], env: dict[str, str] | None = None):
        """On ``s3_server`` (a bucket of its own), or with ``None`` as on a fresh machine: no
        WANFLOW_* or PREFECT_* settings at all, so the service starts a local S3 server."""
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("WANFLOW_", "PREFECT_"))
        } | {"PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        self.args, self.home = args, home
        self.output: list[str] = []
        self.process: subprocess.Popen | None = None
        self.url = ""
        if s3_server is None:
            self.env |= env or {}
            return
        self.storage = make_storage(s3_server, bucket=f"api-{uuid.uuid4().hex[:12]}")
        self.storage.ensure_bucket()
        self.access = Access(self.storage)
        self.env |= {
            "WANFLOW_S3_ENDPOINT": s3_server.endpoint,
            "WANFLOW_S3_ACCESS_KEY": s3_server.access_key,
            "WANFLOW_S3_SECRET_KEY": s3_server._secret_key,
            "WANFLOW_S3_BUCKET": self.storage.bucket,
            "WANFLOW_S3_BACKOFF_S": "0.05",
            **(env or {}),
        }

    def start(self, timeout_s: float = 300) -> Service:
        self.process = subprocess.Popen(
            [WANFLOW, "serve", "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.home,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        while True:
            line = lines.get(timeout=timeout_s)
            if line is None:
                raise RuntimeError("wanflow serve exited:\n" + "".join(self.output))
            if found := READY.search(line):
                self.url = found.group(1)
                return self

    def stop(self) -> str:
        """Stop the service; everything it printed."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return "".join(self.output)


def running_service(s3_server, home: Path, args: list[str], env: dict[str, str] | None = None):
    """A started service with a token of each scope (``tokens``), and a second submitter's
    (``tokens["other"]``); the caller stops it."""
    service = Service(s3_server, home, args, env)
    service.tokens = {
        scope: service.access.create_token(f"{scope}-bot", scope)
        for scope in ("submit", "read", "review")
    }
    service.tokens["other"] = service.access.create_token("other-submitter", "submit")
    return service.start()
