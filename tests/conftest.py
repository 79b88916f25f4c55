"""Real servers for the tests: one local S3 server and one Prefect API per test session."""

from __future__ import annotations

import os
import secrets
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# Before Prefect is imported anywhere: a private home, no telemetry, a patient server start.
_PREFECT_HOME = (
    Path(os.environ.get("PYTEST_PREFECT_HOME", "/tmp")) / f"wanflow-prefect-{os.getpid()}"
)
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
os.environ.pop("PREFECT_API_URL", None)
for name in list(os.environ):
    if name.startswith("WANFLOW_"):
        del os.environ[name]

from wanflow.localserver import LocalS3Server  # noqa: E402
from wanflow.storage import Storage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "manifests"
WANFLOW = str(Path(sys.executable).parent / "wanflow")


@pytest.fixture(scope="session")
def s3_credentials() -> tuple[str, str]:
    return f"test-{secrets.token_hex(4)}", secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory, s3_credentials):
    """A real S3 server (SeaweedFS) on a free loopback port for the whole session."""
    access, secret = s3_credentials
    server = LocalS3Server(tmp_path_factory.mktemp("s3"), access, secret)
    server.start()
    yield server
    server.stop()


def make_storage(
    server: LocalS3Server, bucket: str | None = None, endpoint: str | None = None, **options
) -> Storage:
    """A client for ``server`` (or another endpoint in front of it) with quick test backoff."""
    return Storage(
        endpoint or server.endpoint,
        server.access_key,
        server._secret_key,
        bucket or f"t-{uuid.uuid4().hex[:12]}",
        **({"retries": 3, "backoff_s": 0.05, "timeout_s": 10.0} | options),
    )


@pytest.fixture
def storage(s3_server) -> Storage:
    """A fresh, empty bucket on the session's server."""
    store = make_storage(s3_server)
    store.ensure_bucket()
    return store


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """Tiny stand-in models are built once per session and shared by every test."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def wanflow_env(s3_server, storage, model_dir, monkeypatch, tmp_path):
    """WANFLOW_* settings pointing at the test server and bucket, for flows and the CLI; the
    models are the tiny stand-ins on the CPU."""
    env = {
        "WANFLOW_MODEL_T2V": "tiny",
        "WANFLOW_MODEL_I2V": "tiny",
        "WANFLOW_MODEL_TI2V": "tiny",
        "WANFLOW_MODEL_DIR": str(model_dir),
        "WANFLOW_DEVICE": "cpu",
        "WANFLOW_S3_ENDPOINT": s3_server.endpoint,
        "WANFLOW_S3_ACCESS_KEY": s3_server.access_key,
        "WANFLOW_S3_SECRET_KEY": s3_server._secret_key,
        "WANFLOW_S3_BUCKET": storage.bucket,
        "WANFLOW_S3_BACKOFF_S": "0.05",
        "WANFLOW_OUTPUT_DIR": str(tmp_path / "out"),
        # Held items are held at once; the approval tests set a timeout of their own.
        "WANFLOW_APPROVAL_TIMEOUT_S": "0",
        "WANFLOW_APPROVAL_POLL_S": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (temporary SQLite database) for the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def clip_checkpoint(tmp_path_factory):
    """Random OpenCLIP ViT-S-32 weights as a checkpoint file: the scores mean nothing, the
    wiring from settings to verdicts is what the flow tests exercise."""
    from safetensors.torch import save_file

    from moderation.zeroshot import ZeroShotClassifier

    model = ZeroShotClassifier.random_weights(model="ViT-S-32")
    model.load()
    path = tmp_path_factory.mktemp("clip") / "vit-s-32.safetensors"
    save_file({k: v.contiguous() for k, v in model.module.state_dict().items()}, str(path))
    return path


def lenient_review(monkeypatch, clip_checkpoint) -> None:
    """Random OpenCLIP weights and thresholds no random score reaches: every classifier runs
    and finds nothing, so items pass review on their own."""
    import json

    monkeypatch.setenv("WANFLOW_CLIP_MODEL", "ViT-S-32")
    monkeypatch.setenv("WANFLOW_CLIP_WEIGHTS", str(clip_checkpoint))
    categories = ("violence", "gore", "blood", "weapons", "sexual", "nudity")
    lenient = {c: {"review": 1.0, "block": 1.0} for c in categories}
    monkeypatch.setenv("WANFLOW_REVIEW_THRESHOLDS", json.dumps(lenient))


class HttpReceiver:
    """A local HTTP endpoint (a callback's receiver) answering with ``statuses`` in turn, then
    200; ``requests`` holds each request's headers and body."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses, self.requests = list(statuses or []), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def published_ids(storage) -> dict[str, int]:
    """Item id → how many times it was published (metadata.json, written last, under
    ``published/<date>/<item>/``): 1 for each, or something was published twice."""
    counts: dict[str, int] = {}
    for obj in storage.list("published/"):
        if obj.key.endswith("/metadata.json"):
            item = obj.key.split("/")[2]
            counts[item] = counts.get(item, 0) + 1
    return counts
