"""The image loss study (issue 15, docs/results.md), carried across sessions in a committed ledger.

``ganarena sweep configs/study_fashion.yaml`` runs the whole study on one machine (``--resume`` finishes it
there). On 2 cores it needs ~10 CPU-hours, more than one 3-hour session, and a session's ``runs/`` folder
does not outlive it. This driver keeps what finished in ``bench/results/loss_study.json``:

  harvest  read a sweep's MLflow database: every search trial (parameters, status, score) and every finished
           seed re-run (its final metrics), merged into the ledger
  run      train the seed re-runs the ledger still lacks with ``ganarena train`` (the configuration the sweep
           would give them: ``pipeline.sweep_space.apply_params`` of the search's best per model), ``--jobs``
           at a time, each recorded as soon as it ends (a killed driver loses only the runs in flight)
  table    the ranking by final FID, mean +- 95% CI over seeds, ties flagged (markdown)
  fill     re-read the kept metrics of the ledger's runs from their MLflow database (e.g. their cost)

The ledger is marked ``partial`` until every model has all its seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS, clean_env, host

LEDGER = RESULTS / "loss_study.json"
CONFIG = "configs/study_fashion.yaml"
METRIC, MODE = "fd", "min"  # the search's metric (our CNN's FD); the table ranks final_fd (Inception FID)
KEPT = ("final_fd", "final_kid", "final_precision", "final_recall", "final_density", "final_coverage", "fd",
        "best_fd", "step", "diverged", "cost_cpu_s", "cost_wall_s", "samples_seen")


def sha1_file(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def load_ledger() -> dict[str, Any]:
    if LEDGER.is_file():
        return json.loads(LEDGER.read_text())
    return {"config": CONFIG, "search": None, "runs": []}


def save_ledger(ledger: dict[str, Any]) -> None:
    ledger["config_sha1"] = sha1_file(REPO / CONFIG)
    ledger["partial"] = len(ledger.get("plan", [])) == 0 or any(not _done(ledger, p) for p in ledger["plan"])
    tmp = LEDGER.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, default=float) + "\n")
    tmp.replace(LEDGER)


def _key(model: str, seed_index: int) -> str:
    return f"{model}/seed{seed_index}"


def _done(ledger: dict[str, Any], plan_row: dict[str, Any]) -> bool:
    key = _key(plan_row["params"]["model"], plan_row["seed_index"])
    return any(_key(r["model"], r["seed_index"]) == key for r in ledger["runs"])


def _metrics(m: dict[str, float]) -> dict[str, float]:
    return {k: m[k] for k in KEPT if k in m and math.isfinite(m[k])}


def harvest(workdir: Path, sweep: str) -> None:
    """Merge a sweep's search trials and finished seed re-runs (from its MLflow database) into the ledger."""
    from pipeline import runs
    from pipeline.tracking import resolve_tracking_uri

    client = runs.client(resolve_tracking_uri(None, workdir))
    exp = client.get_experiment_by_name(sweep)
    parent = runs.find_run(client, exp.experiment_id, sweep, role="parent") if exp else None
    if parent is None:
        sys.exit(f"no sweep {sweep!r} in {workdir}")
    ledger = load_ledger()
    search, done = [], []
    for r in runs.children(client, exp.experiment_id, parent.info.run_id):
        t = r.data.tags
        status = t.get(runs.STATUS)
        params = json.loads(t[runs.PARAMS])
        if t.get(runs.PHASE) == "search":
            search.append({"trial_id": t[runs.TRIAL_ID], "status": status or "unfinished", "params": params,
                           "score": r.data.metrics.get(METRIC), "step": r.data.metrics.get("step")})
        elif status in (runs.COMPLETED, runs.DIVERGED):
            done.append(_record(params, int(t[runs.SEED_INDEX]), status, r, f"sweep {sweep}"))
    if search:
        unfinished = [s for s in search if s["status"] not in runs.FINAL]
        ledger["search"] = {"sweep": sweep, "rows": sorted(search, key=lambda s: s["trial_id"]),
                            "complete": not unfinished, "host": host()}
        if not unfinished:
            ledger["plan"] = plan(ledger)
    known = {_key(r["model"], r["seed_index"]) for r in ledger["runs"]}
    ledger["runs"] += [d for d in done if _key(d["model"], d["seed_index"]) not in known]
    save_ledger(ledger)
    print(f"ledger: {len(search)} search trials, {len(ledger['runs'])} seed runs -> {LEDGER}")


def _record(params: dict[str, Any], seed_index: int, status: str, run: Any, source: str) -> dict[str, Any]:
    info = run.info
    wall = ((info.end_time or 0) - (info.start_time or 0)) / 1000 if info.end_time else None
    return {"model": params["model"], "seed_index": seed_index, "params": params, "status": status,
            "metrics": _metrics(run.data.metrics), "run_id": info.run_id, "wall_s": wall, "source": source,
            "protocol": {k.split(".", 1)[1]: v for k, v in run.data.tags.items() if k.startswith("final_protocol.")}}


def plan(ledger: dict[str, Any]) -> list[dict[str, Any]]:
    """The seed re-runs the sweep would make from the ledger's search: the best trial of each model."""
    from pipeline.experiment import load_experiment
    from pipeline.sweep import seed_reruns

    exp = load_experiment(REPO / CONFIG)
    rows = [{**r, "score": r["score"]} for r in ledger["search"]["rows"]]
    return seed_reruns(rows, METRIC, MODE, exp.sweep.seeds)


def _train_one(item: dict[str, Any], workdir: Path, threads: int) -> tuple[dict[str, Any], int, float, str]:
    """One seed re-run through ``ganarena train`` (a name that exists resumes it); returns its exit status."""
    import yaml

    from gan_core.config import to_dict
    from pipeline.experiment import load_experiment
    from pipeline.sweep_space import apply_params

    gan = apply_params(to_dict(load_experiment(REPO / CONFIG).gan), item["params"], item["seed_index"])
    name = f"study-fashion-{_key(item['params']['model'], item['seed_index']).replace('/', '-')}"
    cfg = workdir / "configs" / f"{name}.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(gan, sort_keys=False))
    log = workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = clean_env(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0 = time.monotonic()
    with log.open("a") as out:
        rc = subprocess.call([str(REPO / ".venv/bin/ganarena"), "train", str(cfg), "--workdir", str(workdir),
                              "--name", name, "--experiment", "study-fashion-seeds",
                              "--cpus-per-worker", str(threads)], stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                             env=env)
    return item, rc, time.monotonic() - t0, name


def run(workdir: Path, jobs: int, threads: int) -> None:
    """Train the planned seed re-runs not in the ledger yet, ``jobs`` at a time; record each as it ends."""
    from pipeline import runs
    from pipeline.tracking import resolve_tracking_uri

    ledger = load_ledger()
    if not (ledger.get("search") or {}).get("complete"):
        sys.exit("the ledger has no finished search: run the sweep, then `harvest` it")
    # breadth first: every model's seed 0 before any seed 1, so a partial ledger already ranks every model
    todo = sorted((p for p in ledger["plan"] if not _done(ledger, p)), key=lambda p: p["seed_index"])
    print(f"{len(todo)} seed re-runs to train, {jobs} at a time", flush=True)
    client = runs.client(resolve_tracking_uri(None, workdir))
    with ThreadPoolExecutor(jobs) as pool:
        for item, rc, wall, name in pool.map(lambda it: _train_one(it, workdir, threads), todo):
            run_ = runs.find_by_id_or_name(client, name)
            status = run_.data.tags.get(runs.STATUS) if run_ else None
            if rc != 0 or run_ is None or status not in (runs.COMPLETED, runs.DIVERGED):
                print(f"{name}: exit {rc}, status {status}; see {workdir}/logs/{name}.log", flush=True)
                continue
            rec = _record(item["params"], item["seed_index"], status, run_, "ganarena train")
            rec.update(wall_s=wall, loadavg=os.getloadavg(), commit=host()["commit"])
            ledger = load_ledger()
            ledger["runs"].append(rec)
            save_ledger(ledger)
            print(f"{name}: final FID {rec['metrics'].get('final_fd', math.nan):.2f} ({wall / 60:.0f} min)",
                  flush=True)


def fill_metrics(workdir: Path) -> None:
    """Re-read the kept metrics of the ledger's runs from the MLflow database they were trained in (e.g. the
    cost, which ledgers written before it was kept lack)."""
    from pipeline import runs
    from pipeline.tracking import resolve_tracking_uri

    client = runs.client(resolve_tracking_uri(None, workdir))
    ledger = load_ledger()
    for rec in ledger["runs"]:
        try:
            rec["metrics"] = {**rec["metrics"], **_metrics(client.get_run(rec["run_id"]).data.metrics)}
        except Exception as e:  # noqa: BLE001 - a run trained in another workdir stays as it is
            print(f"{rec['model']}/seed{rec['seed_index']}: {type(e).__name__}")
    save_ledger(ledger)


def search_table(ledger: dict[str, Any]) -> str:
    """Markdown: each model's search trials and its best one (CNN FD at the search budget), as the plan uses."""
    rows = (ledger.get("search") or {}).get("rows", [])
    lines = ["| model | trials (completed / stopped by ASHA) | best CNN FD (at the step it ended) | lr_g | lr_d | penalty weight |",
             "|---|---|---:|---:|---:|---:|"]
    for model in sorted({r["params"]["model"] for r in rows}):
        mine = [r for r in rows if r["params"]["model"] == model]
        done = [r for r in mine if r["status"] in ("completed", "pruned") and r["score"] is not None]
        best = min(done, key=lambda r: r["score"]) if done else None
        pw = best["params"].get("penalty_weight") if best else None
        ended = f"{sum(r['status'] == 'completed' for r in mine)} / {sum(r['status'] == 'pruned' for r in mine)}"
        lines.append(f"| {model} | {len(mine)} ({ended}) | "
                     + (f"{best['score']:.1f} | {best['params']['lr_g']:.2g} | {best['params']['lr_d']:.2g} | "
                        f"{'-' if pw is None else f'{pw:.2g}'} |" if best else "- | - | - | - |"))
    return "\n".join(lines)


def table(ledger: dict[str, Any]) -> str:
    """Markdown ranking by final FID (mean +- 95% CI over seeds, ties flagged)."""
    from pipeline.report import markdown_table, rank

    rows = [{"phase": "seed", "status": r["status"], "config": r["model"], **r["metrics"]} for r in ledger["runs"]]
    head = "**partial**: not every model has all its seeds yet\n\n" if ledger.get("partial", True) else ""
    return head + markdown_table(rank(rows, METRIC, MODE, prefix="final"), METRIC, MODE, prefix="final")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("harvest")
    h.add_argument("--workdir", type=Path, default=REPO / "runs" / "study")
    h.add_argument("--sweep", default="study-fashion")
    r = sub.add_parser("run")
    r.add_argument("--workdir", type=Path, default=REPO / "runs" / "study")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--threads", type=int, default=1)
    sub.add_parser("table")
    f = sub.add_parser("fill")
    f.add_argument("--workdir", type=Path, default=REPO / "runs" / "study")
    a = ap.parse_args()
    if a.cmd == "harvest":
        harvest(a.workdir, a.sweep)
    elif a.cmd == "fill":
        fill_metrics(a.workdir.resolve())
    elif a.cmd == "run":
        run(a.workdir.resolve(), a.jobs, a.threads)
    else:
        ledger = load_ledger()
        print(search_table(ledger) + "\n\n" + table(ledger))


if __name__ == "__main__":
    main()
