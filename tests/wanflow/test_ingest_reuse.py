"""What ingestion works out once and reuses (per list of keys, the validator without the text
check) must not hide any row's error: a bad row after many good ones is still rejected, with
the same reasons as on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from wanflow.ingest import IngestSummary, ingest, iter_items
from wanflow.manifest import Item, Limits
from wanflow.row_validator import validate_checked

HEADER = "编号,提示词,风格,时长(秒),种子\n"
GOOD = 300


def good_rows(count: int = GOOD) -> str:
    return "".join(f"r{i},海怪升起 {i},油画,5,{i}\n" for i in range(count))


def rejected(result) -> list[tuple[int, str | None, str, str]]:
    return [(r.row, r.id, r.field, r.error) for r in result.summary.rejected]


def alone(tmp_path: Path, header: str, row: str) -> list[tuple[str | None, str, str]]:
    """The rejections of ``row`` in a manifest of its own (row numbers aside)."""
    path = tmp_path / "alone.csv"
    path.write_text(header + row, encoding="utf-8")
    return [(i, f, e) for _, i, f, e in rejected(ingest(path))]


@pytest.mark.parametrize(
    "row",
    [
        "bad1,海怪\x07升起,油画,5,1\n",  # a control character in a cell
        "bad2,海怪升起,油画,五秒,1\n",  # no duration
        "bad3,海怪升起,油画,5,-1\n",  # a negative seed
        "bad 4,海怪升起,油画,5,1\n",  # an unusable id
        "r7,海怪升起,油画,5,1\n",  # a duplicate id
        "bad6,,油画,5,1\n",  # no prompt
    ],
)
def test_a_bad_row_after_many_good_ones_keeps_its_error(tmp_path, row):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + good_rows() + row + good_rows(3).replace("r", "z"), encoding="utf-8")
    result = ingest(path)
    assert result.summary.rows == GOOD + 4
    assert result.summary.rejected_rows == 1
    assert result.summary.valid == GOOD + 3
    found = rejected(result)
    assert {r[0] for r in found} == {GOOD + 2}  # the spreadsheet row: header is row 1
    if not row.startswith("r7,"):
        assert [(i, f, e) for _, i, f, e in found] == alone(tmp_path, HEADER, row)
    else:
        assert found[0][2] == "id" and "duplicate id 'r7'" in found[0][3]


def test_json_items_of_other_shapes_are_checked_on_their_own(tmp_path):
    """JSON Lines items need not share keys: one naming a field twice, or holding a number or
    a control character where its neighbours held clean text, is rejected after clean ones."""
    lines = [{"id": f"j{i}", "prompt": f"p {i}", "seed": str(i)} for i in range(GOOD)]
    lines.append({"id": "twice", "prompt": "p", "提示词": "p again"})
    lines.append({"id": "number", "prompt": "p", "seed": 7})
    lines.append({"id": "ctrl", "prompt": "p\x1b[31m", "seed": "1"})
    lines.append({"id": "ok", "prompt": "p", "seed": "2"})
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = ingest(path)
    assert result.summary.valid == GOOD + 2  # "number" is fine: a seed may be a number
    assert [(r.id, r.field) for r in result.summary.rejected] == [
        ("twice", "prompt"),
        ("ctrl", "prompt"),
    ]
    assert "both mean 'prompt'" in result.summary.rejected[0].error
    assert "U+001B" in result.summary.rejected[1].error


def test_the_counts_reach_the_summary_when_the_stream_is_left_early(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "bad,p,油画,五秒,1\n" + good_rows(10), encoding="utf-8")
    summary = IngestSummary(source="m.csv", encoding="?", format="?")
    stream = iter_items(path, summary)
    taken = [next(stream) for _ in range(3)]
    stream.close()
    assert [item.id for item in taken] == ["r0", "r1", "r2"]
    assert (summary.rows, summary.valid, summary.rejected_rows) == (4, 3, 1)


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "a", "prompt": "p", "duration": "5", "seed": "3", "tags": "x，y", "style": "油画"},
        {"id": "a", "prompt": "p", "duration": "0:05", "seed": "1.2E+05", "language": "中文"},
        {"id": "a b", "prompt": "", "duration": "五秒", "seed": "-1", "bogus": 1},
        {"id": "a", "prompt": "p" * 3000, "duration": "700", "require_approval": "也许"},
        {"id": "a", "prompt": "p", "duration": "90"},  # over the operator's limit below
    ],
)
def test_the_validator_without_the_text_check_validates_alike(fields):
    limits = Limits(max_duration_s=60)
    try:
        expected = Item.model_validate(fields, context={"limits": limits, "text_checked": True})
    except ValidationError as exc:
        with pytest.raises(ValidationError) as caught:
            validate_checked(fields, limits)
        assert caught.value.title == exc.title
        assert caught.value.errors(include_url=False, include_context=False) == exc.errors(
            include_url=False, include_context=False
        )
        assert str(caught.value) == str(exc)
    else:
        item = validate_checked(fields, limits)
        assert type(item) is Item
        assert item == expected
        assert item.model_fields_set == expected.model_fields_set


MIXED = [
    "{i},海怪升起,油画\n",  # fewer cells than columns: no duration, no seed
    "{i},海怪升起,油画,五秒\n",  # fewer cells, and a duration that is no number
    "{i},海怪升起,油画,5,1,,\n",  # blank cells past the header
    "{i},海\x07怪,油画,5,1\n",  # a control character
    "{i},海怪升起,油画,5秒,1\n",  # a duration with its unit
    "{i},海怪升起,油画,5,1\n",  # plain
    "{i}, 海怪升起 ,油画, 5 ,\t1\n",  # padded cells
    "{i},海怪升起,油画,601,1\n",  # past the hard limit, named by column
    "{i},海怪升起," + "油" * 201 + ",5,1\n",  # a style past its length
    "{i}," + "海" * 300 + ",油画,5,1\n",  # a row too long to skip counting lengths
]


def outcome(result, row_id):
    items = [i.model_dump() for i in result.items if i.id == row_id]
    rejections = [(i, f, e) for _, i, f, e in rejected(result) if i == row_id]
    return items, rejections


def test_each_csv_row_reads_as_it_would_alone_whatever_rows_came_before(tmp_path):
    """Rows are mapped by position once a plain row has shown the header's shape; a row that
    differs (fewer cells, suspect text) still gets its own reading, and its neighbours too."""
    rows = [row.format(i=f"a{n}") for n, row in enumerate(MIXED)]
    rows += [row.format(i=f"b{n}") for n, row in enumerate(reversed(MIXED))]
    rows += [MIXED[0].format(i="c0"), MIXED[7].format(i="c1")]  # short, then a column named
    rows += [MIXED[-2].format(i="c2"), MIXED[-1].format(i="c3")]  # long, after the plan
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    together = ingest(path)
    assert together.summary.rows == len(rows)
    for row in rows:
        row_id = row.split(",")[0]
        single = tmp_path / "single.csv"
        single.write_text(HEADER + row, encoding="utf-8")
        assert outcome(together, row_id) == outcome(ingest(single), row_id), row
    # The two long rows: a style past its 200 characters, a prompt within its 2000.
    for row_id in ("a8", "b1", "c2"):
        ((field, error),) = [(f, e) for _, i, f, e in rejected(together) if i == row_id]
        assert (field, error[:41]) == ("style", "String should have at most 200 characters")
    assert [i.id for i in together.items if len(i.prompt) == 300] == ["a9", "b0", "c3"]
