"""Word spans: jieba's dictionary, private extra words, traditional text, determinism, quiet."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading

import jieba

from wanflow.segment import segmenter, simplified, spans


def words(text: str, found: list[tuple[int, int]]) -> list[str]:
    return [text[start:end] for start, end in found]


def test_spans_cover_the_text_in_order_whatever_it_holds():
    text = "海怪robot从深海升起，3D卡通 星空！😀\r\n银河"
    found = spans(text)
    assert "".join(words(text, found)) == text
    assert all(a[1] == b[0] for a, b in itertools.pairwise(found))
    assert words(text, found)[:4] == ["海怪", "robot", "从", "深海"]
    assert spans("") == []


def test_dictionary_words_stay_whole():
    assert words("天蝎座亮起", spans("天蝎座亮起"))[0] == "天蝎座"
    assert words("银河系中心", spans("银河系中心")) == ["银河系", "中心"]


def test_extra_words_and_their_least_frequency():
    assert words("草原狼", spans("草原狼")) == ["草原", "狼"]
    assert words("草原狼", segmenter(["草原狼"]).spans("草原狼")) == ["草原狼"]
    # jieba's own count for 天蝎 (3) loses 当天蝎 to 当天; a higher least frequency wins it.
    text = "当天蝎升起"
    assert words(text, segmenter(["天蝎"]).spans(text)) == ["当天", "蝎", "升起"]
    assert words(text, segmenter({"天蝎": 5000}).spans(text)) == ["当", "天蝎", "升起"]


def test_extra_words_stay_private():
    segmenter(["草原狼"]).spans("草原狼")
    assert words("草原狼", spans("草原狼")) == ["草原", "狼"]  # the plain segmenter is untouched
    assert "草原狼" not in jieba.dt.FREQ  # and so is jieba's global one


def test_segmenters_are_shared_per_word_set():
    assert segmenter(["草原狼", "神仙鱼"]) is segmenter(("神仙鱼", "草原狼"))
    assert segmenter(["草原狼"]) is segmenter({"草原狼": 0})
    assert segmenter(["草原狼"]) is not segmenter({"草原狼": 5000})


def test_concurrent_first_use_shares_one_segmenter():
    words_ = {"灯笼鱼": 0, "月亮门": 7}  # a word set no other test uses
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(segmenter(words_))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(s is got[0] for s in got)


def test_traditional_text_segments_like_simplified():
    assert simplified("森林公園裡的天蠍座") == "森林公园里的天蝎座"
    assert spans("森林公園裡的天蠍座") == spans("森林公园里的天蝎座")
    assert words("森林公園", spans("森林公園")) == ["森林公園"]
    text = "一頭草原狼"
    assert words(text, segmenter(["草原狼"]).spans(text))[-1] == "草原狼"


def test_same_spans_in_a_fresh_process_without_reading_or_writing_jieba_cache(tmp_path):
    """jieba reads and writes ``jieba.cache`` in the temp directory; a planted one is ignored,
    none is written, and nothing reaches stderr."""
    cache = tmp_path / "jieba.cache"
    cache.write_bytes(b"not a marshal dump")
    text = "夏夜南方的低空，天蝎座亮起。当天蝎升起，海怪从深海升起"
    code = (
        "import json, sys; from wanflow.segment import segmenter; "
        "print(json.dumps(segmenter({'天蝎': 5000, '海怪': 5000}).spans(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, text],
        capture_output=True,
        text=True,
        env={"TMPDIR": str(tmp_path), "PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    assert done.stderr == ""
    fresh = [tuple(span) for span in json.loads(done.stdout)]
    assert fresh == segmenter({"天蝎": 5000, "海怪": 5000}).spans(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jieba.cache"]
    assert cache.read_bytes() == b"not a marshal dump"
