"""Manifest validation speed and memory, and `wanflow validate --json` against a hand-written
baseline.

First rows/s and peak traced memory for a large CSV, streamed (what ``validate`` does) and with
every item kept (what a run does). Then ``wanflow validate --json``'s work, in process (the CLI's
start-up is left out): ingestion under the settings' limits with the prompt stage's vocabulary
and preset checks, and the JSON it prints; against what a user would write by hand for the same
file: ``csv.DictReader`` and one pydantic v2 model per row (the same limits, the style, camera,
shot size and preset values as ``Literal``s), its errors printed as JSON too. The two run in turn
(``--repeats`` each, see benchmarks/compare.py) and must reject the same rows.

The manifest is a content team's: Chinese headers, varied styles, camera moves, shot sizes and
presets, and one row in 250 wrong (an unknown style, or a duration that is no number).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ingest.py [ROWS] [--repeats 3] [--json]
(ROWS defaults to 100,000.)
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Literal

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wanflow.ingest import ingest

STYLES = ("油画", "水墨画", "写实", "二次元", "水彩画", "像素艺术")
CAMERAS = ("推进", "拉远", "固定镜头", "左移", "右移", "上摇")
SHOT_SIZES = ("远景", "全景", "中景", "近景", "特写")
PRESETS = ("draft", "standard", "high")
BAD_EVERY = 250  # one row in this many is wrong


def write_manifest(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("编号,标题,提示词,旁白,风格,时长(秒),种子,标签,运镜,景别,预设\n")
        for i in range(rows):
            style = STYLES[i % len(STYLES)]
            duration = "5"
            if i % BAD_EVERY == BAD_EVERY - 1:
                if i // BAD_EVERY % 2:
                    style = "赛璐璐风"
                else:
                    duration = "五秒"
            f.write(
                f"i{i},标题{i},海怪从深海升起，巨口触须缓缓张开 {i},"
                f"很久以前，海怪守护着星空下的海。第{i}个故事。,{style},{duration},{i},"
                f'"神话,海怪",{CAMERAS[i % 5]},{SHOT_SIZES[i % 4]},{PRESETS[i % 3]}\n'
            )


# --- the hand-written baseline: csv + one pydantic model ------------------------------------
class Row(BaseModel):
    """One manifest row as a user would model it for this file."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    id: str = Field(alias="编号", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    title: str | None = Field(None, alias="标题", max_length=200)
    prompt: str = Field(alias="提示词", min_length=1, max_length=2000)
    narration: str | None = Field(None, alias="旁白", max_length=10_000)
    style: Literal[STYLES] | None = Field(None, alias="风格")  # type: ignore[valid-type]
    duration: float | None = Field(None, alias="时长(秒)", gt=0, le=600)
    seed: int | None = Field(None, alias="种子", ge=0)
    tags: list[str] = Field(default_factory=list, alias="标签")
    camera: Literal[CAMERAS] | None = Field(None, alias="运镜")  # type: ignore[valid-type]
    shot_size: Literal[SHOT_SIZES] | None = Field(None, alias="景别")  # type: ignore[valid-type]
    preset: Literal[PRESETS] | None = Field(None, alias="预设")  # type: ignore[valid-type]

    @field_validator("tags", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value


def baseline_validate(path: Path) -> dict:
    """What ``wanflow validate --json`` reports, the way a user would get it by hand."""
    valid, rows, rejected = 0, 0, []
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):
            rows += 1
            try:
                Row.model_validate({k: v for k, v in row.items() if v != ""})
            except ValidationError as exc:
                for e in exc.errors():
                    field = ".".join(str(p) for p in e["loc"])
                    rejected.append({"row": number, "field": field, "error": e["msg"]})
                continue
            valid += 1
    payload = {"file": str(path), "valid": valid, "rows": rows, "rejected": rejected}
    print(json.dumps(payload, ensure_ascii=False), file=_SINK)
    return payload


def wanflow_validate(path: Path) -> dict:
    """``wanflow validate --json``'s work (cli/main.py), less the CLI's start-up."""
    from generation.catalogue import build_catalogue
    from wanflow.ingest import ingest_with_settings
    from wanflow.settings import Settings

    settings = Settings()
    check = build_catalogue(settings).check_item
    summary = ingest_with_settings(path, settings, keep_items=False, check=check).summary
    payload = {"file": str(path), **summary.as_validation()}
    print(json.dumps(payload, ensure_ascii=False), file=_SINK)
    return payload


class _Discard:
    def write(self, text: str) -> int:
        return len(text)


_SINK = _Discard()


def memory_figures(path: Path, rows: int) -> None:
    size = path.stat().st_size
    for keep in (False, True):
        start = time.perf_counter()
        result = ingest(path, keep_items=keep)
        seconds = time.perf_counter() - start
        # A second pass under tracemalloc for memory (tracing slows Python about twofold).
        tracemalloc.start()
        ingest(path, keep_items=keep)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mode = "validate (stream, count only)" if keep is False else "ingest (keep all items)"
        print(
            f"{mode:32s} {rows:>8} rows  {size / 2**20:6.1f} MiB  {seconds:6.2f} s  "
            f"{rows / seconds:>9.0f} rows/s  peak traced {peak / 2**20:7.1f} MiB  "
            f"valid {result.summary.valid}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, in turn")
    parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args = parser.parse_args()

    from benchmarks.compare import alternate, report

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_manifest(path, args.rows)
        memory_figures(path, args.rows)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"process peak RSS {rss:.0f} MiB")

        ours, theirs = wanflow_validate(path), baseline_validate(path)
        rejected = {r["row"] for r in ours["rejected"]}
        if rejected != {r["row"] for r in theirs["rejected"]} or ours["valid"] != theirs["valid"]:
            raise SystemExit("wanflow and the baseline disagree on which rows are valid")
        print(
            f"wanflow validate --json against csv + pydantic: {args.rows} rows, "
            f"{len(rejected)} rejected by both"
        )
        comparison = alternate(
            lambda: wanflow_validate(path), lambda: baseline_validate(path), args.repeats
        )
    report(
        comparison,
        args.json,
        unit=lambda s: f"{args.rows / s:>9.0f} rows/s",
        benchmark="ingest",
        rows=args.rows,
        rejected=len(rejected),
    )


if __name__ == "__main__":
    main()
