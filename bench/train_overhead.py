"""Overhead of `ganarena train` (Ray Train, 1 worker, MLflow) over the same gan_core loop in plain PyTorch.

For each config, 3 back-to-back pairs of:
  * ``ganarena train CONFIG`` as a user runs it (a subprocess that starts its own local Ray); its
    steady-state samples/s is the median of the ``samples_per_s`` windows it logged to MLflow
    (read with MlflowClient);
  * ``gan_core.fit`` on the same config in a fresh subprocess (1 torch thread, as the Ray worker
    gets on this machine), timed over the same logging windows, at the Ray worker's scheduling
    priority: a local instance of ganarena starts its workers at niceness 0 (``RAY_worker_niceness``;
    Ray's own default is 15); ``--plain-nice`` sets the plain loop's.
Evaluation and checkpoints happen only at the last step in both (``eval.every = train.ckpt_every =
steps``), so the windows measure training throughput, not evaluation cost. Also measured: the wall
time from the command's start to its first training step, next to ``ray.init`` alone.

    .venv/bin/python -m bench.train_overhead            # writes bench/results/train_overhead.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.rayctl import WORKER_NICENESS

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "train_overhead.json"
CASES = {  # name -> (config, overrides applied to both sides)
    "mlp_toy_ring": ("configs/toy_ring.yaml", ["train.steps=2000", "train.log_every=100"]),
    "dcgan_mnist5k_28px": ("configs/mnist5k_dcgan.yaml", ["train.steps=300", "train.log_every=25"]),
}


def _overrides(base: list[str]) -> list[str]:
    steps = next(int(o.split("=")[1]) for o in base if o.startswith("train.steps="))
    return [*base, f"eval.every={steps}", f"train.ckpt_every={steps}"]


def _stats(xs: list[float]) -> dict[str, float]:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def plain_loop(config: str, overrides: list[str]) -> dict[str, float]:
    """gan_core.fit on one torch thread; samples/s over the same windows the runner logs."""
    import torch

    from gan_core.build import build_trainer, spec_of
    from gan_core.data import build_dataset
    from gan_core.loop import BatchStream, fit
    from gan_core.noise import ShardedNoise
    from pipeline.experiment import load_experiment

    torch.set_num_threads(1)
    cfg = load_experiment(REPO / config, overrides).gan
    t = cfg.train
    ds = build_dataset(cfg.data, seed=cfg.seed)
    trainer = build_trainer(cfg, spec_of(ds), noise=ShardedNoise(0, 1))
    torch.manual_seed(cfg.seed * 7919)
    stream = BatchStream(ds, t.batch_size, seed=cfg.seed)
    stamps: list[tuple[int, float]] = []

    def callback(tr, logged):
        if logged is not None:
            stamps.append((tr.step, time.perf_counter()))

    fit(trainer, stream, t.steps, t.log_every, callback)
    rates = [(s1 - s0) * t.batch_size * t.n_critic / (t1 - t0)
             for (s0, t0), (s1, t1) in itertools.pairwise(stamps)]
    return {"samples_per_s": statistics.median(rates), "windows": len(rates)}


def plain_subprocess(name: str, overrides: list[str], nice: int) -> dict[str, float]:
    """``plain_loop`` in a fresh process at niceness ``nice`` (ganarena's Ray workers: 0)."""
    code = (f"import json, sys\nsys.path.insert(0, {str(REPO)!r})\nfrom bench.train_overhead import plain_loop\n"
            f"print(json.dumps(plain_loop({CASES[name][0]!r}, {overrides!r})))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         preexec_fn=lambda: os.nice(nice))
    return json.loads(out.stdout.strip().splitlines()[-1])


def ganarena_train(config: str, overrides: list[str], workdir: Path) -> dict[str, float]:
    """One `ganarena train` subprocess (own local Ray); steady state and start-up read back from MLflow."""
    from mlflow.tracking import MlflowClient

    from pipeline.experiment import load_experiment

    t = load_experiment(REPO / config, overrides).gan.train
    sets = [a for o in overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    t0 = time.time()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ganarena"), "train", str(REPO / config), *sets,
                           "--workdir", str(workdir), "--name", "bench"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ganarena train failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    c = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = c.get_experiment_by_name("ganarena-train")
    (run,) = c.search_runs([exp.experiment_id], "tags.`ganarena.name` = 'bench'")
    rates = [m.value for m in c.get_metric_history(run.info.run_id, "samples_per_s")]
    first_log = min(c.get_metric_history(run.info.run_id, "d_loss"), key=lambda m: m.step)
    rate = statistics.median(rates)
    step_s = t.batch_size * t.n_critic / rate
    # the first logged step is step `log_every`; the first step began ~log_every steady steps before it
    first_step = first_log.timestamp / 1000 - t0 - first_log.step * step_s
    return {"samples_per_s": rate, "windows": len(rates), "start_to_first_step_s": first_step,
            "start_to_first_log_s": first_log.timestamp / 1000 - t0, "wall_s": wall}


def ray_init_alone() -> float:
    """`init_ray()` (what `ganarena train` calls) in a fresh process, import excluded."""
    code = ("import time, ray\nfrom pipeline.rayctl import init_ray\n"
            "t = time.perf_counter(); init_ray(); print(time.perf_counter() - t)\nray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--plain-nice", type=int, default=int(WORKER_NICENESS),
                    help="niceness of the plain loop (default: ganarena's Ray workers')")
    args = ap.parse_args()
    results: dict = {"host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "loadavg_start": os.getloadavg()},
                     "method": "median samples/s over logging windows; eval+ckpt only at the last step; "
                               "ganarena train = subprocess with its own local Ray, 1 worker, MLflow on "
                               "(a new workdir each run; its database copied from the cached empty one, "
                               "which the machine's first run makes: +1.3 s once); "
                               "plain = gan_core.fit in a fresh process, 1 torch thread, niceness "
                               f"{args.plain_nice} (Ray workers run at {WORKER_NICENESS}); pairs run back to back",
                     "cases": {}}
    for name in args.cases:
        config, base = CASES[name]
        ov = _overrides(base)
        pipe, plain = [], []
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="ganarena-bench-") as tmp:
                pipe.append(ganarena_train(config, ov, Path(tmp)))
            plain.append(plain_subprocess(name, ov, args.plain_nice))
            print(f"{name} #{i}: ganarena train {pipe[-1]['samples_per_s']:,.0f} samples/s, plain "
                  f"{plain[-1]['samples_per_s']:,.0f} samples/s, first step after "
                  f"{pipe[-1]['start_to_first_step_s']:.1f} s", flush=True)
        pr, lr = [p["samples_per_s"] for p in pipe], [p["samples_per_s"] for p in plain]
        results["cases"][name] = {
            "config": config, "overrides": ov,
            "ganarena_train_samples_per_s": _stats(pr), "plain_pytorch_samples_per_s": _stats(lr),
            "ratio_of_medians": statistics.median(pr) / statistics.median(lr),
            "ratio_per_pair": _stats([a / b for a, b in zip(pr, lr, strict=True)]),
            "start_to_first_step_s": _stats([p["start_to_first_step_s"] for p in pipe]),
            "start_to_first_log_s": _stats([p["start_to_first_log_s"] for p in pipe]),
            "command_wall_s": _stats([p["wall_s"] for p in pipe]),
            "runs": {"ganarena_train": pipe, "plain_pytorch": plain},
        }
    results["ray_init_alone_s"] = _stats([ray_init_alone() for _ in range(args.repeats)])
    results["host"]["loadavg_end"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results["cases"].items():
        print(f"{name}: ratio {r['ratio_of_medians']:.3f} (pairs {r['ratio_per_pair']['min']:.3f}.."
              f"{r['ratio_per_pair']['max']:.3f}); first step {r['start_to_first_step_s']['median']:.1f} s")
    print(f"ray.init alone: {results['ray_init_alone_s']['median']:.1f} s; wrote {OUT}")


if __name__ == "__main__":
    main()
