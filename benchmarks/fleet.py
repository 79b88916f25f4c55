"""The GPU fleet, simulated: one manifest through the whole flow on 1, 2, 4, 8 GPU workers.

These machines have no GPU, so the GPU is the only thing simulated. Everything else is real: a
temporary Prefect API (``wanflow.lifetime.prefect_server``), a local S3 server
(``LocalS3Server``), Prefect's results and background-task parameters in the bucket (as
``wanflow.results`` sets them up on both sides), ``produce_manifest`` in this process with
``WANFLOW_FLEET=remote``, and N ``wanflow gpu-worker`` processes (this script with ``--worker``:
the stand-in renderer installed with ``tasks.generate.use_renderer``, then the ``gpu-worker``
command itself).

The stand-in renderer sleeps for the cost model's estimate of each shot (``generation.cost``,
``WANFLOW_GPU_TYPE``: denoising steps, then the decode) times ``--time-scale``, plus the model's
load estimate when the model is not resident in that worker (at most ``--resident`` models at
once, least recent out), calls the progress callback after every step as the real renderer
does, and returns the shot's frames at a tiny size (64 pixels wide). The real ``render_job``
does the rest: clip hash over fake weights (each model a small directory under
``WANFLOW_MODEL_DIR``), mp4 and last frame, checksums, uploads, the clip record. Items are
reviewed (NudeNet, open_nsfw and random OpenCLIP ViT-S-32 weights with thresholds nothing
reaches), composed with ffmpeg and published for real, on this machine's CPUs.

The manifest: ``--items`` items in turn ``draft`` text-to-video (TI2V-5B), ``high``
text-to-video (T2V-A14B) and ``high`` from a reference image (I2V-A14B), 3 s each (every eighth
8 s: two shots), no narration; the second item requires approval and, with nobody to decide
(``WANFLOW_APPROVAL_TIMEOUT_S`` = ``--approval-timeout``), ends held. Each run has a bucket of its
own, so no clip of an earlier run is reused; its workers start, and are seen in the bucket,
before the run's clock starts, and are stopped (drained) after it.

Figures per run (``runs`` in the JSON; times are wall-clock, cross-process times ``time.time()``):

- ``wall_s``: the ``produce_manifest`` call, from call to return (pre-GPU stages, rendering,
  review, compose, publish, the approval wait, the report); ``speedup``: the 1-worker run's
  wall over this one's;
- ``gpu_busy_fraction``: the workers' own records (``busy_s``, seconds executing shots)
  summed, over workers × wall; ``busy_while_queued``: simulated GPU seconds (the stand-in's
  sleeps) inside the window from the first dispatch to the last shot's start, over workers ×
  window: how busy the GPUs were while shots were waiting for one;
  ``stranded_idle_s``: seconds workers sat idle for good (after their last shot, or from the
  first dispatch for one that got none) while another worker still held a shot it had yet to
  start: a worker takes shots off Prefect's queue before it is free;
- ``model_loads``: the workers' records' loads, summed; ``loads_per_worker``;
- ``dispatch_overhead_s``: GPU idle time charged to each shot, averaged over shots: from the
  moment its worker could have started it (the later of the dispatcher's ``.delay()`` call and
  the end of that worker's previous simulated GPU work) to the start of its own simulated GPU
  work. It holds Prefect's delivery and task-run bookkeeping, the parameters' and result's
  trips through the bucket, and ``render_job``'s I/O around the GPU (the cache check, the
  reference image's download, the previous shot's mp4 encode, checksums and uploads).
  ``dispatch_overhead`` splits it: each worker's first shot, the others, and the others' parts
  (after the GPU, Prefect's hand-over, before the GPU). A shot's wait for its worker's
  previous shot is not charged, although another worker may be idle meanwhile (a worker holds
  the shots Prefect has handed it before it is free): ``busy_while_queued`` shows that;
- ``first_publish_s``: from the call to the earliest ``published.at`` in the report;
  ``solo_publish_s`` is the same for a run of the manifest's first item alone on one worker,
  after a warm-up run of another item (not counted, unless ``--no-warm-up``: then the solo run
  pays this process's imports and model loads, and reads slower): one item's own latency;
- ``clean_published_while_held``: a clean item was published after the held item was put on
  hold and before its wait ended (the approval timeout's decision, ``approval.at``);
- ``render_s`` (simulated GPU seconds, loads included), ``ideal_s`` = render_s / workers,
  ``generate_s`` (the report's generate stage: first dispatch to the last item's shots in),
  ``cpu_stage_s`` (review + compose + publish, summed over items) and ``after_last_shot_s``
  (from the end of the last simulated GPU work to the end of the run).

On this machine (2 cores) the CPU stages are real and the GPU is not: once the GPU work per
worker (``ideal_s``) is shorter than the CPU stages can go through the items
(``cpu_stage_s`` / ``WANFLOW_CPU_CONCURRENCY``), the wall, the speedup and the busy fraction
over the wall measure the CPU, not the fleet; the output says so per run. ``busy_while_queued``,
``dispatch_overhead_s`` and the loads do not measure the CPU stages, but the hand-over they
include is CPU work too (the task engine, s3fs, the API server) and slows down when the flow's
review and compose, up to 8 worker processes and the Prefect server share 2 cores.

Targets, printed beside the figures (pass/fail, not asserted): speedup ≥ 0.9 × workers at the
largest worker count; busy while queued ≥ 0.95; exactly one load per worker per model it
rendered; dispatch overhead ≤ 0.3 s per shot; first publication ≤ 1.5 × one item's own latency.

Usage (the default takes about half an hour here; see RESULTS.md):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fleet.py [--items 64] [--workers 1 2 4 8] \\
        [--time-scale 0.05] [--resident 3] [--approval-timeout 2] [--no-warm-up] \\
        [--keep] [--json]

``--json`` prints the figures as one JSON object on the last line; ``--keep`` keeps the
temporary folder (each run's worker logs and ``events-*.jsonl`` shot timelines).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__":  # benchmarks/ must not shadow the project's packages
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
TINY_WIDTH = 64  # the stand-in's frames: cheap to encode, review and compose
REFERENCE_KEY = "inputs/fleet-reference.png"
MANIFEST_KEY = "incoming/fleet.json"
HELD_INDEX = 1  # the item that requires approval; the solo run is the first
SPEEDUP_TARGET = 0.9  # × workers, at the largest worker count
BUSY_TARGET = 0.95
OVERHEAD_TARGET_S = 0.3
FIRST_PUBLISH_TARGET = 1.5  # × one item's own latency

# (preset, from an image?) in turn, and the Wan2.2 model each renders with.
KINDS = (("draft", False), ("high", False), ("high", True))
MODEL_OF = {KINDS[0]: "ti2v-5b", KINDS[1]: "t2v-a14b", KINDS[2]: "i2v-a14b"}
SUBJECTS = ("一只橘猫", "年轻的宇航员", "老渔夫", "白色的飞马", "一群白鹭", "古代侠客", "机器人")
ACTIONS = ("缓缓升起", "凝视远方", "穿过森林", "跃出海面", "在街头漫步", "点亮灯笼", "迎风飞翔")
SCENES = ("月光下的竹林", "金色麦田", "雪山之巅", "古镇小巷", "星空下的草原", "黄昏的海边")


# --- the simulated GPU (in each worker process) -------------------------------------------------
_RESIDENT: OrderedDict[str, None] = OrderedDict()  # per process, like real pipelines
_LAST: dict[str, float] = {}  # the latest render's GPU interval, for the observer
EXPERTS = {"experts": ["transformer", "transformer_2"]}  # by model layout


class StandIn:
    """A renderer that sleeps for the cost model's estimate of a shot × ``scale`` and returns
    tiny frames; models stay resident per process, ``settings.resident_models`` at most."""

    scale = 1.0

    def __init__(self, settings) -> None:
        self.settings = settings

    def render(self, spec, request, progress=None):
        import numpy as np

        from generation.cost import default_cost_model
        from generation.render import Rendered

        start = time.time()
        estimate = default_cost_model().estimate(
            _params(spec, request), [request.num_frames], self.settings.gpu_type
        )
        load_s = 0.0
        if spec.name in _RESIDENT:
            _RESIDENT.move_to_end(spec.name)
        else:
            load_s = estimate.load_s * self.scale
            _RESIDENT[spec.name] = None
            while len(_RESIDENT) > self.settings.resident_models:
                _RESIDENT.popitem(last=False)
        steps = request.steps
        step_s = estimate.denoise_s * self.scale / steps
        _sleep_until(start + load_s)
        for step in range(1, steps + 1):
            _sleep_until(start + load_s + step * step_s)
            if progress is not None:
                progress(step, steps, time.time() - start - load_s)
        width = TINY_WIDTH
        height = max(2, 2 * round(TINY_WIDTH * request.height / request.width / 2))
        rng = np.random.default_rng(request.seed)
        base = rng.integers(40, 200, size=3)
        ramp = np.linspace(0, 40, width, dtype=np.float32)[None, :, None]
        frames = np.empty((request.num_frames, height, width, 3), dtype=np.uint8)
        for i in range(request.num_frames):
            frames[i] = np.clip(base + ramp + i % 16, 0, 255).astype(np.uint8)
        _sleep_until(
            start + load_s + estimate.denoise_s * self.scale + estimate.decode_s * self.scale
        )
        end = time.time()
        _LAST.clear()
        _LAST.update({"gpu_start": start, "gpu_end": end, "load_s": load_s})
        return Rendered(
            frames=frames,
            fps=request.fps,
            model=spec.name,
            device="simulated",
            dtype="bfloat16",
            plan="simulated",
            speed="simulated",
            experts=EXPERTS.get(spec.layout, ["transformer"]),
            load_s=load_s,
            encode_s=0.0,
            step_s=step_s,
            decode_s=estimate.decode_s * self.scale,
            total_s=end - start,
            width=width,
            height=height,
        )


def _params(spec, request):
    from generation.presets import GenerationParams

    model = spec.defaults
    return GenerationParams(
        preset="simulated",
        model=spec.name,
        repo=model.repo,
        task=spec.task,
        width=request.width,
        height=request.height,
        fps=request.fps,
        max_frames=model.frames,
        steps=request.steps,
        guidance=request.guidance,
        guidance_2=request.guidance_2,
        shift=request.shift,
        solver=model.solver,
    )


def _sleep_until(deadline: float) -> None:
    left = deadline - time.time()
    if left > 0:
        time.sleep(left)


class Recorder:
    """``observe`` callback: one JSON line per shot with the job and the GPU interval."""

    def __init__(self, path: Path) -> None:
        self.path, self.lock = path, threading.Lock()

    def __call__(self, job, record, seconds: float) -> None:
        end = time.time()
        gpu = {} if record.cached else dict(_LAST)
        line = {
            "pid": os.getpid(),
            "item": job.item_id,
            "shot": job.shot,
            "model": record.model,
            "cached": record.cached,
            "job_start": end - seconds,
            "job_end": end,
            **gpu,
        }
        with self.lock, self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def worker_main(argv: list[str]) -> None:
    """``fleet.py --worker EVENTS SCALE gpu-worker [options]``: a GPU worker on the stand-in."""
    events, scale, *command = argv
    from tasks.generate import observe, use_renderer

    StandIn.scale = float(scale)
    use_renderer(StandIn)
    observe(Recorder(Path(events)))
    from cli.main import app

    app(command, prog_name="wanflow")


# --- the manifest and its inputs -----------------------------------------------------------------
def manifest(count: int, first: int = 0) -> list[dict]:
    items = []
    for i in range(first, first + count):
        preset, image = KINDS[i % len(KINDS)]
        prompt = (
            SUBJECTS[i % len(SUBJECTS)]
            + ACTIONS[(i // 3) % len(ACTIONS)]
            + "，"
            + SCENES[(i // 5) % len(SCENES)]
        )
        item = {
            "id": f"f{i:03d}",
            "prompt": prompt,
            "seed": 1000 + i,
            "preset": preset,
            "duration": 8 if i % 8 == 7 else 3,
        }
        if image:
            item["image"] = REFERENCE_KEY
        if i == HELD_INDEX:
            item["require_approval"] = True
        items.append(item)
    return items


def fake_weights(root: Path) -> dict[str, str]:
    """A small directory per model: what ``locate`` finds and the clip hash fingerprints."""
    classes = {
        "t2v-a14b": {"_class_name": "WanPipeline", "boundary_ratio": 0.875},
        "i2v-a14b": {"_class_name": "WanImageToVideoPipeline", "transformer_2": ["x", "y"]},
        "ti2v-5b": {"_class_name": "WanPipeline", "expand_timesteps": True},
    }
    env = {}
    for name, index in classes.items():
        folder = root / name
        (folder / "transformer").mkdir(parents=True, exist_ok=True)
        (folder / "model_index.json").write_text(json.dumps(index))
        weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(name.encode() * 512)
        env[f"WANFLOW_MODEL_{name.split('-')[0].upper()}"] = str(folder)
    return env


def clip_checkpoint(path: Path) -> Path:
    """Random OpenCLIP ViT-S-32 weights: the zero-shot classifier runs and finds nothing."""
    from safetensors.torch import save_file

    from moderation.zeroshot import ZeroShotClassifier

    model = ZeroShotClassifier.random_weights(model="ViT-S-32")
    model.load()
    save_file({k: v.contiguous() for k, v in model.module.state_dict().items()}, str(path))
    return path


def reference_png(path: Path) -> bytes:
    import numpy as np

    from wanflow.video import write_png

    frame = np.full((36, 64, 3), 120, dtype=np.uint8)
    frame[:, 32:] = 200
    return write_png(frame, path).read_bytes()


# --- one run ------------------------------------------------------------------------------------
@dataclass
class Probes:
    """Filled in this process by the wrappers ``instrument`` installs."""

    sent: dict[tuple[str, int], float] = field(default_factory=dict)  # (item, shot) → .delay()
    held: dict[str, float] = field(default_factory=dict)  # item → when it was put on hold


def instrument(probes: Probes) -> None:
    """Time each shot's dispatch and each hold: wrappers, the production code unchanged."""
    import flows.items as items
    import tasks.dispatch as dispatch

    send = dispatch.Dispatcher._send

    def _send(self, job, *args, **kwargs):
        probes.sent[(job.item_id, job.shot)] = time.time()  # a re-sent shot: its last dispatch
        return send(self, job, *args, **kwargs)

    dispatch.Dispatcher._send = _send
    hold = items.hold

    def _hold(outcome, because):
        probes.held.setdefault(outcome.id, time.time())
        return hold(outcome, because)

    items.hold = _hold


class Bench:
    def __init__(self, tmp: Path, scale: float, probes: Probes) -> None:
        self.tmp, self.scale, self.probes = tmp, scale, probes
        self.png = reference_png(tmp / "reference.png")

    def run(self, label: str, items: list[dict], workers: int) -> dict:
        from flows.produce_manifest import produce_manifest
        from wanflow.fleet import read_beats
        from wanflow.settings import Settings
        from wanflow.storage import Storage

        os.environ["WANFLOW_S3_BUCKET"] = f"fleet-{label}-{secrets.token_hex(3)}"
        settings = Settings()
        store = Storage.from_settings(settings)
        store.ensure_bucket()
        store.put_bytes(REFERENCE_KEY, self.png, content_type="image/png")
        store.put_bytes(MANIFEST_KEY, json.dumps(items, ensure_ascii=False).encode())
        folder = self.tmp / label
        folder.mkdir()
        procs = [self._start_worker(folder, f"sim-{i}", i) for i in range(workers)]
        try:
            self._wait_for_workers(store, procs, folder)
            self.probes.sent.clear()
            self.probes.held.clear()
            load_before = os.getloadavg()
            start = time.time()
            report = produce_manifest(manifest_key=MANIFEST_KEY)
            wall = time.time() - start
            load_after = os.getloadavg()
        finally:
            for proc in procs:
                _stop(proc)
        beats = [b for b in read_beats(store) if b.worker.startswith("sim-")]
        events = []
        for path in folder.glob("events-*.jsonl"):
            events += [json.loads(line) for line in path.read_text().splitlines() if line]
        return figures(
            label, items, workers, report, wall, start, beats, events, self.probes, settings
        ) | {"load_avg": {"before": load_before, "after": load_after}}

    def _start_worker(self, folder: Path, name: str, gpu: int) -> subprocess.Popen:
        from wanflow.lifetime import die_with_parent

        env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
        command = [
            sys.executable, str(SCRIPT), "--worker", str(folder / f"events-{name}.jsonl"),
            str(self.scale), "gpu-worker", "--name", name, "--gpu", str(gpu),
        ]  # fmt: skip
        with (folder / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent(),
            )  # fmt: skip

    def _wait_for_workers(self, store, procs, folder: Path, timeout_s: float = 300) -> None:
        from wanflow.fleet import read_beats

        names = {f"sim-{i}" for i in range(len(procs))}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    log = (folder / f"sim-{i}.log").read_text(errors="replace")[-3000:]
                    raise SystemExit(f"worker sim-{i} exited with {proc.returncode}:\n{log}")
            seen = {b.worker for b in read_beats(store) if not b.stopping}
            if names <= seen:
                return
            time.sleep(0.5)
        raise SystemExit(f"the workers did not all report within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen, grace_s: float = 60) -> None:
    """SIGTERM (the worker drains and writes its last record), SIGKILL after ``grace_s``."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- figures ------------------------------------------------------------------------------------
def figures(label, items, workers, report, wall, start, beats, events, probes, settings) -> dict:
    shots_done = [e for e in events if "gpu_start" in e]
    statuses = report.counts()
    published = {o.id: o.published.at.timestamp() for o in report.items if o.published is not None}
    first_publish = min(published.values()) - start if published else None
    render_s = sum(e["gpu_end"] - e["gpu_start"] for e in shots_done)
    stages = report.stages
    cpu_stage_s = sum(stages.get(s, 0.0) for s in ("review", "compose", "publish"))
    overhead = _dispatch_overhead(shots_done, probes)
    run = {
        "label": label,
        "workers": workers,
        "items": len(items),
        "shots": sum(o.shots or 0 for o in report.items),
        "status": report.status,
        "statuses": statuses,
        "wall_s": wall,
        "speedup": None,  # filled in against the 1-worker run
        "gpu_busy_fraction": sum(b.busy_s for b in beats) / (workers * wall),
        "busy_while_queued": _busy_while_queued(shots_done, probes, workers),
        "stranded_idle_s": _stranded(shots_done, beats, probes),
        "model_loads": sum(sum(b.loads.values()) for b in beats),
        "loads_per_worker": {
            b.worker: dict(b.loads) for b in sorted(beats, key=lambda b: b.worker)
        },
        "models_rendered": _models_per_worker(shots_done, beats),
        "dispatch_overhead_s": overhead["mean_s"],
        "dispatch_overhead": overhead,
        "first_publish_s": first_publish,
        "clean_published_while_held": _clean_while_held(report, published, probes),
        "render_s": render_s,
        "ideal_s": render_s / workers,
        "generate_s": stages.get("generate"),
        "cpu_stage_s": cpu_stage_s,
        "cpu_concurrency": settings.cpu_concurrency,
        "after_last_shot_s": (
            start + wall - max(e["gpu_end"] for e in shots_done) if shots_done else None
        ),
        "shots_rendered": len(shots_done),
        "worker_shots": sum(b.shots for b in beats),
        "stages": dict(stages),
    }
    run["cpu_bound"] = cpu_stage_s / settings.cpu_concurrency > run["ideal_s"]
    return run


def _busy_while_queued(shots: list[dict], probes: Probes, workers: int) -> float | None:
    """Simulated GPU seconds inside [first dispatch, last shot's start] / (workers × window)."""
    if not shots or not probes.sent:
        return None
    begin = min(probes.sent.values())
    end = max(e["gpu_start"] for e in shots)
    if end <= begin:
        return None
    busy = sum(max(0.0, min(e["gpu_end"], end) - max(e["gpu_start"], begin)) for e in shots)
    return busy / (workers * (end - begin))


def _stranded(shots: list[dict], beats, probes: Probes) -> float | None:
    """Seconds workers sat idle for good (after their last shot, or from the first dispatch for
    one that got none) while some shot, held by another worker, had yet to start; summed."""
    if not shots or not probes.sent:
        return None
    last_start = max(e["job_start"] for e in shots)
    begin = min(probes.sent.values())
    ends: dict[int, float] = {b.pid: begin for b in beats}
    for e in shots:
        ends[e["pid"]] = max(ends.get(e["pid"], begin), e["job_end"])
    return sum(max(0.0, last_start - end) for end in ends.values())


def _dispatch_overhead(shots: list[dict], probes: Probes) -> dict[str, float | None]:
    """Per shot, from when its worker could have started it (the later of its dispatch and the
    end of the worker's previous GPU work) to the start of its GPU work: the mean over shots
    (``mean_s``), over each worker's first shot (its first task run in the process pays for
    imports and connections) and over the others; and, over the others, the mean of its parts:
    the previous shot's work after the GPU (mp4, checksums, uploads), Prefect's hand-over (from
    the later of the dispatch and the previous shot's end to ``render_job``'s start: the task
    run's completion, the next run's parameters read from the bucket, its engine start) and
    ``render_job``'s work before the GPU (settings, cache check, reference download)."""
    gaps: list[float] = []
    first: list[float] = []
    parts = {"after_gpu_s": [], "handover_s": [], "before_gpu_s": []}
    by_worker: dict[int, list[dict]] = {}
    for e in shots:
        by_worker.setdefault(e["pid"], []).append(e)
    for done in by_worker.values():
        done.sort(key=lambda e: e["gpu_start"])
        gpu_end = job_end = float("-inf")  # the worker's previous shot
        for e in done:
            sent = probes.sent.get((e["item"], e["shot"]))
            if sent is None:
                continue
            free = max(sent, gpu_end)
            if gpu_end == float("-inf"):
                first.append(e["gpu_start"] - free)
            else:
                gaps.append(e["gpu_start"] - free)
                parts["after_gpu_s"].append(max(0.0, job_end - free))
                parts["handover_s"].append(e["job_start"] - max(free, job_end))
                parts["before_gpu_s"].append(e["gpu_start"] - e["job_start"])
            gpu_end, job_end = e["gpu_end"], e["job_end"]
    every = first + gaps
    return {
        "mean_s": _mean(every),
        "first_shot_s": _mean(first),
        "later_shots_s": _mean(gaps),
        **{name: _mean(values) for name, values in parts.items()},
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _models_per_worker(shots: list[dict], beats) -> dict[str, list[str]]:
    pids = {b.pid: b.worker for b in beats}
    found: dict[str, set[str]] = {}
    for e in shots:
        found.setdefault(pids.get(e["pid"], str(e["pid"])), set()).add(e["model"])
    return {w: sorted(m) for w, m in sorted(found.items())}


def _clean_while_held(report, published: dict[str, float], probes: Probes) -> bool | None:
    held = [o for o in report.items if o.id in probes.held and o.approval is not None]
    if not held:
        return None
    clean = {i: t for i, t in published.items() if i not in probes.held}
    return any(
        probes.held[o.id] < t < o.approval.at.timestamp() for o in held for t in clean.values()
    )


def targets(run: dict, solo_s: float | None, largest: int, models: int) -> dict:
    loads_exact = all(
        sorted(loads) == run["models_rendered"].get(worker, [])
        and all(n == 1 for n in loads.values())
        for worker, loads in run["loads_per_worker"].items()
    )
    out = {
        "busy_while_queued": _at_least(run["busy_while_queued"], BUSY_TARGET),
        "one_load_per_worker_per_model": loads_exact
        and run["model_loads"] <= run["workers"] * models,
        "dispatch_overhead": _at_most(run["dispatch_overhead_s"], OVERHEAD_TARGET_S),
        "first_publish": _at_most(
            run["first_publish_s"], FIRST_PUBLISH_TARGET * solo_s if solo_s else None
        ),
    }
    if run["workers"] == largest and run["speedup"] is not None and largest > 1:
        out["speedup"] = run["speedup"] >= SPEEDUP_TARGET * largest
    return out


def _at_least(value, bound):
    return None if value is None or bound is None else value >= bound


def _at_most(value, bound):
    return None if value is None or bound is None else value <= bound


# --- the whole benchmark ------------------------------------------------------------------------
def _prepare_environment(tmp: Path, resident: int, approval_timeout: float) -> None:
    """Before Prefect is imported: a private home, no telemetry; Wanflow's settings for a
    remote fleet on fake weights, reviews that pass, held items that wait a little."""
    for name in list(os.environ):
        if name.startswith(("WANFLOW_", "PREFECT_")):
            del os.environ[name]
    lenient = {c: {"review": 1.0, "block": 1.0} for c in ("violence", "gore", "blood", "weapons",
                                                         "sexual", "nudity")}  # fmt: skip
    os.environ |= {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "WANFLOW_MODEL_DIR": str(tmp / "models"),
        "WANFLOW_DEVICE": "cpu",
        "WANFLOW_OUTPUT_DIR": str(tmp / "out"),
        "WANFLOW_FLEET": "remote",
        "WANFLOW_WORKER_HEARTBEAT_S": "1",
        "WANFLOW_WORKER_STALE_S": "120",  # 2 cores, up to 9 busy processes: no false deaths
        "WANFLOW_RESIDENT_MODELS": str(resident),
        "WANFLOW_APPROVAL_TIMEOUT_S": str(approval_timeout),
        "WANFLOW_APPROVAL_POLL_S": "1",
        "WANFLOW_CLIP_MODEL": "ViT-S-32",
        "WANFLOW_REVIEW_THRESHOLDS": json.dumps(lenient),
        **fake_weights(tmp / "models"),
    }


def _runs(tmp: Path, args: argparse.Namespace) -> tuple[dict | None, dict, list[dict], float]:
    """The warm-up, the solo run and one run per worker count, with the servers they share."""
    _prepare_environment(tmp, args.resident, args.approval_timeout)
    from wanflow.lifetime import prefect_server
    from wanflow.localserver import LocalS3Server

    started = time.perf_counter()
    os.environ["WANFLOW_CLIP_WEIGHTS"] = str(clip_checkpoint(tmp / "vit-s-32.safetensors"))
    access, secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    with LocalS3Server(tmp / "s3", access, secret) as server, prefect_server():
        os.environ |= {
            "WANFLOW_S3_ENDPOINT": server.endpoint,
            "WANFLOW_S3_ACCESS_KEY": access,
            "WANFLOW_S3_SECRET_KEY": secret,
        }
        probes = Probes()
        instrument(probes)
        bench = Bench(tmp, args.time_scale, probes)
        setup_s = time.perf_counter() - started
        warm = None
        if not args.no_warm_up:
            warm = bench.run("warm-up", manifest(1, first=args.items + 1), 1)
        solo = bench.run("solo", manifest(1), 1)
        runs = [bench.run(f"w{n}", manifest(args.items), n) for n in args.workers]
    return warm, solo, runs, setup_s


def run_all(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="wanflow-bench-fleet-"))
    try:
        warm, solo, runs, setup_s = _runs(tmp, args)
    finally:
        if args.keep:
            print(f"kept the workers' logs and shot timelines in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    models = len({MODEL_OF[KINDS[i % len(KINDS)]] for i in range(args.items)})
    base = next((r for r in runs if r["workers"] == 1), None)
    for run in runs:
        if base is not None:
            run["speedup"] = base["wall_s"] / run["wall_s"]
        run["solo_publish_s"] = solo["first_publish_s"]
        run["targets"] = targets(run, solo["first_publish_s"], max(args.workers), models)
    return {
        "models": models,
        "items": args.items,
        "time_scale": args.time_scale,
        "resident_models": args.resident,
        "setup_s": setup_s,
        "cpus": os.cpu_count(),
        "warm_up": _brief(warm) if warm else None,
        "solo": _brief(solo),
        "runs": runs,
    }


def _brief(run: dict) -> dict:
    keys = ("status", "statuses", "wall_s", "first_publish_s", "render_s", "load_avg")
    return {k: run[k] for k in keys}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _verdict(value) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[value]


def print_figures(result: dict) -> None:
    solo, warm = result["solo"], result["warm_up"]
    print(
        f"fleet: {result['items']} items over {result['models']} models, time scale "
        f"{result['time_scale']:g} (a shot sleeps its H100 estimate × scale), "
        f"{result['resident_models']} resident model(s) per worker, {result['cpus']} CPUs; "
        f"set-up {result['setup_s']:.1f} s"
    )
    if warm is not None:
        print(
            f"  warm-up (1 item, 1 worker, not counted): {warm['status']}, "
            f"wall {warm['wall_s']:.1f} s"
        )
    print(
        f"  solo (item 1 alone, 1 worker): {solo['status']}, published after "
        f"{_fmt(solo['first_publish_s'], '.1f')} s (one item's own latency), GPU "
        f"{solo['render_s']:.1f} s"
    )
    print(
        f"  {'workers':>7} {'shots':>5} {'items':>5} {'wall s':>7} {'speedup':>7} "
        f"{'busy/wall':>9} {'busy/queued':>11} {'loads':>5} {'ovh s/shot':>10} "
        f"{'1st pub s':>9} {'clean<held':>10} {'load avg':>9}"
    )
    for r in result["runs"]:
        load = r["load_avg"]
        print(
            f"  {r['workers']:>7} {r['shots']:>5} {r['items']:>5} {r['wall_s']:7.1f} "
            f"{_fmt(r['speedup'], '7.2f')} {r['gpu_busy_fraction']:9.2f} "
            f"{_fmt(r['busy_while_queued'], '11.2f')} {r['model_loads']:>5} "
            f"{_fmt(r['dispatch_overhead_s'], '10.3f')} {_fmt(r['first_publish_s'], '9.1f')} "
            f"{r['clean_published_while_held']!s:>10} "
            f"{load['before'][0]:4.1f}/{load['after'][0]:<4.1f}"
        )
    for r in result["runs"]:
        dominated = (
            "CPU-bound: wall, speedup and busy/wall measure the CPU stages on this machine"
            if r["cpu_bound"]
            else "GPU-bound"
        )
        print(
            f"  {r['workers']} worker(s): {r['statuses']}; GPU {r['render_s']:.1f} s "
            f"(ideal {r['ideal_s']:.1f} s per worker), generate stage "
            f"{_fmt(r['generate_s'], '.1f')} s, review+compose+publish {r['cpu_stage_s']:.1f} s "
            f"summed ({r['cpu_concurrency']} at once), {_fmt(r['after_last_shot_s'], '.1f')} s "
            f"after the last shot; workers idle for good while shots still waited on others: "
            f"{_fmt(r['stranded_idle_s'], '.1f')} s: {dominated}"
        )
        o = r["dispatch_overhead"]
        print(
            f"    GPU idle per shot: {_fmt(o['first_shot_s'], '.3f')} s for a worker's first, "
            f"{_fmt(o['later_shots_s'], '.3f')} s for the others, made of: previous shot after "
            f"the GPU {_fmt(o['after_gpu_s'], '.3f')} s, Prefect's hand-over "
            f"{_fmt(o['handover_s'], '.3f')} s, render_job before the GPU "
            f"{_fmt(o['before_gpu_s'], '.3f')} s"
        )
        t = r["targets"]
        parts = [
            f"busy while queued ≥ {BUSY_TARGET} {_verdict(t['busy_while_queued'])}",
            f"one load per worker per model {_verdict(t['one_load_per_worker_per_model'])}",
            f"overhead ≤ {OVERHEAD_TARGET_S} s/shot {_verdict(t['dispatch_overhead'])}",
            f"first publication ≤ {FIRST_PUBLISH_TARGET} × solo {_verdict(t['first_publish'])}",
        ]
        if "speedup" in t:
            parts.insert(0, f"speedup ≥ {SPEEDUP_TARGET} × {r['workers']} {_verdict(t['speedup'])}")
        print(f"    targets: {'; '.join(parts)}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=64, help="items of the manifest")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument(
        "--time-scale", type=float, default=0.05, help="simulated s per estimated H100 s"
    )
    parser.add_argument("--resident", type=int, default=3, help="models a worker keeps loaded")
    parser.add_argument("--approval-timeout", type=float, default=2.0, help="s the held item waits")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument(
        "--no-warm-up", action="store_true", help="no warm-up run (the first run then pays it)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, shot timelines)"
    )
    args = parser.parse_args()
    if args.items < 1 or min(args.workers) < 1 or args.time_scale <= 0:
        parser.error("--items, --workers and --time-scale must be positive")
    args.workers = sorted(set(args.workers))
    result = run_all(args)
    print_figures(result)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
