"""The CLI as people and scripts run it: the installed `wanflow` console script."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import EXAMPLES, WANFLOW, make_storage


def wanflow(*args, env=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WANFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def test_help_everywhere():
    for args in (
        [],
        ["validate"],
        ["submit"],
        ["run"],
        ["storage"],
        ["storage", "serve"],
        ["storage", "ls"],
        ["expand"],
        ["screen"],
        ["generate"],
        ["review"],
    ):
        result = wanflow(*args, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_validate_json_all_valid_exits_0(tmp_path):
    result = wanflow("validate", str(EXAMPLES / "constellations.csv"), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert payload["valid"] == 4
    assert payload["rejected"] == []
    assert payload["warnings"] == []
    assert payload["encoding"] == "utf-8"


def test_validate_json_with_rejected_rows_exits_1(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("编号,提示词,种子,备注\na,星空,1,x\nb,,2,y\nc,海怪,-3,z\n".encode("gbk"))
    result = wanflow("validate", str(path), "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] == 1
    assert payload["encoding"] == "gbk"
    assert [(r["row"], r["id"], r["field"]) for r in payload["rejected"]] == [
        (3, "b", "prompt"),
        (4, "c", "seed"),
    ]
    assert all(set(r) == {"row", "id", "field", "error"} for r in payload["rejected"])
    assert any("备注" in w for w in payload["warnings"])


def test_validate_unreadable_exits_2_with_one_json_object(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[{"prompt": "x"}, {"prompt": ')
    result = wanflow("validate", str(path), "--json")
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] == 0
    assert "truncated JSON" in payload["error"]
    assert payload["line"] == 1


def test_validate_human_output_lists_rejections(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,prompt,seed\na,x,1\nb,y,minus\n")
    result = wanflow("validate", str(path))
    assert result.returncode == 1
    assert "1 valid, 1 rejected" in result.stdout
    assert "minus" in result.stdout


DEEP_JSON = "[" * 100_000 + "]" * 100_000


def test_validate_json_nested_too_deep_exits_2_with_one_json_object(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(DEEP_JSON)
    result = wanflow("validate", str(path), "--json")
    assert result.returncode == 2, result.stderr
    payload = json.loads(result.stdout)
    assert "JSON nested deeper than 64 levels" in payload["error"]
    assert (payload["line"], payload["column"]) == (1, 2)
    assert "Traceback" not in result.stderr


def test_submit_and_expand_refuse_json_nested_too_deep_without_a_traceback(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(DEEP_JSON)
    submitted = wanflow("submit", str(path))
    assert submitted.returncode != 0
    assert "nested deeper than 64" in submitted.stderr and "Traceback" not in submitted.stderr
    expanded = wanflow("expand", str(path), "--json")
    assert expanded.returncode == 2
    assert "nested deeper than 64" in expanded.stderr and "Traceback" not in expanded.stderr
    assert expanded.stdout == ""


def test_validate_prints_manifest_text_as_text_not_markup(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("prompt,[/x]\n[bold]stars,1\n[/y],2\n")
    result = wanflow("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "unknown column '[/x]' ignored" in result.stdout
    expanded = wanflow("expand", str(path))
    assert expanded.returncode == 0, expanded.stderr
    assert "prompt: [bold]stars" in expanded.stdout and "prompt: [/y]" in expanded.stdout


def test_validate_json_rejects_a_control_character_deep_in_the_file(tmp_path):
    path = tmp_path / "m.csv"
    rows = "".join(f"i{n},stars {n}\n" for n in range(2000))
    path.write_text("id,提示词\n" + rows + "late,bad\x00one\n")
    result = wanflow("validate", str(path), "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["valid"] == 2000
    (rejection,) = payload["rejected"]
    assert (rejection["row"], rejection["id"], rejection["field"]) == (2002, "late", "prompt")
    assert "column '提示词'" in rejection["error"] and "U+0000 (NUL)" in rejection["error"]


def test_expand_refuses_a_budget_that_is_not_a_positive_number():
    for budget in ("0", "-5", "nan", "inf"):
        result = wanflow("expand", "星空", "--budget", budget)
        assert result.returncode == 2, budget
        assert f"--budget {float(budget)}: use a positive number" in result.stderr


def test_a_name_too_long_for_a_file_is_unreadable_for_validate_and_text_for_expand():
    long = "星" * 1500
    validated = wanflow("validate", long, "--json")
    assert validated.returncode == 2, validated.stderr
    assert json.loads(validated.stdout)["error"].endswith("File name too long")
    expanded = wanflow("expand", long, "--json")
    assert expanded.returncode == 0, expanded.stderr
    assert json.loads(expanded.stdout)["language"] == "zh"


def test_submit_refuses_an_invalid_manifest_unless_forced(wanflow_env, storage, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prompt,seed\na,x,1\nb,y,-1\n")
    refused = wanflow("submit", str(bad))
    assert refused.returncode == 1
    assert "not uploaded" in refused.stderr
    assert not storage.exists("incoming/bad.csv")
    forced = wanflow("submit", str(bad), "--force", "--name", "team/bad.csv")
    assert forced.returncode == 0, forced.stderr
    assert storage.get_bytes("incoming/team/bad.csv") == bad.read_bytes()
    good = wanflow("submit", str(EXAMPLES / "constellations.json"))
    assert good.returncode == 0, good.stderr
    listing = wanflow("storage", "ls", "incoming/", "--json")
    keys = [json.loads(line)["key"] for line in listing.stdout.splitlines()]
    assert keys == ["incoming/constellations.json", "incoming/team/bad.csv"]


def test_submit_refuses_traversal_names(wanflow_env, storage):
    result = wanflow("submit", str(EXAMPLES / "constellations.csv"), "--name", "../reports/x.csv")
    assert result.returncode == 1
    assert "relative path segment" in result.stderr
    assert list(storage.list("")) == []


def test_submit_without_endpoint_says_what_to_set(tmp_path):
    result = wanflow("submit", str(EXAMPLES / "constellations.csv"), cwd=tmp_path)
    assert result.returncode == 2
    assert "WANFLOW_S3_ENDPOINT" in result.stderr


def test_config_masks_secrets(tmp_path):
    result = wanflow("config", env={"WANFLOW_S3_SECRET_KEY": "topsecret-xyz"}, cwd=tmp_path)
    assert result.returncode == 0
    assert "topsecret-xyz" not in result.stdout
    assert json.loads(result.stdout)["s3_secret_key"] == "********"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Starts a command as a terminal does, with Ctrl-C's SIGINT handled by default: a job that a
# non-interactive shell starts in the background (a CI runner's step, `nohup … &`) inherits it
# ignored, and so would the server, which Ctrl-C then never stops.
_AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_storage_serve_requires_credentials_and_stops_cleanly(tmp_path, sig):
    port = _free_port()
    env = {
        **os.environ,
        "WANFLOW_S3_ACCESS_KEY": "serve-test",
        "WANFLOW_S3_SECRET_KEY": "serve-test-secret-123",
    }
    process = subprocess.Popen(
        [
            *_AS_FROM_A_TERMINAL,
            WANFLOW,
            *("storage", "serve", "--data", str(tmp_path / "data"), "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        banner = process.stdout.readline()
        assert f"127.0.0.1:{port}" in banner, banner
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/wanflow/", timeout=10)
        assert caught.value.code == 403

        class Server:
            endpoint = f"127.0.0.1:{port}"
            access_key = "serve-test"
            _secret_key = "serve-test-secret-123"

        store = make_storage(Server, bucket="wanflow")
        store.put_bytes("incoming/x.csv", b"prompt\nx\n")
        assert store.get_bytes("incoming/x.csv") == b"prompt\nx\n"
        started = time.monotonic()
        process.send_signal(sig)
        assert process.wait(30) == 0
        assert time.monotonic() - started < 20
        # Nothing listens any more: weed is gone, not orphaned.
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
    finally:
        if process.poll() is None:
            process.kill()


# --- expand ------------------------------------------------------------------------------------
def test_expand_text_shows_prompt_and_shots_as_json():
    result = wanflow(
        "expand",
        "海怪从深海升起",
        "--set",
        "风格=油画",
        "-s",
        "运镜=推进",
        "-s",
        "narration=海怪从深海升起。巨浪翻滚，闪电划破夜空。",
        "-s",
        "seed=3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    (payload,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert payload["language"] == "zh"
    assert "油画风格" in payload["prompt"] and "镜头推进" in payload["prompt"]
    shots = payload["plan"]["shots"]
    assert [s["narration"] for s in shots] == ["海怪从深海升起。", "巨浪翻滚，闪电划破夜空。"]
    assert all(s["seed"] == 3 and s["num_frames"] % 4 == 1 for s in shots)
    assert payload["plan"]["params"]["preset"] == "standard"


def test_expand_manifest_reports_bad_rows_and_plans_the_rest(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("编号,提示词,风格\na,星空,水彩\nb,星空,油彩\n", encoding="utf-8")
    result = wanflow("expand", str(manifest), "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["item"] for line in result.stdout.splitlines()] == ["a"]
    assert "row 3 (b) style" in result.stderr and "油画/oil painting" in result.stderr


def test_expand_refuses_an_unknown_control_value():
    result = wanflow("expand", "星空", "-s", "camera=飞天")
    assert result.returncode == 2
    assert "unknown camera movement (运镜) '飞天'" in result.stderr


def test_expand_with_a_budget_and_an_operator_lexicon(tmp_path):
    lexicon = tmp_path / "lexicon.toml"
    lexicon.write_text('[zh]\n"星空" = ["紫色的星空"]\n', encoding="utf-8")
    result = wanflow("expand", "星空", "--lexicon", str(lexicon), "--budget", "100000")
    assert result.returncode == 0, result.stderr
    assert "紫色的星空" in result.stdout
    assert "ultra → t2v-a14b 1280x720" in result.stdout


def _screened(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_screen_prints_one_object_per_text_in_order_and_exits_1_when_any_is_blocked():
    result = wanflow("screen", "他想屠 杀村民", "血腥玛丽鸡尾酒", "A therapist eats grapes")
    assert result.returncode == 1, result.stderr
    blocked, cocktail, grapes = _screened(result)
    assert blocked == {
        "text": "他想屠 杀村民",
        "allowed": False,
        "matches": [{"term": "屠杀", "category": "violence", "start": 2, "end": 5}],
    }
    assert cocktail == {"text": "血腥玛丽鸡尾酒", "allowed": True, "matches": []}
    assert grapes["allowed"] is True


def test_screen_exits_0_when_every_text_is_allowed_and_reads_stdin():
    result = wanflow("screen", "-", input="星空下的猎人\nA quiet lake at dawn\n")
    assert result.returncode == 0, result.stderr
    assert [r["text"] for r in _screened(result)] == ["星空下的猎人", "A quiet lake at dawn"]


def test_screen_with_operator_files_and_no_defaults(tmp_path):
    blacklist = tmp_path / "brand.txt"
    blacklist.write_text("# competitor names\n竞品甲\tcustom\nacme\n", encoding="utf-8")
    allowlist = tmp_path / "ok.txt"
    allowlist.write_text("acme labs\n", encoding="utf-8")
    args = ["--blacklist", str(blacklist), "--allowlist", str(allowlist), "--no-defaults"]
    result = wanflow("screen", *args, "竞·品·甲的新品", "ACME rockets", "Acme Labs", "屠杀")
    assert result.returncode == 1, result.stderr
    brand, acme, labs, default_term = _screened(result)
    assert brand["matches"] == [{"term": "竞品甲", "category": "custom", "start": 0, "end": 5}]
    assert acme["matches"][0]["term"] == "acme"
    assert labs["allowed"] is True  # allowlisted phrase
    assert default_term["allowed"] is True  # the shipped lists are off
    with_defaults = wanflow("screen", "--blacklist", str(blacklist), "屠杀", "acme")
    assert [r["allowed"] for r in _screened(with_defaults)] == [False, False]


def test_screen_names_the_bad_line_of_a_list_and_exits_2(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("fine\nterm\tno-such-category\n", encoding="utf-8")
    result = wanflow("screen", "--blacklist", str(bad), "text")
    assert result.returncode == 2
    assert f"{bad}:2" in result.stderr and "no-such-category" in result.stderr
    assert result.stdout == ""
    missing = wanflow("screen", "--blacklist", str(tmp_path / "nope.txt"), "text")
    assert missing.returncode == 2 and "nope.txt" in missing.stderr


def test_review_a_local_video(tmp_path):
    import numpy as np

    from wanflow.video import write_mp4

    video = tmp_path / "clip.mp4"
    frames = np.zeros((32, 48, 64, 3), np.uint8)
    frames[16:] = (200, 40, 40)  # a cut at 1 s
    write_mp4(frames, video, 16)
    sheet = tmp_path / "sheet.jpg"
    result = wanflow("review", str(video), "--json", "--sheet", str(sheet))
    payload = json.loads(result.stdout)
    # No OpenCLIP weights here: the review fails closed and asks for a person.
    assert result.returncode == 1 and payload["verdict"] == "review"
    assert any("no OpenCLIP weights configured" in f for f in payload["failures"])
    assert payload["frames"] >= 3 and "nudity" not in payload["scores"]  # nothing detected
    assert sheet.read_bytes()[:3] == b"\xff\xd8\xff"
    unreadable = tmp_path / "not-a-video.mp4"
    unreadable.write_text("hello")
    assert wanflow("review", str(unreadable)).returncode == 2
