"""The pipeline's CPU-side costs: pre-GPU stages at scale, and Prefect's overhead per item.

1. Pre-GPU stages at scale. A generated CSV manifest of ``--scale`` rows (default 10,000):
   Chinese prompts, most with a narration of 1–5 sentences, control values drawn from the
   shipped vocabulary, a mix of presets, durations, tags and approval flags; about 1 % of rows
   carry a blacklisted term (blocked by screening) and 0.5 % an unusable value (rejected at
   ingestion). It goes through the functions the flow's tasks run, in a fresh subprocess:
   config (``catalogue_for`` + ``screener_for``: the shipped lexicon, presets and lists),
   ingest (``ingest_with_settings`` with the catalogue's row check, from a local file: the S3
   download is not counted), expand, screen and plan (the ``.fn`` of ``expand_prompts``,
   ``screen_text`` and ``plan_shots``, with the run logger swapped for a plain one). Writing
   each plan to the bucket (``write_plans``, one PUT per item) is not part of it. The manifest
   is written by the parent process, so nothing the stages load is loaded before they start.
   Memory is the subprocess's resident set: its high-water mark (VmHWM) is reset after the
   imports (``/proc/self/clear_refs``), so the peak printed is the stages' own: peak RSS during
   the stages minus RSS before them. Targets: under 60 s and under 1 GiB.

2. Orchestration overhead on the tiny model. ``--items`` short items (one narrated shot of 2 s
   each) through ``flows.produce_manifest.produce_manifest`` in this process, against a real
   local S3 server (``LocalS3Server``) and a Prefect API (``prefect_test_harness``: a temporary
   SQLite database behind a server subprocess), with the tiny random-weight models on the CPU
   and ``WANFLOW_AUTO_APPROVE`` on so that held items go on to compose and publish. Other
   ``WANFLOW_*`` variables are cleared. A 1-item warm-up run goes first (imports, the tiny model
   build and load, NudeNet's session, the Prefect client) and is printed but not counted; its
   item differs, so nothing of it is reused by the measured run.

   Work versus overhead, for the measured run:
   - flow wall: the ``produce_manifest(...)`` call, from call to return;
   - work: the time spent inside the task functions (every Prefect ``Task`` found in the
     ``tasks.*`` and ``flows.*`` modules has its ``.fn`` wrapped by a timer, which the task
     engine calls inside the task run): S3 reads and writes, speech synthesis, rendering,
     review, composing, publishing. Prefect artifact calls made from inside a task (the progress
     bar of ``generate-clip``) are taken out of work: they are Prefect bookkeeping. A task
     called inside another task is counted once, in the outer one (there are none today; the
     count is printed);
   - overhead = flow wall − work: creating and finishing the flow run, the ``generate-shots``
     subflow run and every task run (state changes through the API, parameter hashing, cache
     keys, result handling, the run's logs), the run's artifacts (progress, table, markdown),
     and the flow's own Python between tasks (building the report, retiming plans, publication
     metadata), which is not Prefect's but small and is not separated out. The figure is thus an
     upper bound on Prefect's cost. Overhead per item = overhead / items.
   Each stage of ``report.stages`` (whatever stages the flow has) is printed with its wall time,
   the task work inside it and the difference; the work is attributed to the stage open at the
   time by wrapping the flow module's ``_stage`` (when it has one). The report's own timers
   (clips' ``load_s`` + ``render_s``) are printed beside generate-clip's work: they also hold
   its progress-artifact calls, so they read a little higher. Where the overhead goes is split
   exactly, by also timing ``Task.__call__`` and ``Flow.__call__``: per task, its runs less its
   function ("engine": creating the run, state changes, tag concurrency slots, results, logs);
   per flow, its run less the task runs and subflows it called (the flow's start and finish,
   and its own code between tasks); and the artifact calls. Target: under 1 s per item.

Timings are wall-clock and noisy on a shared machine. Usage:

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/pipeline.py [--items 20] [--scale 10000] \
        [--skip-flow] [--skip-scale] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import functools
import gc
import inspect
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])

SEED = 20261123
MiB = 2**20
SCALE_TARGET_S = 60.0
SCALE_TARGET_BYTES = 2**30
OVERHEAD_TARGET_S = 1.0  # per item

HEADER = [
    "编号",
    "标题",
    "提示词",
    "旁白",
    "风格",
    "风格强度",
    "预设",
    "时长(秒)",
    "种子",
    "运镜",
    "景别",
    "光源",
    "光线",
    "色调",
    "情绪",
    "标签",
    "需要审核",
]
CONTROLS = {  # column → vocabulary control, each filled in about half the rows
    "运镜": "camera",
    "景别": "shot_size",
    "光源": "light_source",
    "光线": "light_type",
    "色调": "colour_tone",
    "情绪": "emotion",
}
SUBJECTS = (
    "猎人俄里翁|一只橘猫|年轻的宇航员|古代侠客|巨大的天蝎|牛郎和织女|白色的飞马|老渔夫|机器人"
    "|一群白鹭"
)
ACTIONS = (
    "在星空下追逐|缓缓升起|凝视远方|翩翩起舞|穿过森林|跃出海面|弹奏古琴|在街头漫步|点亮灯笼"
    "|迎风飞翔"
)
SCENES = (
    "月光下的竹林|银河两岸|金色麦田|雪山之巅|深海|古镇小巷|星空下的草原|樱花盛开的庭院|沙漠绿洲"
    "|黄昏的海边"
)
SENTENCES = (
    "俄里翁是最勇敢的猎人。|他夸口说能猎尽天下野兽。|大地女神派出一只巨蝎。|从此猎人与天蝎永隔星空两端。"
    "|夏夜南方的低空，天蝎座亮起红色的心宿二。|当天蝎升起，猎户便悄悄沉入西方。|织女是天帝的孙女。"
    "|牛郎是人间的放牛郎。|王母用发簪划出一道银河。|每年七夕，喜鹊搭起鹊桥。|北斗七星像一把勺子。"
    "|勺柄指向的方向随四季变化。|飞马从海浪的泡沫中诞生。|宙斯把它放在了星空之中。|秋夜，它仍在天上奔驰。"
)
TAGS = "神话|星空|希腊神话|中国神话|七夕|北斗|猎户座|天蝎座|童话|夜空"


def _pool(text: str) -> list[str]:
    return text.split("|")


def scale_rows(count: int, seed: int = SEED) -> tuple[list[list[str]], dict[str, int]]:
    """``count`` manifest rows, and how many were planted to be blocked or rejected."""
    from generation.presets import default_presets
    from generation.vocabulary import default_vocabulary
    from moderation.lists import default_blacklist

    rng = random.Random(seed)
    vocabulary = default_vocabulary().controls
    values = {
        column: [t.zh for t in vocabulary[control].terms.values()]
        for column, control in CONTROLS.items()
    }
    styles = [t.zh for t in vocabulary["style"].terms.values()]
    intensities = [t.zh for t in vocabulary["style_intensity"].terms.values()]
    presets = [*default_presets().order, "fast", "", ""]
    terms = [t.text for t in default_blacklist() if not t.text.isascii()]
    subjects, actions, scenes = _pool(SUBJECTS), _pool(ACTIONS), _pool(SCENES)
    sentences, tags = _pool(SENTENCES), _pool(TAGS)
    planted = {"blocked": 0, "rejected": 0}
    rows = []
    for i in range(count):
        prompt = rng.choice(subjects) + rng.choice(actions) + "，" + rng.choice(scenes)
        narration = "".join(rng.sample(sentences, rng.randint(1, 5))) if rng.random() < 0.85 else ""
        style = rng.choice(styles) if rng.random() < 0.7 else ""
        seed_value = str(i)
        roll = rng.random()
        if roll < 0.01:
            prompt += "，" + rng.choice(terms)
            planted["blocked"] += 1
        elif roll < 0.015:
            style, seed_value = "油彩", "-3"  # not in the vocabulary, and a negative seed
            planted["rejected"] += 1
        row = {
            "编号": f"s{i:06d}",
            "标题": f"星空故事{i}",
            "提示词": prompt,
            "旁白": narration,
            "风格": style,
            "风格强度": rng.choice(intensities) if style and rng.random() < 0.5 else "",
            "预设": rng.choice(presets),
            "时长(秒)": str(rng.choice((5, 8, 10, 12, 15, 20, 30))) if rng.random() < 0.8 else "",
            "种子": seed_value,
            "标签": ",".join(rng.sample(tags, rng.randint(1, 2))),
            "需要审核": "是" if rng.random() < 0.1 else "否",
        }
        for column, choices in values.items():
            row[column] = rng.choice(choices) if rng.random() < 0.5 else ""
        rows.append([row[c] for c in HEADER])
    return rows, planted


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- 1. pre-GPU stages at scale (in a fresh subprocess) ---------------------------------------
def _status_kib(name: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{name}:\s+(\d+) kB", text, re.M).group(1))


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") <= _status_kib("VmRSS") + 1024


def scale_worker(path: Path) -> dict:
    """Runs in the subprocess on a manifest written by the parent (so that nothing the stages
    load is loaded, or cached, before they start); returns the figures."""
    import logging

    started = time.perf_counter()
    import tasks.prompts as prompts
    from tasks.prompts import OperatorConfig, catalogue_for, screener_for
    from wanflow.ingest import ingest_with_settings
    from wanflow.settings import get_settings

    # The tasks' .fn run outside a flow run: give them a plain logger instead of the run's.
    prompts.get_run_logger = lambda: logging.getLogger("wanflow.benchmark")
    settings = get_settings()
    imports_s = time.perf_counter() - started
    gc.collect()
    base_kib = _status_kib("VmRSS")
    reset = _reset_peak()
    seconds: dict[str, float] = {}

    @contextmanager
    def stage(name: str):
        start = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - start

    with stage("config"):
        config = OperatorConfig()
        catalogue, screener = catalogue_for(config), screener_for(config)
    with stage("ingest"):
        ingested = ingest_with_settings(path, settings, check=catalogue.check_item)
    with stage("expand"):
        expanded = prompts.expand_prompts.fn(ingested.items, catalogue)
    with stage("screen"):
        verdicts = prompts.screen_text.fn(list(expanded.ok.values()), screener)
    with stage("plan"):
        allowed = [e for e in expanded.ok.values() if not verdicts.get(e.item.id)]
        budget = ingested.summary.options.time_budget_s
        plans = prompts.plan_shots.fn(allowed, catalogue, budget)
    peak_kib = _status_kib("VmHWM")
    return {
        "seconds": seconds,
        "total_s": sum(seconds.values()),
        "peak_bytes": (peak_kib - base_kib) * 1024,
        "peak_reset": reset,
        "process_peak_bytes": peak_kib * 1024,
        "imports_s": imports_s,
        "base_bytes": base_kib * 1024,
        "valid": ingested.summary.valid,
        "rejected": ingested.summary.rejected_rows,
        "expand_failed": len(expanded.failed),
        "blocked": sum(1 for blocks in verdicts.values() if blocks),
        "planned": len(plans.ok),
        "plan_failed": len(plans.failed),
        "shots": sum(len(p.shots) for p in plans.ok.values()),
    }


def run_scale(rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="wanflow-bench-scale-") as tmp:
        data, planted = scale_rows(rows)
        path = write_csv(Path(tmp) / "scale.csv", HEADER, data)
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--scale-worker", str(path)],
            capture_output=True,
            text=True,
            timeout=1800,
            env={k: v for k, v in os.environ.items() if not k.startswith("WANFLOW_")},
        )
        size = path.stat().st_size
    if done.returncode != 0:
        raise SystemExit(
            f"the scale subprocess failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result |= {"rows": rows, "bytes": size, "planted": planted}
    result["passed"] = (
        result["total_s"] < SCALE_TARGET_S and result["peak_bytes"] < SCALE_TARGET_BYTES
    )
    return result


def print_scale(r: dict) -> None:
    print(
        f"pre-GPU stages at scale: {r['rows']} rows ({r['bytes'] / MiB:.1f} MiB CSV), "
        f"fresh subprocess (imports {r['imports_s']:.1f} s, {r['base_bytes'] / MiB:.0f} MiB RSS "
        "before the stages, not counted)"
    )
    for name, seconds in r["seconds"].items():
        share = 100 * seconds / r["total_s"]
        rate = f"{r['rows'] / seconds:>9.0f} rows/s" if name != "config" else "(once per run)"
        print(f"  {name:<8} {seconds:7.2f} s  {share:5.1f} %  {rate}")
    print(f"  total    {r['total_s']:7.2f} s")
    how = (
        "VmHWM reset before the stages" if r["peak_reset"] else "VmHWM NOT reset: includes imports"
    )
    print(
        f"  peak memory {r['peak_bytes'] / MiB:.0f} MiB (max RSS delta, {how}; process peak "
        f"{r['process_peak_bytes'] / MiB:.0f} MiB)"
    )
    print(
        f"  valid {r['valid']}, rejected {r['rejected']} (planted {r['planted']['rejected']}), "
        f"blocked {r['blocked']} (planted {r['planted']['blocked']}), planned {r['planned']} "
        f"({r['shots']} shots), failed {r['expand_failed'] + r['plan_failed']}"
    )
    verdict = "PASS" if r["passed"] else "FAIL"
    print(
        f"scale: {verdict} (targets: < {SCALE_TARGET_S:.0f} s and < "
        f"{SCALE_TARGET_BYTES / 2**30:.0f} GiB; measured {r['total_s']:.1f} s, "
        f"{r['peak_bytes'] / MiB:.0f} MiB)"
    )


# --- 2. orchestration overhead on the tiny model -----------------------------------------------
@dataclass
class Calls:
    """Seconds in the calls of one task (or flow), and what inside them was what."""

    runs: int = 0
    call_s: float = 0.0  # Task.__call__ / Flow.__call__: the whole run, engine included
    work_s: float = 0.0  # tasks: inside the task function, artifact calls excluded
    children_s: float = 0.0  # flows: in the task runs and subflow runs it called
    artifacts_s: float = 0.0  # Prefect artifact calls (inside the function, or the flow body)

    @property
    def engine_s(self) -> float:
        """A task's run outside its function; a flow's run outside its children: Prefect's
        engine (and, for a flow, its own code between tasks)."""
        return self.call_s - self.work_s - self.children_s - self.artifacts_s


@dataclass
class Ledger:
    """Filled by the wrappers that ``instrument`` installs; work is by stage and by task."""

    stage: str = "(outside stages)"
    work: dict[str, float] = field(default_factory=dict)  # stage → seconds in task functions
    runs: dict[str, int] = field(default_factory=dict)  # stage → task runs
    tasks: dict[str, Calls] = field(default_factory=dict)
    flows: dict[str, Calls] = field(default_factory=dict)
    nested: int = 0  # task calls inside a task function: counted in the outer one's work
    flow_stack: list[str] = field(default_factory=list)
    local: threading.local = field(default_factory=threading.local)

    def reset(self) -> None:
        self.work, self.runs, self.tasks, self.flows, self.nested = {}, {}, {}, {}, 0

    def _in_task(self) -> bool:
        return getattr(self.local, "depth", 0) > 0

    def _parent(self, seconds: float) -> None:
        if self.flow_stack:
            self.flows.setdefault(self.flow_stack[-1], Calls()).children_s += seconds

    def task_fn(self, fn):
        """The task's function: its time is work (less the artifact calls it makes)."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self._in_task():
                return fn(*args, **kwargs)
            self.local.depth, self.local.artifacts = 1, 0.0
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                artifacts = self.local.artifacts
                seconds = time.perf_counter() - start - artifacts
                self.local.depth = 0
                self.work[self.stage] = self.work.get(self.stage, 0.0) + seconds
                self.runs[self.stage] = self.runs.get(self.stage, 0) + 1
                self.local.last = (seconds, artifacts)

        return wrapper

    def task_call(self, call):
        """``Task.__call__``: the whole task run, as the flow sees it."""

        @functools.wraps(call)
        def wrapper(task, *args, **kwargs):
            if self._in_task():
                self.nested += 1
                return call(task, *args, **kwargs)
            self.local.last = (0.0, 0.0)
            start = time.perf_counter()
            try:
                return call(task, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                entry = self.tasks.setdefault(task.name, Calls())
                entry.runs += 1
                entry.call_s += seconds
                entry.work_s += self.local.last[0]
                entry.artifacts_s += self.local.last[1]
                self._parent(seconds)

        return wrapper

    def flow_call(self, call):
        """``Flow.__call__``: a flow run (the measured one, and its subflows)."""

        @functools.wraps(call)
        def wrapper(flow, *args, **kwargs):
            self.flow_stack.append(flow.name)
            start = time.perf_counter()
            try:
                return call(flow, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                self.flow_stack.pop()
                entry = self.flows.setdefault(flow.name, Calls())
                entry.runs += 1
                entry.call_s += seconds
                self._parent(seconds)

        return wrapper

    def artifact(self, fn):
        """A Prefect artifact call: bookkeeping, wherever it is made."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                if self._in_task():
                    self.local.artifacts += seconds
                elif self.flow_stack:
                    self.flows.setdefault(self.flow_stack[-1], Calls()).artifacts_s += seconds

        return wrapper


def instrument(ledger: Ledger) -> list[str]:
    """Install the timers: Prefect's artifact calls, ``Task.__call__`` and ``Flow.__call__``,
    every task's function in ``tasks.*`` and ``flows.*``, and the flow module's ``_stage``.
    Returns the names of the tasks whose functions are timed."""
    import prefect.artifacts
    from prefect import Flow, Task

    for name in dir(prefect.artifacts):  # before the tasks import them by name
        if re.fullmatch(r"(create|update)_\w+_artifact", name):
            setattr(prefect.artifacts, name, ledger.artifact(getattr(prefect.artifacts, name)))
    Task.__call__ = ledger.task_call(Task.__call__)
    Flow.__call__ = ledger.flow_call(Flow.__call__)

    import flows.produce_manifest as produce

    tasks = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("tasks.", "flows.")):
            continue
        for value in vars(module).values():
            if isinstance(value, Task):
                tasks[id(value)] = value
    names = []
    for task in tasks.values():
        if inspect.iscoroutinefunction(task.fn):
            continue  # none today; an async task's time would be counted as overhead
        task.fn = ledger.task_fn(task.fn)
        names.append(task.name)

    original = getattr(produce, "_stage", None)
    if original is not None:

        @contextmanager
        def traced(report, name):
            outer, ledger.stage = ledger.stage, name
            try:
                with original(report, name):
                    yield
            finally:
                ledger.stage = outer

        produce._stage = traced
    return sorted(names)


def flow_rows(count: int, prefix: str, seed: int) -> list[list[str]]:
    """Short items: a prompt, one narrated sentence, 2 s, the draft preset: one shot each."""
    rng = random.Random(seed)
    subjects, actions, scenes = _pool(SUBJECTS), _pool(ACTIONS), _pool(SCENES)
    short = [s for s in _pool(SENTENCES) if len(s) <= 12]
    return [
        [
            f"{prefix}-{i:03d}",
            f"故事{i}",
            rng.choice(subjects) + rng.choice(actions) + "，" + rng.choice(scenes),
            rng.choice(short),
            rng.choice(("油画", "水彩画", "")),
            "draft",
            "2",
            str(seed + i),
        ]
        for i in range(count)
    ]


FLOW_HEADER = ["编号", "标题", "提示词", "旁白", "风格", "预设", "时长(秒)", "种子"]


def _prepare_environment(tmp: Path) -> None:
    """Before Prefect is imported: a private home, no telemetry, a patient server start; the
    tiny models on the CPU, held items approved, nothing waited for."""
    for name in list(os.environ):
        if name.startswith("WANFLOW_"):
            del os.environ[name]
    os.environ.pop("PREFECT_API_URL", None)
    os.environ |= {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "WANFLOW_MODEL_T2V": "tiny",
        "WANFLOW_MODEL_I2V": "tiny",
        "WANFLOW_MODEL_TI2V": "tiny",
        "WANFLOW_MODEL_DIR": str(tmp / "models"),
        "WANFLOW_DEVICE": "cpu",
        "WANFLOW_AUTO_APPROVE": "true",
        "WANFLOW_APPROVAL_TIMEOUT_S": "0",
        "WANFLOW_OUTPUT_DIR": str(tmp / "out"),
    }


def _one_run(produce_manifest, store, ledger: Ledger, name: str, rows: list[list[str]], tmp):
    key = f"incoming/{name}.csv"
    store.put_file(key, write_csv(tmp / f"{name}.csv", FLOW_HEADER, rows))
    ledger.reset()
    start = time.perf_counter()
    report = produce_manifest(manifest_key=key)
    wall = time.perf_counter() - start
    work = sum(ledger.work.values())
    return report, wall, work


def run_flow(items: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="wanflow-bench-pipeline-") as name:
        tmp = Path(name)
        _prepare_environment(tmp)
        from wanflow.localserver import LocalS3Server

        started = time.perf_counter()
        access, secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        with LocalS3Server(tmp / "s3", access, secret) as server:
            os.environ |= {
                "WANFLOW_S3_ENDPOINT": server.endpoint,
                "WANFLOW_S3_ACCESS_KEY": access,
                "WANFLOW_S3_SECRET_KEY": secret,
                "WANFLOW_S3_BUCKET": "bench",
            }
            from prefect.testing.utilities import prefect_test_harness

            ledger = Ledger()
            wrapped = instrument(ledger)
            from flows.produce_manifest import produce_manifest
            from wanflow.settings import get_settings
            from wanflow.storage import Storage

            get_settings.cache_clear()
            store = Storage.from_settings(get_settings())
            store.ensure_bucket()
            with prefect_test_harness(server_startup_timeout=180):
                setup_s = time.perf_counter() - started
                warm = _one_run(
                    produce_manifest, store, ledger, "warm-up", flow_rows(1, "warm", 7), tmp
                )
                report, wall, work = _one_run(
                    produce_manifest, store, ledger, "bench", flow_rows(items, "item", 1000), tmp
                )
    return _flow_figures(items, report, wall, work, ledger, warm, setup_s, wrapped)


def _flow_figures(items, report, wall, work, ledger, warm, setup_s, wrapped) -> dict:
    stages = []
    for name, seconds in report.stages.items():
        in_tasks = ledger.work.get(name, 0.0)
        runs = ledger.runs.get(name, 0)
        stages.append({"stage": name, "wall_s": seconds, "work_s": in_tasks, "task_runs": runs})
    staged = sum(report.stages.values())
    clips = [c for item in report.items for c in item.clips]
    overhead = wall - work
    warm_report, warm_wall, warm_work = warm

    def calls(entries: dict[str, Calls]) -> dict:
        return {
            name: {
                "runs": c.runs,
                "call_s": c.call_s,
                "work_s": c.work_s,
                "artifacts_s": c.artifacts_s,
                "engine_s": c.engine_s,
            }
            for name, c in sorted(entries.items(), key=lambda kv: -kv[1].engine_s)
        }

    return {
        "items": items,
        "status": report.status,
        "statuses": report.counts(),
        "shots": sum(item.shots or 0 for item in report.items),
        "clips": len(clips),
        "setup_s": setup_s,
        "warm_up": {"status": warm_report.status, "wall_s": warm_wall, "work_s": warm_work},
        "wall_s": wall,
        "work_s": work,
        "overhead_s": overhead,
        "overhead_per_item_s": overhead / items,
        "task_runs": sum(ledger.runs.values()),
        "stages": stages,
        "outside_stages_wall_s": wall - staged,
        "outside_stages_work_s": ledger.work.get("(outside stages)", 0.0),
        "tasks": calls(ledger.tasks),
        "flows": calls(ledger.flows),
        "nested_task_calls": ledger.nested,
        "clip_load_s": sum(c.load_s for c in clips),
        "clip_render_s": sum(c.render_s for c in clips),
        "tasks_wrapped": wrapped,
        "passed": overhead / items < OVERHEAD_TARGET_S,
    }


def print_flow(r: dict) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in r["statuses"].items())
    print(
        f"orchestration: {r['items']} items through produce_manifest, tiny models on the CPU, "
        f"local S3 + Prefect test API (set-up {r['setup_s']:.1f} s, not counted)"
    )
    w = r["warm_up"]
    print(
        f"  warm-up run (1 item, not counted): {w['status']}, wall {w['wall_s']:.2f} s, "
        f"work {w['work_s']:.2f} s, overhead {w['wall_s'] - w['work_s']:.2f} s"
    )
    print(f"  run {r['status']}: {counts}; {r['shots']} shots planned, {r['clips']} clips")
    print(f"  {'stage':<18} {'wall s':>8} {'work s':>8} {'overhead s':>11} {'task runs':>10}")
    for s in r["stages"]:
        over = s["wall_s"] - s["work_s"]
        print(
            f"  {s['stage']:<18} {s['wall_s']:8.2f} {s['work_s']:8.2f} {over:11.2f} "
            f"{s['task_runs']:>10}"
        )
    outside_over = r["outside_stages_wall_s"] - r["outside_stages_work_s"]
    print(
        f"  {'(outside stages)':<18} {r['outside_stages_wall_s']:8.2f} "
        f"{r['outside_stages_work_s']:8.2f} {outside_over:11.2f}"
    )
    print(
        f"  {'flow run':<18} {r['wall_s']:8.2f} {r['work_s']:8.2f} {r['overhead_s']:11.2f} "
        f"{r['task_runs']:>10}"
    )
    generate = r["tasks"].get("generate-clip", {}).get("work_s", 0.0)
    print(
        f"  report timers: clips load {r['clip_load_s']:.2f} s + render {r['clip_render_s']:.2f} "
        f"s (generate-clip's work {generate:.2f} s); nested task calls {r['nested_task_calls']}"
    )
    print("  where the overhead goes:")
    for name, c in r["tasks"].items():
        untimed = "  (function NOT timed: counted as overhead)" if c["work_s"] == 0 else ""
        print(
            f"    task {name:<22} {c['runs']:>4} runs  engine {c['engine_s']:6.2f} s "
            f"({c['engine_s'] / c['runs']:.3f} s/run)  artifacts {c['artifacts_s']:5.2f} s{untimed}"
        )
    for name, c in r["flows"].items():
        print(
            f"    flow {name:<22} {c['runs']:>4} runs  engine + own code {c['engine_s']:6.2f} s"
            f"  artifacts {c['artifacts_s']:5.2f} s"
        )
    per_run = r["overhead_s"] / max(1, r["task_runs"])
    verdict = "PASS" if r["passed"] else "FAIL"
    print(
        f"overhead: {verdict} ({r['overhead_per_item_s']:.3f} s per item, target < "
        f"{OVERHEAD_TARGET_S:.0f} s; {per_run:.3f} s per task run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20, help="items of the flow run")
    parser.add_argument("--scale", type=int, default=10_000, help="rows of the scale manifest")
    parser.add_argument("--skip-flow", action="store_true", help="no flow run")
    parser.add_argument("--skip-scale", action="store_true", help="no scale run")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--scale-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_worker is not None:
        print(json.dumps(scale_worker(args.scale_worker)))
        return
    if args.items < 1 or args.scale < 1:
        parser.error("--items and --scale must be at least 1")
    figures = {}
    if not args.skip_scale:
        figures["scale"] = run_scale(args.scale)
        print_scale(figures["scale"])
    if not args.skip_flow:
        figures["flow"] = run_flow(args.items)
        print_flow(figures["flow"])
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
