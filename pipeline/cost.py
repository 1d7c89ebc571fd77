"""What a run has cost: CPU-seconds of every worker process, wall seconds, samples seen, GPU-seconds.

Logged as MLflow metrics (``cost_cpu_s``, ``cost_wall_s``, ``cost_gpu_s``, ``samples_seen``) at every
evaluation or checkpoint step and at the end, and kept in each checkpoint, so a resumed run (``--resume``,
a restarted worker) continues its count instead of starting over. What is counted is the cost of the
progress kept: work redone after a crash since the last checkpoint is not added twice.

CPU-seconds are ``time.process_time()`` of each worker process (every thread: data loading, training,
evaluation), summed over the workers; GPU-seconds are wall seconds times the GPUs the run holds.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

KEYS = ("cost_cpu_s", "cost_wall_s", "cost_gpu_s", "samples_seen")


class Cost:
    """A run's running cost, counted from its creation (before data and models are built)."""

    def __init__(self) -> None:
        self.carried = dict.fromkeys(KEYS[:3], 0.0)
        self.gpus = 0
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        self.others = 0.0  # the other workers' CPU-seconds at the latest ``now``

    def resume(self, carried: dict[str, float] | None, gpus: int) -> None:
        """Continue from what a checkpoint recorded (None: a fresh run); ``gpus``: the GPUs the run holds."""
        self.carried = {k: float((carried or {}).get(k, 0.0)) for k in KEYS[:3]}
        self.gpus = gpus

    def now(self, total: Any, samples_seen: int) -> dict[str, float]:
        """The cost so far; ``total`` sums a number over the workers (every worker must call this together)."""
        mine = time.process_time() - self.cpu0
        self.others = total(mine) - mine
        return self.local(samples_seen)

    def local(self, samples_seen: int) -> dict[str, float]:
        """The cost so far without asking the other workers (their CPU as of the latest ``now``): for work
        only this worker does, such as a final evaluation on rank 0."""
        cpu = time.process_time() - self.cpu0 + self.others
        wall = time.perf_counter() - self.wall0
        return {"cost_cpu_s": self.carried["cost_cpu_s"] + cpu, "cost_wall_s": self.carried["cost_wall_s"] + wall,
                "cost_gpu_s": self.carried["cost_gpu_s"] + wall * self.gpus, "samples_seen": float(samples_seen)}


def cost_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """A sweep report's cost section: every trial's total, then each configuration's mean seed re-run."""
    done = [r for r in rows if math.isfinite(r.get("cost_cpu_s", math.nan))]
    if not done:
        return []
    total = {k: sum(r.get(k, 0.0) for r in done) for k in KEYS}
    lines = ["## Cost", "",
             (f"{len(done)} runs: {total['cost_cpu_s'] / 3600:.3g} CPU-hours, {total['cost_wall_s'] / 3600:.3g} "
             f"hours of run time (runs overlap), {total['cost_gpu_s'] / 3600:.3g} GPU-hours, "
             f"{total['samples_seen']:,.0f} real samples seen. Per run (mean):"), "",
             "| phase | configuration | runs | CPU-s | wall-s | GPU-s | samples seen |", "|---|---|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in done:
        groups.setdefault((r["phase"], r["config"] if r["phase"] == "seed" else "(all search trials)"), []).append(r)
    for (phase, config), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "search", kv[0][1])):
        mean = {k: statistics.fmean(r.get(k, 0.0) for r in rs) for k in KEYS}
        lines.append(f"| {phase} | {config} | {len(rs)} | {mean['cost_cpu_s']:,.0f} | {mean['cost_wall_s']:,.0f} | "
                     f"{mean['cost_gpu_s']:,.0f} | {mean['samples_seen']:,.0f} |")
    return [*lines, ""]
