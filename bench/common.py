"""Small helpers shared by the benchmarks: statistics, host facts, clean subprocess env, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def stats(xs: list[float]) -> dict[str, float]:
    """min / median / max of a list of repeats."""
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def host() -> dict[str, Any]:
    """Machine facts and the code measured: commit plus gan_core/pipeline files changed but not committed."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    dirty = [line.split(maxsplit=1)[-1] for line in git("status", "--porcelain", "--", "gan_core", "pipeline").splitlines()]
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": os.getloadavg(),
            "commit": git("rev-parse", "--short", "HEAD"), "uncommitted_code": dirty}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would join another engineer's Ray or MLflow."""
    drop = ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "GANARENA_HOME")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def setup_run(cfg: Any, n_eval: int) -> tuple[Any, Any, Any]:
    """(dataset, trainer, evaluator) of a benchmark run of ``cfg``, seeded as a one-worker ``ganarena train``."""
    import torch

    from gan_core.build import build_trainer, spec_of
    from gan_core.data import build_dataset
    from gan_core.noise import ShardedNoise
    from gan_core.tasks import run_evaluator

    ds = build_dataset(cfg.data, seed=cfg.seed)
    trainer = build_trainer(cfg, spec_of(ds), noise=ShardedNoise(0, 1))
    torch.manual_seed(cfg.seed * 7919)
    evaluator = run_evaluator(cfg, n_fake=n_eval)
    return ds, trainer, evaluator


def write(name: str, result: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json (with the end load average) and return its path."""
    result.setdefault("host", host())["loadavg_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    return out
