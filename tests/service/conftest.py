"""One running ``wanflow serve`` per test module that asks for it (no runner: jobs stay where
the API put them), with a token of each scope."""

from __future__ import annotations

import pytest

from tests.service.server import Service


@pytest.fixture(scope="module")
def api_service(s3_server, tmp_path_factory):
    service = Service(
        s3_server,
        tmp_path_factory.mktemp("serve"),
        ["--no-runner", "--max-body-mb", "0.01"],
        env={"WANFLOW_MAX_ITEMS": "5"},
    )
    service.tokens = {
        scope: service.access.create_token(f"{scope}-bot", scope)
        for scope in ("submit", "read", "review")
    }
    service.tokens["other"] = service.access.create_token("other-submitter", "submit")
    service.start()
    yield service
    service.stop()
