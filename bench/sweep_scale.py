"""Sweep scale (issue 16): 30, 100 and 300 tiny trials through ``ganarena sweep``, on this machine.

Each size is one ``ganarena sweep configs/toy_ring.yaml --trials N --seeds 0`` subprocess (its own local
Ray, Tune + Optuna TPE + ASHA, MLflow on SQLite) whose trials are as small as a trial gets (a 16-wide MLP,
``STEPS`` steps, one evaluation of 200 samples), so what is measured is the sweep machinery, not training:

* per-trial overhead: the search phase's wall (first search trial's MLflow start to the last one's end)
  times the trials at once, over N: the seconds of a slot one trial occupies;
* throughput: trials per minute over the search phase;
* the driver's memory: the ``ganarena`` process's peak resident set (VmHWM from /proc) and its resident
  set at the end of the search phase (sampled every 0.5 s);
* MLflow: one ``search_runs`` of the sweep's children (all N), and ``ganarena report`` (a fresh process:
  imports, MLflow queries, tables, plots) of the finished sweep;
* the size of Tune's experiment state (saved every second, see pipeline/sweep.py) and of MLflow's database.

Goals: per-trial overhead and driver memory flat within 10% from 30 to 300 trials; report <= 30 s at 300.
Results go to bench/results/sweep_scale.json after each size; a rerun skips the sizes already there
(``--force`` to redo them).

    .venv/bin/python -m bench.sweep_scale [--sizes 30 100 300] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import REPO, RESULTS, clean_env, host

OUT = RESULTS / "sweep_scale.json"
CONFIG = "configs/toy_ring.yaml"
STEPS = 20
SETS = [f"train.steps={STEPS}", f"eval.every={STEPS}", f"train.log_every={STEPS}", "eval.samples=200",
        "data.n_samples=2000", "generator.width=16", "generator.depth=1", "discriminator.width=16",
        "discriminator.depth=1", "train.batch_size=64", "sweep.grace_evals=1"]


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of ``pid`` in MiB, empty once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM") if k in fields}


def _search_span(uri: str) -> tuple[float, float, int, float]:
    """(first start, last end) of the search children in seconds, how many, and one search_runs' time."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("scale")
    t0 = time.perf_counter()
    runs = client.search_runs([exp.experiment_id], "tags.`ganarena.phase` = 'search'", max_results=5000)
    search_s = time.perf_counter() - t0
    starts = [r.info.start_time for r in runs]
    ends = [r.info.end_time for r in runs if r.info.end_time]
    return min(starts) / 1000, max(ends) / 1000, len(runs), search_s


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sweep-scale-") as tmp:
        workdir = Path(tmp)
        argv = [str(REPO / ".venv/bin/ganarena"), "sweep", CONFIG, "--workdir", str(workdir), "--name", "scale",
                "--trials", str(n), "--seeds", "0"]
        for s in SETS:
            argv += ["--set", s]
        samples: list[tuple[float, dict]] = []
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        while proc.poll() is None:
            mem = _memory(proc.pid)
            if mem:
                samples.append((time.time(), mem))
            time.sleep(0.5)
        reader.join()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{n} trials: exit {proc.returncode}\n{''.join(lines[-60:])}")
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
        first, last, count, search_s = _search_span(uri)
        concurrent = next((int(ln.split(" at a time")[0].rsplit(", ", 1)[-1]) for ln in lines
                           if " at a time" in ln and "phase 1/3" in ln), 2)
        t1 = time.perf_counter()
        rep = subprocess.run([str(REPO / ".venv/bin/ganarena"), "report", "scale", "--workdir", str(workdir)],
                             cwd=REPO, env=clean_env(), capture_output=True, text=True, check=False)
        report_s = time.perf_counter() - t1
        if rep.returncode != 0:
            raise SystemExit(f"report of {n} trials: exit {rep.returncode}\n{rep.stderr[-3000:]}")
        in_search = [m for t, m in samples if first <= t <= last]
        state = sum(f.stat().st_size for f in (workdir / "ray").rglob("experiment_state*.json"))
        span = last - first
        return {"trials": n, "search_runs_found": count, "concurrent": concurrent, "command_wall_s": wall,
                "search_span_s": span, "per_trial_overhead_s": span * concurrent / n,
                "trials_per_minute": 60 * n / span,
                "driver_peak_rss_mib": max(m.get("VmHWM", 0.0) for _, m in samples),
                "driver_rss_end_of_search_mib": in_search[-1]["VmRSS"] if in_search else None,
                "mlflow_search_runs_s": search_s, "report_s": report_s,
                "tune_experiment_state_bytes": state, "mlflow_db_bytes": (workdir / "mlflow.db").stat().st_size,
                "loadavg": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 100, 300])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    result.setdefault("protocol", f"`ganarena sweep {CONFIG} --trials N --seeds 0` with " + " ".join(SETS)
                      + "; a fresh local Ray per size; search phase from MLflow start/end times")
    sizes = result.setdefault("sizes", {})
    for n in args.sizes:
        if str(n) in sizes and not args.force:
            continue
        sizes[str(n)] = {**measure(n), "host": host()}
        small, big = sizes.get(str(min(args.sizes))), sizes.get(str(max(args.sizes)))
        if small and big and small is not big:
            result["ratio_largest_over_smallest"] = {
                k: big[k] / small[k] for k in ("per_trial_overhead_s", "driver_peak_rss_mib", "report_s")}
        OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print(json.dumps(sizes[str(n)], indent=1, default=float))


if __name__ == "__main__":
    main()
