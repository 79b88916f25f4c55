"""Two processes publishing different versions of one item id on one day, against the real S3
server: exactly one version reaches published/, whole; the other run is told it lost and wrote
nothing there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date

from tests.conftest import ROOT
from wanflow.publication import FILES, METADATA

DAY = date(2026, 12, 4)

# One publishing run per process: the publish task's own code, with its Prefect logger swapped
# for a plain one (no flow run here). It publishes item-<n> when go-<n> appears.
_WORKER = """
import json, logging, sys, time
from datetime import UTC, date, datetime
from pathlib import Path

import tasks.publish as publish
from wanflow.publication import FILES
from wanflow.settings import current_settings

publish.get_run_logger = lambda: logging.getLogger("publish-race")
folder, run, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
settings = current_settings()
(folder / f"ready-{run}").write_text("")
for n in range(rounds):
    while not (folder / f"go-{n}").exists():
        time.sleep(0.005)
    sources = {name: f"work/{run}/item-{n}/final/{name}" for name in FILES}
    document = {"fingerprint": f"print-{run}-{n}", "run_id": run, "manifest": "m.csv",
                "published_at": datetime.now(UTC).isoformat()}
    try:
        publish.publish_item.fn(date(2026, 12, 4), f"item-{n}", sources, document, settings)
        result = {"won": True}
    except publish.AlreadyPublished as exc:
        result = {"won": False, "error": str(exc)}
    (folder / f"result-{n}-{run}.tmp").write_text(json.dumps(result))
    (folder / f"result-{n}-{run}.tmp").rename(folder / f"result-{n}-{run}")
"""


def _wait_for(path, deadline_s: float = 180.0):
    end = time.monotonic() + deadline_s
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.02)


def test_racing_versions_publish_one_whole_item_and_the_loser_writes_nothing(
    wanflow_env, storage, tmp_path
):
    runs, rounds = ("r1", "r2"), 6
    for run in runs:
        for n in range(rounds):
            for name in FILES:
                storage.put_bytes(f"work/{run}/item-{n}/final/{name}", f"{run}:{name}".encode())
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), run, str(rounds)], cwd=ROOT)
        for run in runs
    ]
    try:
        for run in runs:
            _wait_for(tmp_path / f"ready-{run}")
        for n in range(rounds):
            (tmp_path / f"go-{n}").write_text("")  # both runs released together
            results = {}
            for run in runs:
                _wait_for(tmp_path / f"result-{n}-{run}")
                results[run] = json.loads((tmp_path / f"result-{n}-{run}").read_text())
            assert sorted(r["won"] for r in results.values()) == [False, True], results
            (winner,) = [run for run, r in results.items() if r["won"]]
            (loser,) = [run for run, r in results.items() if not r["won"]]
            prefix = f"published/{DAY.isoformat()}/item-{n}/"
            found = {o.key.removeprefix(prefix) for o in storage.list(prefix)}
            assert found == {*FILES, METADATA}
            for name in FILES:
                assert storage.get_bytes(prefix + name) == f"{winner}:{name}".encode(), (
                    f"item-{n}: {name} is not {winner}'s"
                )
            meta = json.loads(storage.get_bytes(prefix + METADATA))
            assert (meta["run_id"], meta["fingerprint"]) == (winner, f"print-{winner}-{n}")
            assert f"nothing of run {loser} was written" in results[loser]["error"]
    finally:
        for n in range(rounds):  # let the workers finish whatever happened here
            (tmp_path / f"go-{n}").write_text("")
        for worker in workers:
            worker.wait(timeout=120)
