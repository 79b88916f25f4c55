"""Every size a manifest can ask for is bounded before work starts, and every bound is one clear
error: deep JSON, huge headers and lines, control characters, bytes that are not UTF-8, keys
given twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wanflow.ingest import ingest
from wanflow.limits import MAX_COLUMNS, MAX_JSON_DEPTH, MAX_LINE_CHARS
from wanflow.readers import ManifestError, ReadInfo, iter_rows


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def rejected(result) -> list[tuple[int, str]]:
    return [(r.row, r.field) for r in result.summary.rejected]


# --- JSON nesting --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["m.json", "manifest"])
def test_json_nested_a_hundred_thousand_deep_is_one_error(tmp_path, name):
    deep = "[" * 100_000 + "]" * 100_000
    path = write(tmp_path, name, '[{"prompt": "x"},\n' + deep + "]")
    with pytest.raises(ManifestError, match=f"nested deeper than {MAX_JSON_DEPTH}") as caught:
        ingest(path)
    assert caught.value.line == 2


def test_an_object_manifest_nested_too_deep_is_one_error(tmp_path):
    path = write(
        tmp_path, "m.json", '{"items": [], "defaults": ' + "[" * 50_000 + "]" * 50_000 + "}"
    )
    with pytest.raises(ManifestError, match="nested deeper"):
        ingest(path)


def test_an_item_nested_past_the_limit_is_rejected_alone(tmp_path):
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    items = f'[{{"prompt": "x"}}, {{"prompt": "y", "tags": {nested}}}, {{"prompt": "z"}}]'
    result = ingest(write(tmp_path, "m.json", items))
    assert [i.prompt for i in result.items] == ["x", "z"]
    assert rejected(result) == [(2, "(row)")]
    assert "nested deeper" in result.summary.rejected[0].error


def test_a_json_lines_line_nested_too_deep_is_rejected_alone(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    text = '{"prompt": "x"}\n{"prompt": ' + deep + '}\n{"prompt": "z"}\n'
    result = ingest(write(tmp_path, "m.jsonl", text))
    assert [i.prompt for i in result.items] == ["x", "z"]
    assert rejected(result) == [(2, "(row)")]


def test_a_number_python_cannot_convert_is_a_json_error(tmp_path):
    path = write(tmp_path, "m.json", '[{"prompt": "x", "seed": ' + "1" * 5000 + "}]")
    with pytest.raises(ManifestError, match="invalid JSON"):
        ingest(path)
    result = ingest(write(tmp_path, "m.jsonl", '{"prompt": "x", "seed": ' + "1" * 5000 + "}\n"))
    assert rejected(result) == [(1, "(row)")]


# --- control characters --------------------------------------------------------------------------
def test_a_nul_past_the_first_8_kb_rejects_its_row_naming_the_column(tmp_path):
    rows = "".join(f"i{n},prompt number {n}\n" for n in range(1000))
    text = "id,prompt,旁白\n" + rows + "late,late one,before\x00after\nlast,ok\n"
    assert len(text.encode()) > 8192
    result = ingest(write(tmp_path, "m.csv", text))
    assert result.summary.valid == 1001
    (rejection,) = result.summary.rejected
    assert (rejection.row, rejection.id, rejection.field) == (1002, "late", "narration")
    assert "'旁白'" in rejection.error and "U+0000 (NUL)" in rejection.error


@pytest.mark.parametrize(
    ("char", "named"), [("\x1b", "U+001B"), ("\x7f", "U+007F"), ("\x85", "U+0085"), ("\x0c", "")]
)
def test_other_control_characters_are_rejected_but_tab_and_newlines_pass(tmp_path, char, named):
    text = f'id,prompt,title\nok,"tab\tand\r\nnewline",t\nbad,p,ti{char}tle\n'
    result = ingest(write(tmp_path, "m.csv", text))
    assert [i.prompt for i in result.items] == ["tab\tand\r\nnewline"]
    assert rejected(result) == [(3, "title")]
    assert named in result.summary.rejected[0].error


def test_a_row_of_many_bad_cells_is_a_few_rejections(tmp_path):
    header = "prompt," + ",".join(f"c{n}" for n in range(500))
    row = "ok," + ",".join(["\x01"] * 500)
    result = ingest(write(tmp_path, "m.csv", f"{header}\n{row}\nfine\n"))
    assert result.summary.valid == 1
    assert [r.field for r in result.summary.rejected] == ["c0", "c1", "c2", "c3", "c4", "(row)"]
    assert result.summary.rejected[-1].error == "and 495 more such cells"


def test_json_escapes_of_control_characters_and_surrogates_are_rejected(tmp_path):
    items = [
        {"id": "a", "prompt": "fine"},
        {"id": "b", "prompt": "x\u0000y"},
        {"id": "c", "prompt": "x", "tags": ["ok", "b\u009bad"]},
    ]
    text = json.dumps(items)[:-1] + ', {"id": "d", "prompt": "\\ud800"}]'
    result = ingest(write(tmp_path, "m.json", text))
    assert [i.id for i in result.items] == ["a"]
    assert rejected(result) == [(2, "prompt"), (3, "tags"), (4, "prompt")]
    assert "surrogate" in result.summary.rejected[2].error


def test_a_control_character_in_the_header_or_options_is_one_error(tmp_path):
    with pytest.raises(ManifestError, match="header column 2: control character U\\+0007"):
        ingest(write(tmp_path, "m.csv", "id,pro\x07mpt\na,b\n"))
    doc = {"name": "bad\x00name", "items": [{"prompt": "x"}]}
    with pytest.raises(ManifestError, match="manifest options: control character U\\+0000"):
        ingest(write(tmp_path, "m.json", json.dumps(doc)))


def test_an_item_made_directly_refuses_control_characters():
    from pydantic import ValidationError

    from wanflow.manifest import Item

    with pytest.raises(ValidationError, match="U\\+0000"):
        Item(id="a", prompt="x\x00")


# --- columns and lines ---------------------------------------------------------------------------
def test_a_header_of_a_hundred_thousand_columns_is_one_error(tmp_path):
    header = "prompt," + ",".join(f"c{n}" for n in range(100_000))
    with pytest.raises(ManifestError, match=f"100001 columns; the limit is {MAX_COLUMNS}"):
        ingest(write(tmp_path, "m.csv", header + "\nx\n"))


def test_a_header_without_a_prompt_is_named_briefly(tmp_path):
    header = ",".join(f"{n}-" + "x" * 1000 for n in range(500))
    with pytest.raises(ManifestError, match="no prompt column") as caught:
        ingest(write(tmp_path, "m.csv", header + "\nx\n"))
    assert len(str(caught.value)) < 1000
    assert str(caught.value).endswith("and 490 more")


def test_unknown_columns_are_one_summarised_warning(tmp_path):
    header = "prompt," + ",".join(f"extra{n}" for n in range(30))
    rows = "".join(f"p{n}," + ",".join("v" * 30) + "\n" for n in range(50))
    result = ingest(write(tmp_path, "m.csv", header + "\n" + rows))
    assert result.summary.valid == 50
    (warning,) = result.summary.warnings
    assert warning.startswith("30 unknown columns ignored: 'extra0' (row 2), 'extra1' (row 2)")
    assert warning.endswith("and 25 more")


def test_ever_new_json_keys_stay_one_warning(tmp_path):
    items = [{"prompt": f"p{n}", f"k{n}": 1} for n in range(MAX_COLUMNS + 10)]
    result = ingest(write(tmp_path, "m.json", json.dumps(items)))
    (warning,) = result.summary.warnings
    assert warning.startswith(f"{MAX_COLUMNS}+ unknown columns ignored: 'k0' (row 1)")


def test_a_json_item_with_too_many_keys_is_rejected_alone(tmp_path):
    wide = {"prompt": "y", **{f"k{n}": n for n in range(MAX_COLUMNS + 1)}}
    result = ingest(write(tmp_path, "m.json", json.dumps([{"prompt": "x"}, wide])))
    assert result.summary.valid == 1
    assert rejected(result) == [(2, "(row)")]
    assert f"the limit is {MAX_COLUMNS}" in result.summary.rejected[0].error


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_an_overlong_line_is_refused_before_it_is_split_into_cells(tmp_path, encoding):
    line = "x," * (MAX_LINE_CHARS // 2 + 1)
    data = ("提示词\n第一行\n" + line + "\n").encode(encoding)
    with pytest.raises(ManifestError, match=f"longer than {MAX_LINE_CHARS} characters") as caught:
        ingest(write(tmp_path, "m.csv", data))
    assert caught.value.line == 3


def test_a_line_within_the_limit_in_characters_but_not_in_bytes_is_read(tmp_path):
    # The limit counts characters: 900,000 Chinese ones are 2.7 MB of UTF-8.
    wide = ",".join(["长" * 100_000] * 9)
    header = "prompt," + ",".join(f"c{n}" for n in range(9))
    assert len(wide.encode()) > MAX_LINE_CHARS > len(wide)
    result = ingest(write(tmp_path, "m.csv", f"{header}\nfirst,{wide}\nsecond\n"))
    assert [i.prompt for i in result.items] == ["first", "second"]


@pytest.mark.parametrize("chunk", [7, 64])  # lines across pieces, and lines inside one
@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_the_longest_line_found_while_decoding_bounds_every_line(
    tmp_path, monkeypatch, encoding, chunk
):
    # The bound lets the reader skip counting each line, so it must never fall short, however
    # the pieces the file is read in cut the lines.
    import random

    from wanflow import decoding

    monkeypatch.setattr(decoding, "_CHUNK", chunk)
    chance = random.Random(19)
    for _ in range(300):
        lines = ["海" * chance.randrange(0, 12) + "x" * chance.randrange(0, 30) for _ in range(8)]
        data = "\n".join(lines).encode(encoding) + chance.choice([b"", b"\n"])
        path = write(tmp_path, "m.csv", data)
        longest = max(len(line) for line in data.splitlines(keepends=True))
        bad, bound = decoding._scan(path, encoding)
        assert bad is None and bound >= longest


def test_an_overlong_cell_names_the_cell_limit(tmp_path):
    cell = "长" * 200_000
    with pytest.raises(ManifestError, match="a cell is longer than 131072 characters"):
        ingest(write(tmp_path, "m.csv", f'prompt\n"{cell}\n'))


def test_an_overlong_json_lines_line_is_rejected_alone(tmp_path):
    text = '{"prompt": "x"}\n{"prompt": "' + "y" * MAX_LINE_CHARS + '"}\n{"prompt": "z"}\n'
    result = ingest(write(tmp_path, "m.jsonl", text))
    assert [i.prompt for i in result.items] == ["x", "z"]
    assert rejected(result) == [(2, "(row)")]


def test_blank_rows_are_counted_not_kept(tmp_path):
    path = write(tmp_path, "m.csv", "prompt\n" + ",\n" * 50_000 + "x\n")
    info = ReadInfo()
    rows = list(iter_rows(path, info, max_bytes=2**30))
    assert len(rows) == 1
    assert info.blank_count == 50_000
    assert info.blank_rows == list(range(2, 12))
    warning = ingest(path).summary.warnings[0]
    assert warning == "50000 blank row(s) skipped: 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 49990 more"


# --- encodings -----------------------------------------------------------------------------------
def test_one_stray_byte_in_a_latin_utf8_file_does_not_turn_it_into_gbk(tmp_path):
    # "d\xe9ja" is Latin-1; with "Caf\xc3\xa9" the whole file also decodes as GBK ("Caf茅").
    data = (
        b"id,prompt\na1,Caf\xc3\xa9 au lait\na2,d\xe9ja vu\na3,cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\n"
    )
    data.decode("gbk")
    result = ingest(write(tmp_path, "m.csv", data))
    assert result.summary.encoding == "utf-8"
    assert [i.prompt for i in result.items] == ["Café au lait", "crème brûlée"]
    (rejection,) = result.summary.rejected
    assert (rejection.row, rejection.id, rejection.field) == (3, "a2", "prompt")
    assert "byte 0xE9 at character 2 is not UTF-8" in rejection.error
    offset = data.index(b"\xe9j")
    assert any(f"offset {offset} (line 3)" in w for w in result.summary.warnings)


def test_a_stray_byte_in_an_ascii_file_is_not_read_as_gbk(tmp_path):
    result = ingest(write(tmp_path, "m.csv", b"prompt\nplain\nna\xefve\n"))
    assert result.summary.encoding == "utf-8"
    assert rejected(result) == [(3, "prompt")]


def test_a_stray_byte_megabytes_in_is_placed_on_its_line(tmp_path):
    # Past the first pieces the reader checks, well inside a later one.
    lines = [f"海怪从深海升起 {i}".encode() for i in range(120_000)]
    lines[90_000] = b"na\xefve"
    data = b"prompt\n" + b"\n".join(lines) + b"\n"
    offset = data.index(b"\xef")
    assert offset > 2 * 2**20
    result = ingest(write(tmp_path, "m.csv", data))
    assert any(f"offset {offset} (line 90002)" in w for w in result.summary.warnings)
    assert [row for row, _ in rejected(result)] == [90_002]


@pytest.mark.parametrize("size", [2**12, 2**14, 2**16, 2**18, 2**20])
def test_a_stray_byte_after_a_character_cut_by_a_read_is_placed_exactly(tmp_path, size):
    # Whatever size the file is read in, a character may straddle two reads: the byte after
    # it is still reported where it is.
    from wanflow.decoding import first_bad_byte

    for cut in (1, 2):  # the read ends one or two bytes into the three-byte 海
        data = b"a" * (size - cut) + "海".encode() + b"\n\xff tail\n"
        path = write(tmp_path, "m.csv", data)
        assert first_bad_byte(path, "utf-8") == (data.index(b"\xff"), 2)


def test_a_real_gbk_excel_export_is_read_as_gbk(tmp_path):
    text = (
        "编号,提示词,旁白,风格\r\n"
        "A1,一只猫在草地上奔跑,阳光明媚的午后。,水彩画\r\n"
        "A2,茅草屋前的老人,,油画\r\n"
    )
    result = ingest(write(tmp_path, "m.csv", text.encode("gbk")))
    assert result.summary.encoding == "gbk"
    assert [i.prompt for i in result.items] == ["一只猫在草地上奔跑", "茅草屋前的老人"]
    assert result.summary.rejected == []


def test_utf8_with_bom_and_utf16_from_excel(tmp_path):
    bom = ingest(write(tmp_path, "a.csv", "\ufeffid,prompt\na,Café\n".encode()))
    assert (bom.summary.encoding, bom.items[0].id, bom.items[0].prompt) == (
        "utf-8-sig",
        "a",
        "Café",
    )
    # Excel's "Unicode Text": UTF-16 LE with a BOM, tab-separated, CRLF.
    data = "id\tprompt\r\nb\t星空\r\n".encode("utf-16")
    utf16 = ingest(write(tmp_path, "b.txt", data))
    assert (utf16.summary.encoding, utf16.items[0].prompt) == ("utf-16", "星空")


def test_a_broken_utf16_file_is_one_error(tmp_path):
    data = "id\tprompt\r\nb\t星空\r\n".encode("utf-16") + b"\x00"
    with pytest.raises(ManifestError, match="not UTF-16"):
        ingest(write(tmp_path, "m.csv", data))


# --- keys given twice ----------------------------------------------------------------------------
def test_json_keys_given_twice_reject_their_item(tmp_path):
    text = (
        '[{"id": "a", "prompt": "one", "prompt": "two"},'
        ' {"id": "b", "prompt": "one", "提示词": "two"},'
        ' {"id": "c", "prompt": "fine"}]'
    )
    result = ingest(write(tmp_path, "m.json", text))
    assert [i.id for i in result.items] == ["c"]
    first, second = result.summary.rejected
    assert (first.row, first.field) == (1, "(row)") and "'prompt' twice" in first.error
    assert (second.row, second.id, second.field) == (2, "b", "prompt")
    assert "'prompt' and '提示词' both mean 'prompt'" in second.error


def test_json_lines_keys_given_twice_reject_their_line(tmp_path):
    text = '{"prompt": "x", "seed": 1, "seed": 2}\n{"prompt": "y"}\n'
    result = ingest(write(tmp_path, "m.jsonl", text))
    assert [i.prompt for i in result.items] == ["y"]
    assert "'seed' twice" in result.summary.rejected[0].error


def test_manifest_options_given_twice_are_one_error(tmp_path):
    with pytest.raises(ManifestError, match="'name' twice"):
        ingest(write(tmp_path, "m.json", '{"name": "a", "name": "b", "items": [{"prompt": "x"}]}'))
    doc = '{"defaults": {"style": "a", "风格": "b", "style": "c"}, "items": [{"prompt": "x"}]}'
    with pytest.raises(ManifestError, match=r"'defaults\.style' twice"):
        ingest(write(tmp_path, "m.json", doc))
    doc = '{"defaults": {"style": "油画", "风格": "水彩画"}, "items": [{"prompt": "x"}]}'
    with pytest.raises(ManifestError, match="two keys mean 'style'"):
        ingest(write(tmp_path, "m.json", doc))


# --- sizes a row can set -------------------------------------------------------------------------
def test_durations_and_rates_outside_their_range_reject_only_their_row(tmp_path):
    text = (
        '[{"id": "a", "prompt": "x", "duration": NaN}, {"id": "b", "prompt": "x", "duration": 0},'
        ' {"id": "c", "prompt": "x", "duration": 601}, {"id": "d", "prompt": "x",'
        ' "speech_rate": Infinity}, {"id": "e", "prompt": "x", "duration": "1e400"},'
        ' {"id": "ok", "prompt": "x", "duration": 600}]'
    )
    result = ingest(write(tmp_path, "m.json", text))
    assert [i.id for i in result.items] == ["ok"]
    assert [(r.id, r.field) for r in result.summary.rejected] == [
        ("a", "duration"),
        ("b", "duration"),
        ("c", "duration"),
        ("d", "speech_rate"),
        ("e", "duration"),
    ]
    assert "finite number" in result.summary.rejected[0].error


def test_integers_too_large_for_a_float_reject_only_their_row(tmp_path):
    # JSON allows integers of thousands of digits; converting one to a float raises
    # OverflowError, which must become the row's error, not the manifest's crash.
    huge = "9" * 400
    text = (
        f'[{{"id": "a", "prompt": "x", "duration": {huge}}},'
        f' {{"id": "b", "prompt": "x", "speech_rate": {huge}}},'
        f' {{"id": {huge}, "prompt": "x"}}, {{"id": "ok", "prompt": "x", "seed": {huge}}}]'
    )
    result = ingest(write(tmp_path, "m.json", text))
    assert [(r.row, r.field) for r in result.summary.rejected] == [
        (1, "duration"),
        (2, "speech_rate"),
        (3, "id"),
        (4, "seed"),
    ]
    assert "valid number" in result.summary.rejected[0].error


def test_an_infinite_manifest_time_budget_is_one_error(tmp_path):
    with pytest.raises(ManifestError, match="time_budget_s"):
        ingest(write(tmp_path, "m.json", '{"time_budget_s": Infinity, "items": [{"prompt": "x"}]}'))
