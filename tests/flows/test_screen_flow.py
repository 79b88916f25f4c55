"""A manifest item whose only bad words are in a field the prompt never shows is still blocked."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

ROWS = [
    {"id": "clean", "prompt": "湖面上的日出"},
    {"id": "negative", "prompt": "湖面上的日出", "negative_prompt": "heil hitler, gas the jews"},
    {"id": "music", "prompt": "湖面上的日出", "bgm": "sieg heil march"},
]


def test_hateful_negative_prompt_or_music_blocks_the_item_before_planning(
    prefect_api, wanflow_env, storage
):
    from flows.produce_manifest import produce_manifest

    storage.put_bytes("incoming/fields.json", json.dumps(ROWS).encode())
    report = produce_manifest("incoming/fields.json")

    items = {i.id: i for i in report.items}
    assert items["clean"].status == "held"
    blocks = {i: {(b.field, b.term) for b in o.blocked} for i, o in items.items()}
    assert {("negative_prompt", "heil hitler"), ("negative_prompt", "gas the jews")} <= blocks[
        "negative"
    ]
    assert ("bgm", "sieg heil") in blocks["music"]
    for item_id in ("negative", "music"):
        assert items[item_id].status == "blocked"
        assert not storage.exists(f"work/{report.run_id}/{item_id}/plan.json")
    assert not list(storage.list("published/"))
