"""A ``submit`` token's job list costs what it returns: the service finds its jobs through an
index of its own, never by reading every other submitter's records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.jobs import Jobs
from wanflow.access import Token
from wanflow.settings import Settings

_ITEM = {"prompt": "海边的灯塔，夕阳", "title": "灯塔"}


def _token(name: str, scope: str = "submit") -> Token:
    return Token(name, scope, datetime.now(UTC))


def test_a_submitter_pages_through_its_own_jobs_without_reading_others(storage, prefect_api):
    jobs = Jobs(Settings(), storage)
    others = [jobs.submit(json.dumps([_ITEM]).encode(), "busy", None)[0].id for _ in range(6)]
    mine = [jobs.submit(json.dumps([_ITEM]).encode(), "quiet", None)[0].id for _ in range(3)]

    reads: list[str] = []
    get_bytes = storage.get_bytes
    storage.get_bytes = lambda key, *a, **k: reads.append(key) or get_bytes(key, *a, **k)

    first = jobs.page(_token("quiet"), 2, None)
    rest = jobs.page(_token("quiet"), 2, first.next_cursor)
    assert [j.id for j in first.jobs + rest.jobs] == sorted(mine, reverse=True)
    assert rest.next_cursor is None
    assert not [key for key in reads if any(job_id in key for job_id in others)]

    everything = jobs.page(_token("auditor", "read"), 20, None)
    assert {j.id for j in everything.jobs} == set(others + mine)
