"""One node vs two (issue 16): the same 16-trial sweep submitted to ``cluster/local.sh`` with 1 CPU, then 2.

``local.sh up --with-mlflow`` (head + worker node, MLflow on PostgreSQL) with the worker node given 0 CPUs
(one node's worth: 1 CPU) and then 1 CPU (two nodes of 1 CPU each); each time the same
``ray job submit -- ganarena sweep configs/toy_ring.yaml --trials 16 --seeds 0`` (1 CPU per trial, seed 0,
so the same 16 configurations), then ``down --purge``. Throughput is trials per hour over the search
phase (first trial's MLflow start to the last one's end); the goal is >= 1.8x with two nodes. Both
layouts run on this one 2-core machine: the second node's CPU is the machine's second core, so this
measures what distributing trials costs (scheduling across raylets, a second node's processes), not a
bigger machine. Results: bench/results/cluster_scaling.json after each layout; a rerun skips those done.

    .venv/bin/python -m bench.cluster_scaling [--trials 16] [--steps 1500] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import REPO, RESULTS, host

OUT = RESULTS / "cluster_scaling.json"
LOCAL_SH = REPO / "cluster" / "local.sh"
RAY = REPO / ".venv" / "bin" / "ray"
LAYOUTS = {"1 node": "0", "2 nodes": "1"}  # the worker node's CPUs (the head has 1)


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def measure(layout: str, trials: int, steps: int) -> dict:
    state = Path(tempfile.mkdtemp(prefix="gcs-", dir="/tmp"))  # short: Ray's socket paths
    ray_port, client_port, dash_port, mlflow_port, pg_port = _ports(5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "GANARENA_", "MLFLOW_"))}
    env.update(GANARENA_CLUSTER_DIR=str(state), GANARENA_RAY_PORT=str(ray_port),
               GANARENA_RAY_CLIENT_PORT=str(client_port), GANARENA_DASHBOARD_PORT=str(dash_port),
               GANARENA_MLFLOW_PORT=str(mlflow_port), GANARENA_PG_PORT=str(pg_port),
               GANARENA_WORKER_CPUS=LAYOUTS[layout], GANARENA_RAY_BIN=str(RAY), RAY_AUTH_MODE="disabled")
    try:
        up = subprocess.run(["bash", str(LOCAL_SH), "up", "--with-mlflow"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
        if up.returncode != 0:
            raise SystemExit(f"{layout}: local.sh up failed\n{up.stdout[-2000:]}\n{up.stderr[-2000:]}")
        for line in (state / "env").read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        name = f"scale-{layout.replace(' ', '')}"
        entry = ["ganarena", "sweep", "configs/toy_ring.yaml", "--name", name, "--trials", str(trials), "--seeds", "0",
                 "--set", "sweep.cpus_per_worker=1", "--set", f"sweep.grace_evals={2}", "--set", f"train.steps={steps}",
                 "--set", f"eval.every={steps // 2}", "--set", f"train.log_every={steps // 10}",
                 "--set", "eval.samples=500", "--set", "generator.width=64", "--set", "discriminator.width=64"]
        t0 = time.perf_counter()
        job = subprocess.run([str(RAY), "job", "submit", "--address", f"http://127.0.0.1:{dash_port}",
                              "--working-dir", ".", "--", *entry], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=3600, check=False)
        wall = time.perf_counter() - t0
        if job.returncode != 0:
            raise SystemExit(f"{layout}: job failed\n{job.stdout[-3000:]}\n{job.stderr[-3000:]}")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"http://127.0.0.1:{mlflow_port}")
        exp = client.get_experiment_by_name(name)
        runs = [r for r in client.search_runs([exp.experiment_id], max_results=1000)
                if r.data.tags.get("ganarena.phase") == "search"]
        first = min(r.info.start_time for r in runs) / 1000
        last = max(r.info.end_time for r in runs) / 1000
        nodes = sorted({r.data.tags.get("ganarena.worker_nodes", "?") for r in runs})
        return {"layout": layout, "trials": len(runs), "job_wall_s": wall, "search_span_s": last - first,
                "trials_per_hour": 3600 * len(runs) / (last - first), "worker_nodes_seen": len(nodes),
                "cost_cpu_s": sum(r.data.metrics.get("cost_cpu_s", 0.0) for r in runs),
                "loadavg": os.getloadavg()}
    finally:
        subprocess.run(["bash", str(LOCAL_SH), "down", "--purge"], env=env, capture_output=True, timeout=180,
                       check=False)
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    result = json.loads(OUT.read_text()) if OUT.exists() and not args.force else {}
    result["protocol"] = (f"`ray job submit -- ganarena sweep configs/toy_ring.yaml --trials {args.trials} --seeds 0` "
                          f"({args.steps} steps, 64-wide MLPs, 1 CPU per trial) on cluster/local.sh --with-mlflow "
                          "(PostgreSQL); worker node 0 CPUs (1 node) vs 1 CPU (2 nodes); one 2-core machine")
    layouts = result.setdefault("layouts", {})
    for layout in LAYOUTS:
        if layout not in layouts:
            layouts[layout] = {**measure(layout, args.trials, args.steps), "host": host()}
            OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
            print(json.dumps(layouts[layout], indent=1, default=float))
    if len(layouts) == 2:
        result["speedup_2_over_1"] = layouts["2 nodes"]["trials_per_hour"] / layouts["1 node"]["trials_per_hour"]
        OUT.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print("speed-up:", round(result["speedup_2_over_1"], 3))


if __name__ == "__main__":
    main()
