"""A storage outage after a clip is rendered costs a wait, not the GPU work: the clip is kept on
the worker and its upload retried (for WANFLOW_UPLOAD_RETRY_S), with the real S3 server stopped
and started again."""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest

from tests.conftest import make_storage
from tests.faults import FaultProxy
from tests.generation.test_generate import request
from wanflow.localserver import LocalS3Server
from wanflow.settings import Settings

pytestmark = pytest.mark.slow


class _Seen(logging.Handler):
    """Sets ``event`` when a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.event = text, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def test_a_clip_rendered_during_an_outage_is_uploaded_when_storage_returns(
    prefect_api, wanflow_env, tmp_path, monkeypatch, s3_credentials
):
    from generation.clips import ClipJob
    from generation.render import Renderer
    from tasks.generate import generate_clip

    access, secret = s3_credentials
    data = tmp_path / "s3"
    server = LocalS3Server(data, access, secret).start()
    # A fixed address in front of the server, as a load balancer would be: the restarted server
    # may come back on another port.
    proxy = FaultProxy(int(server.endpoint.rsplit(":", 1)[1]), plan=[]).__enter__()
    storage = make_storage(server)
    storage.ensure_bucket()
    monkeypatch.setenv("WANFLOW_S3_ENDPOINT", proxy.endpoint)
    monkeypatch.setenv("WANFLOW_S3_BUCKET", storage.bucket)
    monkeypatch.setenv("WANFLOW_S3_RETRIES", "1")  # the brief retries give up almost at once
    monkeypatch.setenv("WANFLOW_UPLOAD_RETRY_S", "300")  # the patient ones do not

    renders, rendered = [], threading.Event()
    render = Renderer.render

    def render_then_outage(self, *args, **kwargs):
        result = render(self, *args, **kwargs)
        renders.append(1)
        server.stop()  # the clip exists only on the worker now
        rendered.set()
        return result

    monkeypatch.setattr(Renderer, "render", render_then_outage)
    failure = _Seen("storage unavailable")
    logging.getLogger("wanflow.storage").addHandler(failure)
    outcome: dict = {}

    def run() -> None:
        try:
            job = ClipJob(item_id="a", shot=1, model="t2v-a14b", request=request(seed=43))
            outcome["record"] = generate_clip(job, Settings())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    restarted = None
    try:
        assert rendered.wait(300), "the clip was never rendered"
        # The first upload attempt has failed and is being retried: storage comes back.
        while not failure.event.wait(1):
            assert thread.is_alive(), f"the task gave up at once: {outcome.get('error')!r}"
        restarted = LocalS3Server(data, access, secret).start()
        proxy.target = ("127.0.0.1", int(restarted.endpoint.rsplit(":", 1)[1]))
        thread.join(timeout=300)
        assert "error" not in outcome, repr(outcome.get("error"))
        record = outcome["record"]
        assert len(renders) == 1 and not record.cached  # rendered once, uploaded afterwards
        back = make_storage(restarted, bucket=storage.bucket)
        assert back.exists(record.key.replace("clip.mp4", "meta.json"))
        assert hashlib.sha256(back.get_bytes(record.key)).hexdigest() == record.sha256
    finally:
        logging.getLogger("wanflow.storage").removeHandler(failure)
        proxy.__exit__(None, None, None)
        server.stop()
        if restarted is not None:
            restarted.stop()
