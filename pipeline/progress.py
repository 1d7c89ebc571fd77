"""What ``ganarena sweep`` prints while it runs: a header per phase and one line per trial that ends.

A trial line says which configuration ended how (completed / pruned / diverged / error), its score,
the best score so far, how many trials run and how many are left, and an ETA for the phase (time per
ended trial so far times the trials left, so it includes the concurrency actually reached).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from pipeline.sweep_space import label_of


class SweepProgress:
    """Console lines of one sweep; ``phase`` starts a phase, ``trial_ended`` reports a trial."""

    def __init__(self, metric: str, mode: str):
        # no stream kept: Tune pickles its callbacks with the experiment state, and sys.stdout may not pickle
        self.metric, self.mode = metric, mode
        self.best: float | None = None
        self.total, self.ended, self.t0 = 0, 0, time.perf_counter()
        self.phase_no = 0

    def say(self, text: str) -> None:
        print(f"[ganarena] {text}", file=sys.stdout, flush=True)

    def phase(self, title: str, total: int, detail: str = "", phases: int = 3) -> None:
        """A header: ``phase 1/3: search (12 trials; ...)``; trial counts restart."""
        self.phase_no += 1
        self.total, self.ended, self.t0 = total, 0, time.perf_counter()
        self.say(f"phase {self.phase_no}/{phases}: {title}" + (f" ({detail})" if detail else ""))

    def better(self, score: float) -> bool:
        return self.best is None or (score > self.best if self.mode == "max" else score < self.best)

    def trial_ended(self, trial: Any, status: str, trials: list[Any]) -> str:
        """Print (and return) the line of a trial Tune has just ended with ``status``."""
        self.ended += 1
        result = getattr(trial, "last_result", None) or {}
        cfg = getattr(trial, "config", None) or {}
        run = cfg.get("run") or {}
        params = run.get("params") or dict(cfg)
        label = label_of(params) if "loss" in params else str(getattr(trial, "trial_id", "?"))
        if run.get("seed_index") is not None:
            label += f" seed {run['seed_index']}"
        score = result.get(self.metric)
        scored = status in ("completed", "pruned") and isinstance(score, int | float) and math.isfinite(score)
        if scored and self.better(float(score)):
            self.best = float(score)
        running = sum(1 for t in trials if t is not trial and getattr(t, "status", "") == "RUNNING")
        left = max(self.total - self.ended, 0)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.ended * left if self.ended else float("nan")
        step = result.get("step")
        at = f" at step {int(step)}" if isinstance(step, int | float) and status != "completed" else ""
        line = (f"trial {self.ended}/{self.total} {status}{at}: {label} "
                f"{self.metric}={format(score, '.4g') if scored else '-'} | best "
                f"{'-' if self.best is None else format(self.best, '.4g')} | {running} running, {left} left, "
                f"ETA {_duration(eta) if left else '0 s'}")
        self.say(line)
        return line


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
