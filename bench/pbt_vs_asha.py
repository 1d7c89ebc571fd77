"""PBT vs ASHA + TPE at about the same compute (issue 16): best final quality of the search, 3 repeats.

For each data set (grid25 toys: modes_hq, higher is better; scikit-learn digits: FD, lower is better) and
repeat r (the experiment's seed), two ``ganarena sweep`` runs over the same space (losses ns / hinge /
lsgan, penalties none / r1, lr_g and lr_d log-uniform in [5e-5, 3e-3], the penalty weight in [0.1, 100]),
search only (``--seeds 0``):

  asha  Optuna TPE proposes, ASHA (grace 1 evaluation, reduction 2) stops, ``ASHA_TRIALS`` trials of
        ``steps`` steps at most
  pbt   ``PBT_MEMBERS`` members of ``steps`` steps, perturbed every 2 evaluations (bottom quarter clones
        the top)

Compute is what the runs logged (sum of the search trials' ``cost_cpu_s``), reported beside the quality,
so "same compute" is measured, not assumed. Quality: the best score at the full budget among the search
trials (ASHA: trials it let finish; PBT: the final population). Results are written after every sweep
(bench/results/pbt_vs_asha.json) and a rerun skips what is there.

    .venv/bin/python -m bench.pbt_vs_asha [--repeats 3] [--only grid25|digits]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import REPO, RESULTS, clean_env, host

OUT = RESULTS / "pbt_vs_asha.json"
# 12 ASHA trials, for about PBT's compute (4 full runs): with 8, ASHA spent 0.45-0.85x PBT's logged CPU, with
# 16 2.0x (grid25, 2026-12-08: TPE then lets more trials finish).
ASHA_TRIALS, PBT_MEMBERS = 12, 4
SPACE = ["sweep.losses=[ns,hinge,lsgan]", "sweep.penalties=[none,r1]", "sweep.lr=[5.0e-5,3.0e-3]",
         "sweep.penalty_weight=[0.1,100.0]"]
DATASETS = {  # config, steps, eval every, metric, mode, extra overrides
    "grid25": ("configs/toy_grid_ns.yaml", 4000, 500, "modes_hq", "max", ["generator.width=64", "discriminator.width=64"]),
    "digits": ("configs/digits.yaml", 3000, 375, "fd", "min", []),
}


def _sweep(name: str, method: str, repeat: int, workdir: Path) -> dict[str, float]:
    config, steps, every, metric, mode, extra = DATASETS[name]
    sets = [*SPACE, *extra, f"seed={repeat}", f"train.steps={steps}", f"eval.every={every}",
            f"train.log_every={every // 5}", f"sweep.scheduler={method}", "sweep.grace_evals=1",
            "sweep.reduction_factor=2", "sweep.perturb_every=2"]
    trials = ASHA_TRIALS if method == "asha" else PBT_MEMBERS
    argv = [str(REPO / ".venv/bin/ganarena"), "sweep", config, "--workdir", str(workdir), "--name", "bench",
            "--trials", str(trials), "--seeds", "0"]
    for s in sets:
        argv += ["--set", s]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=clean_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}/{method}/{repeat}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench")
    search = client.search_runs([exp.experiment_id], "tags.`ganarena.phase` = 'search'", max_results=1000)
    finals = []
    for r in search:
        last = [m.value for m in client.get_metric_history(r.info.run_id, metric) if m.step == steps]
        if last and math.isfinite(last[-1]):
            finals.append(last[-1])
    best = (max if mode == "max" else min)(finals) if finals else math.nan
    cpu = sum(r.data.metrics.get("cost_cpu_s", 0.0) for r in search)
    clones = sum(1 for r in search for k in r.data.tags if k.startswith("ganarena.clone."))
    return {"best": best, "cost_cpu_s": cpu, "wall_s": wall, "trials": len(search), "finished": len(finals),
            "clones": clones}


def _ci(xs: list[float]) -> tuple[float, float | None]:
    """Mean and 95% Student-t half-width (None from one repeat)."""
    from pipeline.report import t_quantile

    m = statistics.fmean(xs)
    return m, (t_quantile(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else None)


def summary(res: dict) -> dict:
    out = {}
    for name, (_, _, _, metric, mode, _) in DATASETS.items():
        rows = res["runs"].get(name, {})
        pairs = [(rows[k]["pbt"], rows[k]["asha"]) for k in sorted(rows) if {"pbt", "asha"} <= set(rows[k])]
        if not pairs:
            continue
        ratio = [p["best"] / a["best"] for p, a in pairs if a["best"]]
        compute = [p["cost_cpu_s"] / a["cost_cpu_s"] for p, a in pairs]
        m, h = _ci(ratio)
        out[name] = {"metric": metric, "mode": mode, "repeats": len(pairs), "quality_ratio_pbt_over_asha": m,
                     "quality_ratio_ci95": h, "compute_ratio_pbt_over_asha": statistics.fmean(compute),
                     "pbt_best": [p["best"] for p, _ in pairs], "asha_best": [a["best"] for _, a in pairs]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=sorted(DATASETS))
    a = ap.parse_args()
    res = json.loads(OUT.read_text()) if OUT.is_file() else {"runs": {}}
    res["summary"] = summary(res)
    for repeat in range(a.repeats):
        for name in [a.only] if a.only else DATASETS:
            for method in ("asha", "pbt"):
                slot = res["runs"].setdefault(name, {}).setdefault(str(repeat), {})
                if method == "asha" and "asha" in slot and slot["asha"].get("asked", 8) != ASHA_TRIALS:
                    old = slot.pop("asha")  # an earlier trial count: kept, not summarised
                    slot[f"asha_{old.get('asked', 8)}_trials"] = old
                if method in slot:
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    slot[method] = {**_sweep(name, method, repeat, Path(tmp)), "host": host(),
                                    "asked": ASHA_TRIALS if method == "asha" else PBT_MEMBERS}
                print(name, repeat, method, slot[method], flush=True)
                res["summary"] = summary(res)
                RESULTS.mkdir(parents=True, exist_ok=True)
                OUT.write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(json.dumps(res.get("summary", {}), indent=1))


if __name__ == "__main__":
    main()
