"""Side by side: Wanflow against what a user would write by hand for the same job.

The two run in turn (Wanflow, baseline, Wanflow, baseline, …) on the same input, so a change in
the machine's load between runs falls on both sides alike: on a busy machine either figure alone
says little, but the ratio of their medians stays fair. CPU seconds include child processes
(ffmpeg, espeak-ng), so both sides are charged for the work they hand off.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


@dataclass
class Comparison:
    """Seconds per run of each side, in the order they ran, and the load around them."""

    wanflow_runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    wanflow_cpu: list[float] = field(default_factory=list)
    baseline_cpu: list[float] = field(default_factory=list)
    load_start: list[float] = field(default_factory=list)
    load_end: list[float] = field(default_factory=list)

    @property
    def wanflow_s(self) -> float:
        return statistics.median(self.wanflow_runs)

    @property
    def baseline_s(self) -> float:
        return statistics.median(self.baseline_runs)

    @property
    def ratio(self) -> float:
        return self.wanflow_s / self.baseline_s

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.wanflow_cpu) / max(statistics.median(self.baseline_cpu), 1e-9)

    def lines(self, unit: Callable[[float], str] | None = None) -> list[str]:
        """What to print: each side's median and runs, the ratio and the load."""
        out = []
        for name, runs, cpu in (
            ("wanflow", self.wanflow_runs, self.wanflow_cpu),
            ("baseline", self.baseline_runs, self.baseline_cpu),
        ):
            median = statistics.median(runs)
            extra = f"  {unit(median)}" if unit else ""
            shown = ", ".join(f"{s:.2f}" for s in runs)
            out.append(
                f"{name:<9} median {median:8.3f} s{extra}  (runs {shown}; "
                f"CPU {statistics.median(cpu):.2f} s)"
            )
        out.append(
            f"ratio wanflow/baseline {self.ratio:.2f} (CPU {self.cpu_ratio:.2f}); load average "
            f"{self.load_start[0]:.2f} at start, {self.load_end[0]:.2f} at end"
        )
        return out

    def figures(self, **extra: Any) -> dict[str, Any]:
        return {
            "wanflow_s": round(self.wanflow_s, 6),
            "baseline_s": round(self.baseline_s, 6),
            "ratio": round(self.ratio, 4),
            "wanflow_runs": [round(s, 6) for s in self.wanflow_runs],
            "baseline_runs": [round(s, 6) for s in self.baseline_runs],
            "wanflow_cpu_s": round(statistics.median(self.wanflow_cpu), 4),
            "baseline_cpu_s": round(statistics.median(self.baseline_cpu), 4),
            "cpu_ratio": round(self.cpu_ratio, 4),
            "repeats": len(self.wanflow_runs),
            "load_avg": {"start": self.load_start, "end": self.load_end},
            **extra,
        }


def alternate(
    wanflow: Callable[[], Any],
    baseline: Callable[[], Any],
    repeats: int,
    *,
    warm_up: bool = False,
) -> Comparison:
    """Run ``wanflow`` and ``baseline`` in turn ``repeats`` times each, timing every run.

    ``warm_up`` runs each once first, untimed (model loads, caches a long-lived worker keeps).
    Each run starts after a full garbage collection, untimed. Otherwise a collection of what the
    process holds lands in some runs and not in others: the text screener's build leaves about
    400,000 objects, whose collection takes longer than a tenth of a run, and it fell in two of
    three Wanflow runs and one of three baseline runs, or in six of seven and three of seven,
    moving the ratio of medians between 1.6 and 2.1.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    result = Comparison(load_start=_load())
    if warm_up:
        wanflow()
        baseline()
    for _ in range(repeats):
        for fn, runs, cpus in (
            (wanflow, result.wanflow_runs, result.wanflow_cpu),
            (baseline, result.baseline_runs, result.baseline_cpu),
        ):
            gc.collect()
            cpu, start = _cpu(), time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
            cpus.append(_cpu() - cpu)
    result.load_end = _load()
    return result


def report(comparison: Comparison, as_json: bool, unit=None, **extra: Any) -> None:
    """Print the comparison; with ``as_json`` the last line is its figures as one JSON object."""
    for line in comparison.lines(unit):
        print(line)
    if as_json:
        print(json.dumps(comparison.figures(**extra), ensure_ascii=False))
