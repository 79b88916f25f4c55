"""Manifest ingestion speed and memory: rows/s and peak traced memory for a large CSV.

Usage: .venv/bin/python benchmarks/ingest.py [ROWS]   (default 100,000)
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from wanflow.ingest import ingest


def write_manifest(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("编号,标题,提示词,旁白,风格,时长(秒),种子,标签,运镜,景别\n")
        for i in range(rows):
            f.write(
                f"i{i},标题{i},海怪从深海升起，巨口触须缓缓张开 {i},"
                f'很久以前，海怪守护着星空下的海。第{i}个故事。,油画,5,{i},"神话,海怪",推进,远景\n'
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        write_manifest(path, rows)
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
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
