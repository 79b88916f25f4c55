"""Manifest ingestion: every encoding and format, every kind of bad row, unreadable files."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from wanflow.ingest import ingest
from wanflow.manifest import Limits, derive_id
from wanflow.readers import ManifestError

ZH_CSV = (
    "编号,标题,提示词,旁白,风格,时长(秒),种子,需要审核,标签\n"
    'orion,猎户座,猎人在星空下追逐,俄里翁是最勇敢的猎人。,油画,5秒,42,是,"猎户座，神话"\n'
    "bear,大熊座,母熊和小熊升上星空,,水彩画,0:06,7,否,北斗、熊\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def reasons(result) -> list[tuple[int, str | None, str]]:
    return [(r.row, r.id, r.field) for r in result.summary.rejected]


# --- encodings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk"), ("utf-16", "utf-16")],
)
def test_chinese_csv_in_every_encoding_excel_writes(tmp_path, encoding, reported):
    result = ingest(write(tmp_path, "m.csv", ZH_CSV, encoding))
    assert result.summary.encoding == reported
    assert result.summary.rejected == []
    orion, bear = result.items
    assert orion.id == "orion"
    assert orion.prompt == "猎人在星空下追逐"
    assert orion.title == "猎户座"
    assert orion.duration == 5.0
    assert orion.seed == 42
    assert orion.require_approval is True
    assert orion.tags == ["猎户座", "神话"]
    assert orion.lang == "zh"
    assert bear.duration == 6.0
    assert bear.require_approval is False
    assert bear.tags == ["北斗", "熊"]
    assert bear.narration is None


def test_gb18030_only_characters_are_detected(tmp_path):
    # U+20000 (𠀀) exists in GB18030 but not in GBK.
    text = "prompt,title\n星空,𠀀字\n"
    result = ingest(write(tmp_path, "m.csv", text, "gb18030"))
    assert result.summary.encoding == "gb18030"
    assert result.items[0].title == "𠀀字"
    assert any("GB18030" in w for w in result.summary.warnings)


def test_bom_header_is_not_part_of_the_first_column(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "id,prompt\na,星空\n", "utf-8-sig"))
    assert result.items[0].id == "a"
    assert result.summary.warnings == []


# --- formats -----------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_csv_delimiters_are_sniffed(tmp_path, delimiter):
    text = f"id{delimiter}prompt{delimiter}seed\na{delimiter}sea, monster{delimiter}3\n"
    if delimiter == ",":
        text = 'id,prompt,seed\na,"sea, monster",3\n'
    result = ingest(write(tmp_path, "m.csv", text))
    assert result.items[0].prompt == "sea, monster"
    assert result.items[0].seed == 3


def test_multiline_cells_keep_spreadsheet_row_numbers(tmp_path):
    text = 'id,prompt,seed\na,"line one\nline two",1\nb,ok,-5\n'
    result = ingest(write(tmp_path, "m.csv", text))
    assert result.items[0].prompt == "line one\nline two"
    (rejection,) = result.summary.rejected
    assert (rejection.row, rejection.line, rejection.field) == (3, 4, "seed")


def test_json_array(tmp_path):
    items = [{"id": "a", "prompt": "星空"}, {"prompt": "sea monster", "seed": 9}]
    result = ingest(write(tmp_path, "m.json", json.dumps(items, ensure_ascii=False)))
    assert result.summary.format == "json"
    assert [i.prompt for i in result.items] == ["星空", "sea monster"]
    assert result.items[1].id.startswith("item-")


def test_json_object_with_items_and_manifest_defaults(tmp_path):
    doc = {
        "name": "myths",
        "require_approval": True,
        "callback_url": "https://example.org/hook",
        "defaults": {"风格": "油画", "preset": "draft"},
        "items": [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y", "style": "水彩画"}],
    }
    result = ingest(write(tmp_path, "m.json", json.dumps(doc, ensure_ascii=False)))
    a, b = result.items
    assert (a.style, b.style) == ("油画", "水彩画")
    assert a.preset == b.preset == "draft"
    assert a.require_approval and b.require_approval
    assert str(result.summary.options.callback_url) == "https://example.org/hook"


def test_a_manifest_priority_is_read_in_english_or_chinese_and_checked(tmp_path):
    from wanflow.readers import ManifestError

    def priority(value):
        doc = {"priority": value, "items": [{"id": "a", "prompt": "x"}]}
        name = f"p-{abs(hash(str(value)))}.json"
        return ingest(write(tmp_path, name, json.dumps(doc, ensure_ascii=False)))

    assert priority("高").summary.options.priority == "high"
    assert priority(" LOW ").summary.options.priority == "low"
    plain = ingest(write(tmp_path, "plain.json", json.dumps({"items": [{"prompt": "x"}]})))
    assert plain.summary.options.priority == "normal"
    with pytest.raises(ManifestError, match="priority"):
        priority("asap")


def test_json_lines_with_a_bad_line_keeps_the_others(tmp_path):
    text = (
        '{"id": "a", "prompt": "x"}\n\n{"id": "b", "prompt": \n'
        '["not", "an object"]\n{"prompt": "z"}\n'
    )
    result = ingest(write(tmp_path, "m.jsonl", text))
    assert result.summary.format == "jsonl"
    assert next(i.id for i in result.items) == "a"
    assert len(result.items) == 2
    assert [(r.row, r.field) for r in result.summary.rejected] == [(3, "(row)"), (4, "(row)")]
    assert "invalid JSON" in result.summary.rejected[0].error
    assert "not an object" in result.summary.rejected[1].error


def test_json_lines_saved_as_json_is_read_with_a_warning(tmp_path):
    text = '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n'
    result = ingest(write(tmp_path, "m.json", text))
    assert [i.id for i in result.items] == ["a", "b"]
    assert result.summary.format == "jsonl"
    assert any("JSON Lines" in w for w in result.summary.warnings)


def test_format_is_sniffed_without_an_extension(tmp_path):
    assert ingest(write(tmp_path, "m", '[{"prompt": "x"}]')).summary.format == "json"
    assert ingest(write(tmp_path, "n", '{"prompt": "x"}\n{"prompt": "y"}\n')).summary.format == (
        "jsonl"
    )
    assert ingest(write(tmp_path, "o", "prompt\nx\n")).summary.format == "csv"


def test_the_example_manifests_are_valid():
    for path in EXAMPLES.iterdir():
        result = ingest(path)
        assert result.summary.rejected == [], path
        assert result.summary.warnings == [], path
        assert len(result.items) >= 3


# --- headers -----------------------------------------------------------------------------------
def test_every_structured_field_has_chinese_and_english_headers(tmp_path):
    zh = (
        "提示词,主体,场景,运动,运镜,光源,光线类型,时段,景别,构图,镜头,色调,"
        "负面提示词,参考图,语言,音色,背景音乐,预设,风格强度"
    )
    en = (
        "prompt,subject,scene,motion,camera,light source,light_type,Time of Day,shot-size,"
        "composition,lens,color_tone,negative prompt,image,language,voice,bgm,preset,"
        "style intensity"
    )
    row = "p,s,sc,m,c,ls,lt,t,ss,co,l,ct,np,config/ref.png,中文,v,b,draft,中等"
    for header in (zh, en):
        result = ingest(write(tmp_path, "m.csv", f"{header}\n{row}\n"))
        assert result.summary.rejected == [] and result.summary.warnings == []
        item = result.items[0]
        assert (item.subject, item.scene, item.motion, item.camera) == ("s", "sc", "m", "c")
        assert (item.light_source, item.light_type, item.time_of_day) == ("ls", "lt", "t")
        assert (item.shot_size, item.composition, item.lens, item.colour_tone) == (
            "ss",
            "co",
            "l",
            "ct",
        )
        assert (item.negative_prompt, item.image, item.language) == ("np", "config/ref.png", "zh")
        assert (item.voice, item.bgm, item.preset, item.style_intensity) == (
            "v",
            "b",
            "draft",
            "中等",
        )


def test_unknown_columns_are_warned_about_by_name(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "prompt,备注,owner\nx,随便,me\n"))
    assert len(result.items) == 1
    assert any("'备注'" in w for w in result.summary.warnings)
    assert any("'owner'" in w for w in result.summary.warnings)


def test_blank_rows_are_skipped_and_reported(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "prompt,seed\nx,1\n,,\n\ny,2\n,\n"))
    assert len(result.items) == 2
    assert any("blank row" in w for w in result.summary.warnings)


# --- bad rows ----------------------------------------------------------------------------------
BAD_ROWS = [
    ("id,prompt\nok,x\nmissing,\n", "prompt", "missing"),
    (f"id,prompt\nok,x\nlong,{'星' * 2001}\n", "prompt", "long"),
    ("id,prompt,seed\nok,x,1\nneg,x,-1\n", "seed", "neg"),
    ("id,prompt,seed\nok,x,1\nfrac,x,1.5\n", "seed", "frac"),
    ("id,prompt,seed\nok,x,1\nword,x,abc\n", "seed", "word"),
    ("id,prompt,duration\nok,x,5\nneg,x,-2\n", "duration", "neg"),
    ("id,prompt,duration\nok,x,5\nhuge,x,601\n", "duration", "huge"),
    ("id,prompt,duration\nok,x,5\nword,x,five\n", "duration", "word"),
    ("id,prompt\nok,x\nbad id!,x\n", "id", "bad id!"),
    ("id,prompt\nok,x\n../etc,x\n", "id", "../etc"),
    ("id,prompt,require_approval\nok,x,yes\nmaybe,x,maybe\n", "require_approval", "maybe"),
    ("id,prompt,image\nok,x,config/a.png\ntrav,x,../secret.png\n", "image", "trav"),
    ("id,prompt,image\nok,x,config/a.png\nabs,x,/etc/passwd\n", "image", "abs"),
    ("id,prompt,language\nok,x,zh\nlang,x,klingon!\n", "language", "lang"),
    ("id,prompt\nok,x\nwide,x,extra,cells\n", "(row)", None),
]


@pytest.mark.parametrize(("text", "field", "bad_id"), BAD_ROWS)
def test_each_bad_row_is_rejected_alone_with_row_id_field_and_reason(tmp_path, text, field, bad_id):
    result = ingest(write(tmp_path, "m.csv", text))
    assert [i.id for i in result.items] == ["ok"]
    (rejection,) = result.summary.rejected
    assert rejection.row == 3
    assert rejection.field == field
    assert rejection.id == bad_id
    assert rejection.error
    assert result.summary.rejected_rows == 1


def test_a_row_with_several_problems_lists_each(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "id,prompt,seed,duration\nx,,-1,abc\n"))
    assert sorted(r.field for r in result.summary.rejected) == ["duration", "prompt", "seed"]
    assert result.summary.rejected_rows == 1


def test_rejections_name_the_chinese_column(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "提示词,种子\nx,负一\n"))
    (rejection,) = result.summary.rejected
    assert rejection.field == "seed"
    assert "'种子'" in rejection.error and "负一" in rejection.error


def test_duplicate_id_rejects_the_later_row(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "id,prompt\na,first\nb,x\na,second\n"))
    assert [i.prompt for i in result.items] == ["first", "x"]
    (rejection,) = result.summary.rejected
    assert (rejection.row, rejection.id, rejection.field) == (4, "a", "id")
    assert "row 2" in rejection.error


def test_identical_rows_without_ids_are_duplicates_not_silently_merged(tmp_path):
    result = ingest(write(tmp_path, "m.csv", "prompt,seed\nx,1\nx,1\nx,2\n"))
    assert len(result.items) == 2
    assert reasons(result) == [(3, result.items[0].id, "id")]


def test_derived_ids_are_stable_across_encodings_and_runs(tmp_path):
    a = ingest(write(tmp_path, "a.csv", "prompt,seed\n星空,1\n", "utf-8")).items[0].id
    b = ingest(write(tmp_path, "b.csv", "prompt,seed\n星空,1\n", "gbk")).items[0].id
    c = ingest(write(tmp_path, "c.json", '[{"prompt": "星空", "seed": "1"}]')).items[0].id
    assert a == b == c == derive_id({"prompt": "星空", "seed": "1"})


def test_excel_number_formats_are_accepted_when_exact(tmp_path):
    result = ingest(write(tmp_path, "m.csv", 'prompt,seed\na,12345.0\nb,1.2E+05\nc,"1,000"\n'))
    assert [i.seed for i in result.items] == [12345, 120000, 1000]


def test_operator_limits_apply(tmp_path):
    limits = Limits(max_prompt_chars=10, max_duration_s=30)
    text = "id,prompt,duration\nok,short,5\nlong,this prompt is too long,5\nslow,x,40\n"
    result = ingest(write(tmp_path, "m.csv", text), limits=limits)
    assert [i.id for i in result.items] == ["ok"]
    errors = {r.id: r.error for r in result.summary.rejected}
    assert "WANFLOW_MAX_PROMPT_CHARS" in errors["long"]
    assert "WANFLOW_MAX_DURATION_S" in errors["slow"]


def test_a_non_object_json_item_is_rejected_alone(tmp_path):
    result = ingest(write(tmp_path, "m.json", '[{"prompt": "x"}, "oops", 3, {"prompt": "y"}]'))
    assert len(result.items) == 2
    assert [(r.row, r.field) for r in result.summary.rejected] == [(2, "(row)"), (3, "(row)")]


# --- unreadable files --------------------------------------------------------------------------
UNREADABLE = [
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"\n\n", "blank"),
    ("header-only.csv", b"id,prompt\n", "no items"),
    ("no-prompt.csv", b"id,title\na,b\n", "no prompt column"),
    ("twice.csv", "prompt,提示词\na,b\n".encode(), "both mean 'prompt'"),
    ("binary.csv", b"prompt\n\x00\x01\x02\x03", "binary"),
    ("book.csv", b"PK\x03\x04\x14\x00\x06\x00rest of an xlsx", "xlsx"),
    ("latin.csv", b"prompt\n\xff\xfe\xfa\xfb\x80\x80\n", "neither UTF-8 nor GBK"),
    ("truncated.json", b'[{"prompt": "x"}, {"prompt": "y', "truncated JSON"),
    ("unclosed.json", b'[{"prompt": "x"},\n {"prompt": "y"}\n', "never closed"),
    ("comma.json", b'[{"prompt": "x"},]', "trailing comma"),
    ("scalar.json", b'"just a string"', "array of items"),
    ("noitems.json", b'{"things": []}', "'items' array"),
    ("badopt.json", b'{"items": [{"prompt": "x"}], "callback_url": "not a url"}', "callback_url"),
    ("baddefault.json", b'{"items": [{"prompt": "x"}], "defaults": {"colour": "red"}}', "colour"),
    ("emptyarray.json", b"[]", "no items"),
]


@pytest.mark.parametrize(("name", "data", "message"), UNREADABLE)
def test_unreadable_files_are_one_clear_error(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ManifestError, match=message):
        ingest(path)


def test_a_callback_url_with_credentials_is_refused_without_showing_them(tmp_path):
    manifest = {"items": [{"prompt": "x"}], "callback_url": "https://bot:hunter2@hooks.example/x"}
    path = write(tmp_path, "creds.json", json.dumps(manifest))
    with pytest.raises(ManifestError, match="credentials in a callback URL") as caught:
        ingest(path)
    assert "hunter2" not in str(caught.value)


def test_json_error_positions_are_absolute(tmp_path):
    items = ",\n".join(json.dumps({"prompt": f"p{i}"}) for i in range(5000))
    path = write(tmp_path, "m.json", "[\n" + items + ',\n{"prompt": oops}\n]')
    with pytest.raises(ManifestError) as caught:
        ingest(path)
    assert caught.value.line == 5002
    assert caught.value.column == 12


def test_undecodable_byte_position_is_reported(tmp_path):
    data = b"prompt\n" + b"stars\n" * 3 + b"\xff\xfe\xfa\xfb\x80\x80\n"
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    with pytest.raises(ManifestError, match="offset 25") as caught:
        ingest(path)
    assert caught.value.line == 5


def test_a_few_bad_bytes_in_a_utf8_file_reject_their_rows_only(tmp_path):
    data = "prompt\n星空\n海怪\n猎人\n".encode() + b"\xff\xff\xff\n"
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    result = ingest(path)
    assert result.summary.encoding == "utf-8"
    assert [i.prompt for i in result.items] == ["星空", "海怪", "猎人"]
    (rejection,) = result.summary.rejected
    assert (rejection.row, rejection.field) == (5, "prompt")
    assert "byte 0xFF" in rejection.error and "not UTF-8" in rejection.error
    assert any("offset 28 (line 5)" in w for w in result.summary.warnings)


def test_file_size_limit(tmp_path):
    path = write(tmp_path, "m.csv", "prompt\n" + "x\n" * 1000)
    with pytest.raises(ManifestError, match="WANFLOW_MAX_MANIFEST_MB"):
        ingest(path, max_bytes=100)


def test_item_count_limit(tmp_path):
    path = write(tmp_path, "m.csv", "prompt\n" + "".join(f"x{i}\n" for i in range(20)))
    with pytest.raises(ManifestError, match="WANFLOW_MAX_ITEMS"):
        ingest(path, max_items=10)


# --- scale -------------------------------------------------------------------------------------
def test_a_100k_row_csv_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id,title,prompt,narration,style,duration,seed,tags\n")
        for i in range(100_000):
            seed = -1 if i % 10_000 == 0 else i
            f.write(f'i{i},标题{i},海怪从深海升起 {i},旁白第{i}句。,油画,5,{seed},"a,b"\n')
    tracemalloc.start()
    result = ingest(path, keep_items=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.summary.rows == 100_000
    assert result.summary.valid == 99_990
    assert [r.row for r in result.summary.rejected] == [i + 2 for i in range(0, 100_000, 10_000)]
    # Holding 100,000 Items costs well over 100 MB; streaming must stay far below that.
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# --- vocabulary (the prompt stage's row check) -------------------------------------------------
def test_unknown_control_values_are_row_errors_listing_accepted_values(tmp_path):
    from generation.catalogue import build_catalogue
    from wanflow.settings import Settings

    text = (
        "编号,提示词,风格,运镜,景别,预设,画幅\n"
        "ok,海怪从深海升起,Oil Painting,镜头推进,远景,超清,竖屏\n"
        "bad,星空,油彩,飞天,远景,最好的,横屏\n"
        "en,stars,watercolor,orbit,wide shot,draft,landscape\n"
    )
    check = build_catalogue(Settings()).check_item
    result = ingest(write(tmp_path, "m.csv", text), check=check)
    assert [i.id for i in result.items] == ["ok", "en"]
    assert sorted(reasons(result)) == [
        (3, "bad", "camera"),
        (3, "bad", "preset"),
        (3, "bad", "style"),
    ]
    errors = {r.field: r.error for r in result.summary.rejected}
    assert "油画/oil painting" in errors["style"] and "(column '风格')" in errors["style"]
    assert "推进/push in" in errors["camera"]
    assert "草稿/draft" in errors["preset"]
    assert result.summary.rejected_rows == 1
