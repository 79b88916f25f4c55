"""One running ``wanflow serve`` per test module that asks for it (no runner: jobs stay where
the API put them), with a token of each scope."""

from __future__ import annotations

import pytest

from tests.service.server import running_service


@pytest.fixture(scope="module")
def api_service(s3_server, tmp_path_factory):
    service = running_service(
        s3_server,
        tmp_path_factory.mktemp("serve"),
        ["--no-runner", "--max-body-mb", "0.01"],
        env={"WANFLOW_MAX_ITEMS": "5"},
    )
    yield service
    service.stop()
