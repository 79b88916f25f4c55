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
   ``WANFLOW_*`` variables are cleared, so the run is set up as by default: the embedded fleet
   (each run starts a GPU worker in a thread of this process, ``tasks.gpu_worker.local_worker``,
   and sends it every shot as a background task with ``.delay()``), and each item reviewed,
   composed and published in a pool of ``WANFLOW_CPU_CONCURRENCY`` (2) threads as soon as its
   shot is in, while the next one renders. A 1-item warm-up run goes first (imports, the tiny
   model build and load, NudeNet's session, the Prefect client) and is printed but not counted;
   its item differs, so nothing of it is reused by the measured run.

   Items overlap (a shot renders in the worker's thread while the item before it is reviewed in
   another), so seconds of the wall clock and seconds summed over threads are kept apart. For
   the measured run:
   - flow wall: the ``produce_manifest(...)`` call, from call to return;
   - work: the time spent inside task functions, summed over the threads they run in: S3 reads
     and writes, speech synthesis, rendering, review, composing, publishing. Every Prefect
     ``Task`` in the ``tasks.*`` and ``flows.*`` modules has its ``.fn`` wrapped by a timer,
     which the task engine calls inside the task run (in the flow's thread or an item's); the
     ``render-*`` background tasks, which Prefect's task worker runs with ``run_task_sync`` in
     the GPU worker's thread, are timed by their body, ``render_job`` (wrapping their ``.fn``
     would change the task key the worker subscribes with). Prefect artifact calls made inside a
     task (a shot's progress bar) are not work: they are Prefect bookkeeping. A task called
     inside another task is counted once, in the outer one (there are none today; the count is
     printed);
   - busy: the wall-clock seconds during which at least one task function was working, in any
     thread; work / busy is the parallelism reached;
   - overhead = flow wall − busy: the seconds during which no task function worked anywhere, so
     that the run waited on Prefect, on the dispatch of shots, or on its own code. It is an upper
     bound on what orchestration adds to the run's length. Prefect's time that overlapped work
     in another thread (an item's task runs while a shot renders) did not lengthen the run and
     is not in it; it is in the thread-seconds below. Overhead per item = overhead / items.
     Target: under 1 s per item.
   Every second of the flow wall is charged to exactly one activity, the first of these going on
   in any thread at that instant (each thread is in one at a time: its innermost timer): task
   functions (work, so this line is busy); Prefect artifact calls; a task run's engine outside
   its function (``Task.__call__`` for the flow's tasks; for a background run, the task
   worker's handling of it: reading its parameters and the flow context pickled with them, the
   engine's state changes, persisting its result); sending shots (``Task.delay``: creating the
   run, pickling and storing its parameters and context); polling for finished shots
   (``Dispatcher._poll``: reading the runs, their results and the workers' records); starting
   the run's local GPU worker (until it is subscribed) and draining it; waiting between polls
   (the rest of ``Dispatcher.items``: its sleeps, while a shot is queued, picked up, or finished
   but not yet noticed); the flow's own code (the rest of its function: building the report,
   retiming plans, publication metadata, waiting for item threads; not Prefect's, and where
   anything the timers miss would land); the flow run's engine (``Flow.__call__`` outside the
   function: creating the flow run, and finishing it). The charges add up to the flow wall; all
   but the first are overhead.

   Thread-seconds: each stage of ``report.stages`` (whatever stages the flow has) with the task
   work done inside it, both summed over items that overlap (``flows.items.StageClock`` sums
   stage times so), and the difference; work is attributed to the stage open in its thread
   (``StageClock`` and the flow module's ``_stage`` are wrapped), a background render task's to
   ``generate``, the stage that sends it. Per task: its runs less its function and artifact
   calls ("engine"), and for a background task the shots sent and the seconds in ``.delay()``;
   per flow: its run less its function, starting and finishing; the dispatcher's polls. The
   clips' own timers (``load_s`` + ``render_s``) are printed beside the render tasks' work:
   they hold the progress-artifact calls too.

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
    from wanflow.settings import Settings

    # The tasks' .fn run outside a flow run: give them a plain logger instead of the run's.
    prompts.get_run_logger = lambda: logging.getLogger("wanflow.benchmark")
    settings = Settings()
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
        catalogue, screener = catalogue_for(config, settings), screener_for(config, settings)
    with stage("ingest"):
        ingested = ingest_with_settings(path, settings, check=catalogue.check_item)
    with stage("expand"):
        expanded = prompts.expand_prompts.fn(ingested.items, catalogue)
    with stage("screen"):
        verdicts = prompts.screen_text.fn(list(expanded.ok.values()), screener)
    with stage("plan"):
        allowed = [e for e in expanded.ok.values() if not verdicts.get(e.item.id)]
        budget = ingested.summary.options.time_budget_s
        plans = prompts.plan_shots.fn(allowed, catalogue, budget, settings)
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
# What the wall clock is charged to, in this order: at each instant, the first of these going on
# in any thread (each thread is in at most one: its innermost timer).
CHARGES = {
    "work": "task functions (work)",
    "artifacts": "Prefect artifact calls",
    "engine": "task runs' engine",
    "dispatch": "sending shots (.delay)",
    "poll": "polling for finished shots",
    "worker": "local GPU worker start+drain",
    "waiting": "waiting between polls",
    "own_code": "the flow's own code",
    "flow_engine": "the flow run's engine",
    "untimed": "(no timer running)",
}
OUTSIDE = "(outside stages)"
BACKGROUND_STAGE = "generate"  # the stage that sends the background render tasks


@dataclass
class Calls:
    """Thread-seconds in the runs of one task, and what inside them was what."""

    runs: int = 0
    call_s: float = 0.0  # Task.__call__, or the GPU worker's handling of a background run
    work_s: float = 0.0  # inside the task function, artifact calls excluded
    artifacts_s: float = 0.0  # Prefect artifact calls made inside the function
    sent: int = 0  # background runs sent with .delay()
    delay_s: float = 0.0  # in .delay(): creating the run, storing its parameters and context

    @property
    def engine_s(self) -> float:
        """A run outside its function: Prefect's engine (state changes, results, logs; for a
        background run also reading its parameters on the worker)."""
        return self.call_s - self.work_s - self.artifacts_s


@dataclass
class FlowCalls:
    runs: int = 0
    call_s: float = 0.0  # Flow.__call__
    fn_s: float = 0.0  # the flow function (its own code, and everything it calls)
    start_s: float = 0.0  # Flow.__call__ before the function: creating the flow run
    finish_s: float = 0.0  # after it: its final state, result and logs

    @property
    def engine_s(self) -> float:
        return self.call_s - self.fn_s


@dataclass
class Ledger:
    """Filled by the timers ``instrument`` installs, from any thread (the flow's, the items',
    the GPU worker's). Each thread keeps a stack of open timers; the innermost one owns the
    thread's time, so every thread's timeline is cut into spans of one charge each."""

    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, charge)
    work: dict[str, float] = field(default_factory=dict)  # stage → seconds in task functions
    runs: dict[str, int] = field(default_factory=dict)  # stage → task function calls
    tasks: dict[str, Calls] = field(default_factory=dict)
    flows: dict[str, FlowCalls] = field(default_factory=dict)
    outside_artifacts_s: float = 0.0  # artifact calls made outside any task (the flow's)
    polls: int = 0
    poll_s: float = 0.0
    worker_start_s: float = 0.0
    worker_drain_s: float = 0.0
    nested: int = 0  # task calls inside a task function: counted in the outer one's work
    task_names: dict[str, str] = field(default_factory=dict)  # task key → name
    background: set[str] = field(default_factory=set)  # names of the render tasks
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def __reduce__(self):
        # Prefect pickles the flow run's context into every background task it sends: the flow
        # function by value, with the globals it uses (the wrapped tasks, ``_stage``), hence
        # these timers and this ledger. A placeholder travels instead (a lock cannot be
        # pickled); the copy is never called: the worker runs its own task objects.
        return (str, ("the benchmark's ledger stays in its process",))

    def reset(self) -> None:
        with self.lock:
            self.spans, self.work, self.runs, self.tasks, self.flows = [], {}, {}, {}, {}
            self.outside_artifacts_s, self.nested = 0.0, 0
            self.polls, self.poll_s, self.worker_start_s, self.worker_drain_s = 0, 0.0, 0.0, 0.0

    def _task(self, name: str) -> Calls:
        return self.tasks.setdefault(name, Calls())

    def _flow(self, name: str) -> FlowCalls:
        return self.flows.setdefault(name, FlowCalls())

    # --- the per-thread timeline -------------------------------------------------------------

    @contextmanager
    def timer(self, charge: str):
        """This thread's time is ``charge``'s until the block ends, less nested timers'."""
        stack = self.local.__dict__.setdefault("stack", [])
        now = time.perf_counter()
        if stack:  # the outer timer's span ends here; it resumes after this one
            self._span(stack[-1][1], now, stack[-1][0])
        stack.append([charge, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            charge, start = stack.pop()
            self._span(start, end, charge)
            if stack:
                stack[-1][1] = end

    def _span(self, start: float, end: float, charge: str) -> None:
        if end > start:
            with self.lock:
                self.spans.append((start, end, charge))

    @contextmanager
    def staged(self, name: str):
        """Work done in this thread belongs to stage ``name`` until the block ends."""
        outer, self.local.stage = getattr(self.local, "stage", None), name
        try:
            yield
        finally:
            self.local.stage = outer

    def _in_task(self) -> bool:
        return getattr(self.local, "task", None) is not None

    # --- the timers ----------------------------------------------------------------------------

    def task_fn(self, fn, name: str | None):
        """A task's function, wherever the engine calls it: its time is work (less the artifact
        calls it makes), in the stage open in its thread. ``name`` None: the task whose run
        calls it (``render_job``, the body of every render task)."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self._in_task():
                return fn(*args, **kwargs)
            called_by = name
            if called_by is None:
                from prefect.context import TaskRunContext

                context = TaskRunContext.get()
                called_by = context.task.name if context else fn.__name__
            self.local.task, self.local.artifacts = called_by, 0.0
            start = time.perf_counter()
            try:
                with self.timer("work"):
                    return fn(*args, **kwargs)
            finally:
                artifacts = self.local.artifacts
                seconds = time.perf_counter() - start - artifacts
                self.local.task = None
                stage = getattr(self.local, "stage", None)
                if stage is None:
                    stage = BACKGROUND_STAGE if called_by in self.background else OUTSIDE
                with self.lock:
                    self.work[stage] = self.work.get(stage, 0.0) + seconds
                    self.runs[stage] = self.runs.get(stage, 0) + 1
                    entry = self._task(called_by)
                    entry.work_s += seconds
                    entry.artifacts_s += artifacts

        return wrapper

    def task_call(self, call):
        """``Task.__call__``: a task run in the calling thread (the flow's, or an item's)."""

        @functools.wraps(call)
        def wrapper(task, *args, **kwargs):
            if self._in_task():
                with self.lock:
                    self.nested += 1
                return call(task, *args, **kwargs)
            start = time.perf_counter()
            try:
                with self.timer("engine"):
                    return call(task, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                with self.lock:
                    entry = self._task(task.name)
                    entry.runs += 1
                    entry.call_s += seconds

        return wrapper

    def task_delay(self, delay):
        """``Task.delay``: a shot sent to the fleet as a background task run."""

        @functools.wraps(delay)
        def wrapper(task, *args, **kwargs):
            start = time.perf_counter()
            try:
                with self.timer("dispatch"):
                    return delay(task, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                with self.lock:
                    entry = self._task(task.name)
                    entry.sent += 1
                    entry.delay_s += seconds

        return wrapper

    def worker_run(self, submit):
        """``TaskWorker._safe_submit_scheduled_task_run`` (the worker's event loop): a received
        background run, from reading its parameters to its end in ``run_task_sync`` (in the
        worker's executor thread, where its function's own timer runs)."""

        @functools.wraps(submit)
        async def wrapper(worker, task_run):
            start = time.perf_counter()
            try:
                return await submit(worker, task_run)
            finally:
                end = time.perf_counter()
                name = self.task_names.get(task_run.task_key, task_run.task_key)
                self._span(start, end, "engine")  # not stacked: the loop runs other coroutines
                with self.lock:
                    entry = self._task(name)
                    entry.runs += 1
                    entry.call_s += end - start

        return wrapper

    def flow_call(self, call):
        """``Flow.__call__``: a flow run, engine and function."""

        @functools.wraps(call)
        def wrapper(flow, *args, **kwargs):
            calls = self.local.__dict__.setdefault("flows", [])
            calls.append([None, None])  # when its function started and ended
            start = time.perf_counter()
            try:
                with self.timer("flow_engine"):
                    return call(flow, *args, **kwargs)
            finally:
                end = time.perf_counter()
                fn_start, fn_end = calls.pop()
                with self.lock:
                    entry = self._flow(flow.name)
                    entry.runs += 1
                    entry.call_s += end - start
                    entry.start_s += (fn_start or end) - start
                    entry.finish_s += end - (fn_end or end)

        return wrapper

    def flow_fn(self, fn, name: str):
        """A flow's function: its own code, where no other timer runs."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            calls = self.local.__dict__.get("flows") or [[None, None]]
            start = calls[-1][0] = time.perf_counter()
            try:
                with self.timer("own_code"):
                    return fn(*args, **kwargs)
            finally:
                end = calls[-1][1] = time.perf_counter()
                with self.lock:
                    self._flow(name).fn_s += end - start

        return wrapper

    def artifact(self, fn):
        """A Prefect artifact call: bookkeeping, wherever it is made."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                with self.timer("artifacts"):
                    return fn(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                if self._in_task():
                    self.local.artifacts += seconds
                else:
                    with self.lock:
                        self.outside_artifacts_s += seconds

        return wrapper

    def poll(self, poll):
        """``Dispatcher._poll``: reading the sent runs' states and results, and the workers'
        records (for orphaned shots)."""

        @functools.wraps(poll)
        def wrapper(dispatcher, *args, **kwargs):
            start = time.perf_counter()
            try:
                with self.timer("poll"):
                    return poll(dispatcher, *args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                with self.lock:
                    self.polls += 1
                    self.poll_s += seconds

        return wrapper

    def shots(self, items):
        """``Dispatcher.items``: the flow waits in it for its items' shots (sending and polling
        have timers of their own; what is left is the sleeps between polls)."""

        @functools.wraps(items)
        def wrapper(dispatcher, *args, **kwargs):
            found = items(dispatcher, *args, **kwargs)
            while True:
                with self.timer("waiting"):
                    try:
                        item = next(found)
                    except StopIteration:
                        return
                yield item

        return wrapper

    def worker(self, local_worker):
        """``tasks.gpu_worker.local_worker``: the run's GPU worker thread, started until it is
        subscribed, and drained at the end (the time in between is not the worker's)."""

        @functools.wraps(local_worker)
        @contextmanager
        def wrapper(*args, **kwargs):
            manager = local_worker(*args, **kwargs)
            start = time.perf_counter()
            with self.timer("worker"):
                running = manager.__enter__()
            self.worker_start_s += time.perf_counter() - start
            try:
                yield running
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                start = time.perf_counter()
                with self.timer("worker"):
                    manager.__exit__(None, None, None)
                self.worker_drain_s += time.perf_counter() - start

        return wrapper


def charge_wall(spans: list[tuple[float, float, str]], start: float, end: float) -> dict:
    """Every instant of ``start``..``end`` charged to the first charge (in ``CHARGES`` order) of
    the spans covering it, ``untimed`` where none does. The values add up to ``end − start``."""
    order = list(CHARGES)
    rank = {charge: i for i, charge in enumerate(order)}
    edges = []
    for s, e, charge in spans:
        s, e = max(s, start), min(e, end)
        if e > s:
            edges += [(s, 1, rank[charge]), (e, -1, rank[charge])]
    edges.sort()
    active = [0] * len(order)
    charged = dict.fromkeys(order, 0.0)
    now = start
    for when, delta, i in edges:
        if when > now:
            first = next((c for c, n in zip(order, active, strict=True) if n > 0), "untimed")
            charged[first] += when - now
            now = when
        active[i] += delta
    charged["untimed"] += end - now
    return charged


def instrument(ledger: Ledger) -> list[str]:
    """Install the timers: Prefect's artifact calls, ``Task.__call__``, ``Task.delay``, the task
    worker's handling of a background run and ``Flow.__call__``; every task's function and every
    flow's in ``tasks.*`` and ``flows.*``; the stages (``StageClock`` and the flow module's
    ``_stage``), the dispatcher's polls and waits, and the local GPU worker's start and drain.
    Returns the names of the tasks whose functions are timed."""
    import prefect.artifacts
    import prefect.task_worker
    from prefect import Flow, Task

    for name in dir(prefect.artifacts):  # before the tasks import them by name
        if re.fullmatch(r"(create|update)_\w+_artifact", name):
            setattr(prefect.artifacts, name, ledger.artifact(getattr(prefect.artifacts, name)))
    Task.__call__ = ledger.task_call(Task.__call__)
    Task.delay = ledger.task_delay(Task.delay)
    Flow.__call__ = ledger.flow_call(Flow.__call__)
    worker_class = prefect.task_worker.TaskWorker
    worker_class._safe_submit_scheduled_task_run = ledger.worker_run(
        worker_class._safe_submit_scheduled_task_run
    )

    import flows.items
    import flows.produce_manifest as produce
    import tasks.dispatch
    import tasks.fleet
    import tasks.gpu_worker

    tasks_found, flows_found = {}, {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("tasks.", "flows.")):
            continue
        for value in vars(module).values():
            if isinstance(value, Task):
                tasks_found[id(value)] = value
            elif isinstance(value, Flow):
                flows_found[id(value)] = value
    # The render tasks' functions stay as they are: Prefect's task worker re-creates the tasks
    # it serves (``with_options``), deriving their keys from their functions' code, and a
    # wrapper's key would not be the one the dispatcher sends. Their body is timed instead.
    background = {id(t): t for t in tasks.fleet.RENDER_TASKS.values()}
    ledger.background = {t.name for t in background.values()}
    tasks.fleet.render_job = ledger.task_fn(tasks.fleet.render_job, None)
    names = sorted(ledger.background)
    for task in [*tasks_found.values(), *background.values()]:
        ledger.task_names[task.task_key] = task.name
        if id(task) in background:
            continue
        if inspect.iscoroutinefunction(task.fn):
            continue  # none today; an async task's time would be counted as overhead
        task.fn = ledger.task_fn(task.fn, task.name)
        names.append(task.name)
    for flow_ in flows_found.values():
        if not inspect.iscoroutinefunction(flow_.fn):
            flow_.fn = ledger.flow_fn(flow_.fn, flow_.name)

    clock = flows.items.StageClock.__call__

    @contextmanager
    def staged_clock(self, name):
        with ledger.staged(name), clock(self, name):
            yield

    flows.items.StageClock.__call__ = staged_clock
    original = getattr(produce, "_stage", None)
    if original is not None:

        @contextmanager
        def staged(report, name):
            with ledger.staged(name), original(report, name):
                yield

        produce._stage = staged
    dispatcher = tasks.dispatch.Dispatcher
    dispatcher._poll = ledger.poll(dispatcher._poll)
    dispatcher.items = ledger.shots(dispatcher.items)
    tasks.gpu_worker.local_worker = ledger.worker(tasks.gpu_worker.local_worker)
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
    end = time.perf_counter()
    with ledger.lock:
        charged = charge_wall(ledger.spans, start, end)
    return report, end - start, charged


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
            from wanflow.settings import Settings
            from wanflow.storage import Storage

            settings = Settings()  # the environment just set
            store = Storage.from_settings(settings)
            store.ensure_bucket()
            with prefect_test_harness(server_startup_timeout=180):
                setup_s = time.perf_counter() - started
                warm = _one_run(
                    produce_manifest, store, ledger, "warm-up", flow_rows(1, "warm", 7), tmp
                )
                measured = _one_run(
                    produce_manifest, store, ledger, "bench", flow_rows(items, "item", 1000), tmp
                )
    figures = _flow_figures(items, measured, ledger, warm, setup_s, wrapped)
    figures |= {"fleet": settings.fleet, "cpu_concurrency": settings.cpu_concurrency}
    return figures


def _flow_figures(items, measured, ledger, warm, setup_s, wrapped) -> dict:
    report, wall, charged = measured
    stages = []
    for name, seconds in report.stages.items():
        in_tasks = ledger.work.get(name, 0.0)
        runs = ledger.runs.get(name, 0)
        stages.append({"stage": name, "wall_s": seconds, "work_s": in_tasks, "task_runs": runs})
    clips = [c for item in report.items for c in item.clips]
    work = sum(ledger.work.values())
    busy = charged["work"]
    overhead = wall - busy
    render = [c for name, c in ledger.tasks.items() if name in ledger.background]
    warm_report, warm_wall, warm_charged = warm

    tasks = {
        name: {
            "runs": c.runs,
            "sent": c.sent,
            "delay_s": c.delay_s,
            "call_s": c.call_s,
            "work_s": c.work_s,
            "artifacts_s": c.artifacts_s,
            "engine_s": c.engine_s,
        }
        for name, c in sorted(ledger.tasks.items(), key=lambda kv: -kv[1].engine_s)
    }
    flows = {
        name: {
            "runs": c.runs,
            "call_s": c.call_s,
            "fn_s": c.fn_s,
            "engine_s": c.engine_s,
            "start_s": c.start_s,
            "finish_s": c.finish_s,
        }
        for name, c in ledger.flows.items()
    }
    return {
        "items": items,
        "status": report.status,
        "statuses": report.counts(),
        "shots": sum(item.shots or 0 for item in report.items),
        "clips": len(clips),
        "setup_s": setup_s,
        "warm_up": {
            "status": warm_report.status,
            "wall_s": warm_wall,
            "busy_s": warm_charged["work"],
            "overhead_s": warm_wall - warm_charged["work"],
        },
        "wall_s": wall,
        "work_s": work,
        "busy_s": busy,
        "parallelism": work / busy if busy else 0.0,
        "overhead_s": overhead,
        "overhead_per_item_s": overhead / items,
        "charged": charged,
        "task_runs": sum(c.runs for c in ledger.tasks.values()),
        "stages": stages,
        "outside_stages_work_s": ledger.work.get(OUTSIDE, 0.0),
        "tasks": tasks,
        "flows": flows,
        "outside_artifacts_s": ledger.outside_artifacts_s,
        "dispatcher": {
            "polls": ledger.polls,
            "poll_s": ledger.poll_s,
            "worker_start_s": ledger.worker_start_s,
            "worker_drain_s": ledger.worker_drain_s,
        },
        "nested_task_calls": ledger.nested,
        "render_work_s": sum(c.work_s for c in render),
        "render_artifacts_s": sum(c.artifacts_s for c in render),
        "clip_load_s": sum(c.load_s for c in clips),
        "clip_render_s": sum(c.render_s for c in clips),
        "tasks_wrapped": wrapped,
        "passed": overhead / items < OVERHEAD_TARGET_S,
    }


def print_flow(r: dict) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in r["statuses"].items())
    print(
        f"orchestration: {r['items']} items through produce_manifest, tiny models on the CPU, "
        f"{r['fleet']} GPU worker, {r['cpu_concurrency']} items at a time after rendering, "
        f"local S3 + Prefect test API (set-up {r['setup_s']:.1f} s, not counted)"
    )
    w = r["warm_up"]
    print(
        f"  warm-up run (1 item, not counted): {w['status']}, wall {w['wall_s']:.2f} s, "
        f"busy {w['busy_s']:.2f} s, overhead {w['overhead_s']:.2f} s"
    )
    print(f"  run {r['status']}: {counts}; {r['shots']} shots planned, {r['clips']} clips")
    print("  by stage, in thread-seconds (items that overlap add up; the flow's wall is below):")
    print(f"  {'stage':<18} {'wall s':>8} {'work s':>8} {'other s':>8} {'task runs':>10}")
    for s in r["stages"]:
        over = s["wall_s"] - s["work_s"]
        print(
            f"  {s['stage']:<18} {s['wall_s']:8.2f} {s['work_s']:8.2f} {over:8.2f} "
            f"{s['task_runs']:>10}"
        )
    outside = r["outside_stages_work_s"]
    print(f"  {'(outside stages)':<18} {'':>8} {outside:8.2f}")
    print(
        f"  the flow's wall, {r['wall_s']:.2f} s, each second charged once (to the first of these "
        "going on in any thread):"
    )
    for charge, seconds in r["charged"].items():
        share = 100 * seconds / r["wall_s"]
        note = ""
        if charge == "work":
            note = (
                f"  (summed over threads {r['work_s']:.2f} s: parallelism {r['parallelism']:.2f})"
            )
        print(f"    {CHARGES[charge]:<30} {seconds:7.2f} s {share:5.1f} %{note}")
    print(
        f"  clips' own timers: load {r['clip_load_s']:.2f} s + render {r['clip_render_s']:.2f} s "
        f"(render tasks' work {r['render_work_s']:.2f} s + artifacts "
        f"{r['render_artifacts_s']:.2f} s); nested task calls {r['nested_task_calls']}"
    )
    print("  Prefect's time in thread-seconds (overlapping work elsewhere or not):")
    for name, c in r["tasks"].items():
        untimed = "  (function NOT timed: counted as engine)" if c["work_s"] == 0 else ""
        sent = f"  sent {c['sent']} in {c['delay_s']:.2f} s" if c["sent"] else ""
        print(
            f"    task {name:<22} {c['runs']:>4} runs  engine {c['engine_s']:6.2f} s "
            f"({c['engine_s'] / max(1, c['runs']):.3f} s/run)  artifacts "
            f"{c['artifacts_s']:5.2f} s{sent}{untimed}"
        )
    for name, c in r["flows"].items():
        print(
            f"    flow {name:<22} {c['runs']:>4} runs  engine {c['engine_s']:6.2f} s "
            f"(starting {c['start_s']:.2f} s, finishing {c['finish_s']:.2f} s)"
        )
    d = r["dispatcher"]
    print(
        f"    dispatcher: {d['polls']} polls in {d['poll_s']:.2f} s; local GPU worker start "
        f"{d['worker_start_s']:.2f} s, drain {d['worker_drain_s']:.2f} s; artifacts outside "
        f"tasks {r['outside_artifacts_s']:.2f} s"
    )
    verdict = "PASS" if r["passed"] else "FAIL"
    print(
        f"overhead: {verdict} ({r['overhead_per_item_s']:.3f} s per item, target < "
        f"{OVERHEAD_TARGET_S:.0f} s: wall {r['wall_s']:.2f} s − busy {r['busy_s']:.2f} s)"
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
