"""Keyframe items in a manifest: several images per item, one prompt per gap, checked row by row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wanflow.ingest import ingest


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rejected(result) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for r in result.summary.rejected:
        out.setdefault(r.id, []).append((r.field, r.error))
    return out


def test_json_images_and_transitions(tmp_path):
    rows = [
        {
            "id": "kf",
            "prompt": "a fox in the snow",
            "images": ["config/kf/a.png", "config/kf/b.png", "config/kf/c.png"],
            "transitions": ["the fox turns, looks up", "the fox runs off"],
        }
    ]
    (item,) = ingest(write(tmp_path, "m.json", json.dumps(rows))).items
    assert item.images == ["config/kf/a.png", "config/kf/b.png", "config/kf/c.png"]
    assert item.transitions == ["the fox turns, looks up", "the fox runs off"]
    assert item.image is None


def test_csv_one_cell_split_like_tags_and_transitions_by_bar(tmp_path):
    text = '编号,提示词,关键帧,过渡\na,狐狸,"k/a.png，k/b.png、k/c.png","狐狸回头，望天|狐狸跑开"\n'
    (item,) = ingest(write(tmp_path, "m.csv", text)).items
    assert item.images == ["k/a.png", "k/b.png", "k/c.png"]
    assert item.transitions == ["狐狸回头，望天", "狐狸跑开"]


@pytest.mark.parametrize(
    "header",
    [
        "image1,image2,image3",
        "图片1,图片 2,图片3",
        "关键帧1,关键帧2,关键帧3",
        "Keyframe 1,keyframe_2,KEYFRAME-3",
    ],
)
def test_csv_numbered_columns_are_gathered_in_number_order(tmp_path, header):
    first, second, third = header.split(",")
    text = f"id,prompt,{third},{first},{second},narration\na,x,k/c.png,k/a.png,k/b.png,One. Two.\n"
    result = ingest(write(tmp_path, "m.csv", text))
    assert result.summary.rejected == [] and result.summary.warnings == []
    assert result.items[0].images == ["k/a.png", "k/b.png", "k/c.png"]


def test_numbered_columns_may_end_blank_per_row(tmp_path):
    text = (
        "id,prompt,image1,image2,image3,transitions\n"
        "a,x,k/a.png,k/b.png,,go\nb,x,k/a.png,k/b.png,k/c.png,go|stop\n"
    )
    result = ingest(write(tmp_path, "m.csv", text))
    assert {i.id: len(i.images) for i in result.items} == {"a": 2, "b": 3}


def test_bad_rows_are_rejected_one_by_one_in_csv(tmp_path):
    text = (
        "id,prompt,image,关键帧,transitions,narration\n"
        "ok,x,,k/a.png;k/b.png;k/c.png,go|stop,\n"
        "one,x,,k/a.png,go,\n"
        "both,x,k/r.png,k/a.png;k/b.png,go,\n"
        "count,x,,k/a.png;k/b.png;k/c.png,only one,\n"
        "noprompt,x,,k/a.png;k/b.png,,\n"
        "unsafe,x,,k/a.png;../etc/passwd,go,\n"
        "orphan,x,,,go,\n"
        "narrated,x,,k/a.png;k/b.png,,一句话。\n"
    )
    result = ingest(write(tmp_path, "m.csv", text))
    assert [i.id for i in result.items] == ["ok", "narrated"]
    bad = rejected(result)
    assert set(bad) == {"one", "both", "count", "noprompt", "unsafe", "orphan"}
    assert all(field == "images" for field, _ in bad["one"] + bad["both"] + bad["count"])
    assert "at least two images (got 1)" in bad["one"][0][1]
    assert "not both" in bad["both"][0][1]
    assert "3 keyframes make 2 transition(s)" in bad["count"][0][1]
    assert "transitions has 1" in bad["count"][0][1]
    assert "give transitions" in bad["noprompt"][0][1]
    assert "keyframe 2" in bad["unsafe"][0][1] and "'..'" in bad["unsafe"][0][1]
    assert "give images" in bad["orphan"][0][1]
    assert result.summary.rejected_rows == 6


def test_numbered_columns_with_a_gap_or_beside_the_list_column_are_rejected(tmp_path):
    text = (
        "id,prompt,images,image1,image2,image3,transitions\n"
        "ok,x,,k/a.png,k/b.png,,go\n"
        "gap,x,,k/a.png,,k/c.png,go|stop\n"
        "twice,x,k/a.png;k/b.png,k/a.png,k/b.png,,go\n"
    )
    result = ingest(write(tmp_path, "m.csv", text))
    assert [i.id for i in result.items] == ["ok"]
    bad = rejected(result)
    assert bad["gap"] == [("images", bad["gap"][0][1])]
    assert "image 2 is empty but image 3 is given" in bad["gap"][0][1]
    assert "both a images column and numbered image columns" in bad["twice"][0][1]


def test_bad_json_items_are_rejected_one_by_one(tmp_path):
    rows = [
        {"id": "ok", "prompt": "x", "images": ["k/a.png", "k/b.png"], "transitions": ["go"]},
        {"id": "notkeys", "prompt": "x", "images": ["k/a.png", 3], "transitions": ["go"]},
        {"id": "empty", "prompt": "x", "images": ["k/a.png", "k/b.png"], "transitions": [""]},
        {"id": "abs", "prompt": "x", "images": ["/etc/a.png", "k/b.png"], "transitions": ["go"]},
        {"id": "many", "prompt": "x", "images": [f"k/{i}.png" for i in range(17)],
         "narration": "x"},
    ]  # fmt: skip
    result = ingest(write(tmp_path, "m.json", json.dumps(rows)))
    assert [i.id for i in result.items] == ["ok"]
    bad = rejected(result)
    assert set(bad) == {"notkeys", "empty", "abs", "many"}
    assert "keyframe 2 is not a bucket key" in bad["notkeys"][0][1]
    assert bad["empty"][0][0] == "transitions"
    assert "keyframe 1" in bad["abs"][0][1] and "absolute" in bad["abs"][0][1]
    assert "the limit is 16" in bad["many"][0][1]
