"""Image quality per CPU budget: the digits and mnist5k recipes against the real-vs-real FD floor.

Each (dataset, variant, seed) trains in its own process on ONE torch thread until the process has
used the dataset's CPU budget (process CPU time, so it holds on a loaded machine; the budget counts
building the data and the evaluator, every evaluation and the final one). The final EMA generator
is scored with the project's evaluator: FD/KID/PRDC in the shipped feature network's space against
the test split, N fake = N real = the floor's N (docs/datasets_metrics.md), so FD is comparable with
the floor. The table gives mean and a 95% CI (Student t over seeds). Variants: the recipe, the
recipe without augmentation/LeCam, and the old shipped config, at the same budget and seeds.

Results are appended to bench/results/image_quality.json after every run; a rerun skips the runs
already there (``--fresh`` starts over), so a killed bench resumes where it stopped.

    .venv/bin/python -m bench.image_quality [--datasets digits mnist5k] [--seeds 3] [--workers 2]
    .venv/bin/python -m bench.image_quality --datasets digits --variant digits/try=configs/digits.yaml:optim.lr_d=4e-4
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from bench.common import REPO, RESULTS, host, setup_run, write

FLOOR = {"digits": 5.12, "mnist5k": 2.04}  # FD(train, test), docs/datasets_metrics.md
TARGET_RATIO = {"digits": 1.5, "mnist5k": 2.0}  # issue 14
BUDGET_MIN = {"digits": 10.0, "mnist5k": 30.0}  # CPU minutes per seed, evaluation included
N_EVAL = {"digits": 359, "mnist5k": 1000}  # the floor's N
NO_AUG = ["augment.policy=[]", "augment.p=1.0", "augment.target=null", "lecam.weight=0"]
VARIANTS = {
    "digits": {"recipe": ("configs/digits.yaml", []), "no-aug": ("configs/digits.yaml", NO_AUG),
               "old": ("configs/digits_dcgan_ns_r1.yaml", [])},
    "mnist5k": {"recipe": ("configs/mnist5k.yaml", []), "no-aug": ("configs/mnist5k.yaml", NO_AUG),
                "old": ("configs/mnist5k_dcgan.yaml", [])},
}
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
OUT = "image_quality"
GRIDS = REPO / "docs"


def train_one(dataset: str, variant: str, config: str, overrides: list[str], seed: int, minutes: float,
              n_eval: int, grid: str | None) -> dict:
    """Train one seed for ``minutes`` of process CPU time; the evaluator's metrics of the EMA generator."""
    import torch

    c0 = time.process_time()
    torch.set_num_threads(1)
    from gan_core.loop import BatchStream, DivergedError, fit
    from pipeline.experiment import load_experiment

    cfg = load_experiment(REPO / config, [*overrides, f"seed={seed}", f"eval.samples={n_eval}"]).gan
    ds, trainer, evaluator = setup_run(cfg, n_eval)
    budget = minutes * 60
    row: dict = {"dataset": dataset, "variant": variant, "config": config, "overrides": overrides, "seed": seed,
                 "curve": []}
    eval_every = max(cfg.eval.every, 1)
    last_eval_s = [0.0]

    def evaluate() -> dict:
        t = time.process_time()
        m = {k: float(v) for k, v in evaluator(trainer.sample(n_eval)).items()}
        last_eval_s[0] = time.process_time() - t
        row["curve"].append({"step": trainer.step, "cpu_s": round(time.process_time() - c0, 1), "fd": m["fd"]})
        return m

    def stop(tr, logged) -> bool:
        if tr.step % eval_every == 0:
            evaluate()
        # leave room for the final evaluation inside the budget
        return time.process_time() - c0 + last_eval_s[0] >= budget

    t_train = time.perf_counter()
    try:
        evaluate()  # also measures what one evaluation costs
        fit(trainer, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), 10**9, cfg.train.log_every, stop)
        row.update(evaluate(), diverged=False)
        if grid:
            from gan_core.tasks.image import grid_png
            grid_png(trainer.sample(64), Path(grid))
    except DivergedError as e:
        row.update(diverged=True, error=str(e))
    row.update(steps=trainer.step, cpu_s=round(time.process_time() - c0, 1),
               wall_s=round(time.perf_counter() - t_train, 1), eval_cpu_s=round(last_eval_s[0], 2),
               aug_p=float(trainer.augment.p) if trainer.augment.policy else None)
    return row


def ci95(xs: list[float]) -> float:
    """Half-width of the 95% CI of the mean (Student t); nan for one value."""
    return T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")


def summarise(rows: list[dict]) -> dict:
    """Per dataset and variant: mean, 95% CI and per-seed values of each metric."""
    out: dict = {}
    for ds, var in sorted({(r["dataset"], r["variant"]) for r in rows}):
        rs = sorted((r for r in rows if (r["dataset"], r["variant"]) == (ds, var)), key=lambda r: r["seed"])
        ok = [r for r in rs if not r["diverged"]]
        entry: dict = {"seeds": len(rs), "diverged": len(rs) - len(ok), "steps": [r["steps"] for r in rs],
                       "cpu_s": [r["cpu_s"] for r in rs]}
        for key in ("fd", "kid", "precision", "recall", "density", "coverage"):
            xs = [r[key] for r in ok]
            if xs:
                entry[key] = {"mean": statistics.mean(xs), "ci95": ci95(xs), "values": xs}
        if "fd" in entry:
            entry["fd_over_floor"] = entry["fd"]["mean"] / FLOOR[ds]
        out.setdefault(ds, {})[var] = entry
    return out


def table(summary: dict) -> str:
    """The markdown table for docs/performance.md."""
    lines = ["| data | variant | FD (mean ± 95% CI) | × floor | KID | precision | recall | density | coverage | steps |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for ds, variants in summary.items():
        for var, e in variants.items():
            if "fd" not in e:
                lines.append(f"| {ds} | {var} | diverged ({e['diverged']}/{e['seeds']}) | | | | | | | |")
                continue
            cells = [f"{e[k]['mean']:.3f}" if k in e else "" for k in ("kid", "precision", "recall", "density",
                                                                       "coverage")]
            lines.append(f"| {ds} | {var} | {e['fd']['mean']:.2f} ± {e['fd']['ci95']:.2f} | "
                         f"{e['fd_over_floor']:.2f} | " + " | ".join(cells) + f" | {statistics.median(e['steps']):.0f} |")
    return "\n".join(lines)


def load_rows(fresh: bool) -> list[dict]:
    path = RESULTS / f"{OUT}.json"
    if fresh or not path.exists():
        return []
    return json.loads(path.read_text()).get("runs", [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--variants", nargs="+", default=None, help="subset of recipe / no-aug / old")
    ap.add_argument("--variant", action="append", default=[], metavar="DATA/NAME=CONFIG[:k=v;k=v]",
                    help="an extra variant (exploration), e.g. digits/try=configs/digits.yaml:optim.lr_d=4e-4")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=None, help="CPU minutes per seed (default: the target budget)")
    ap.add_argument("--workers", type=int, default=2, help="runs at once, one process (one thread) each")
    ap.add_argument("--fresh", action="store_true", help="forget earlier results instead of resuming")
    args = ap.parse_args()
    start = host()
    rows = load_rows(args.fresh)
    done = {(r["dataset"], r["variant"], r["seed"]) for r in rows}
    jobs = []
    for ds in args.datasets:
        variants = {k: v for k, v in VARIANTS[ds].items() if args.variants is None or k in args.variants}
        for spec in args.variant:
            name, _, rest = spec.partition("=")
            config, _, sets = rest.partition(":")
            if name.startswith(f"{ds}/"):
                variants[name.split("/", 1)[1]] = (config, [s for s in sets.split(";") if s])
        minutes = args.minutes or BUDGET_MIN[ds]
        for var, (config, overrides) in variants.items():
            for seed in range(args.seeds):
                if (ds, var, seed) not in done:
                    name = f"samples_{ds}.png" if var == "recipe" else f"samples_{ds}-{var}.png"
                    grid = str(GRIDS / name) if seed == 0 else None
                    jobs.append((ds, var, config, overrides, seed, minutes, N_EVAL[ds], grid))
    print(f"{len(jobs)} runs to do ({len(done)} already measured)", flush=True)

    def save() -> Path:
        summary = summarise(rows)
        return write(OUT, {"host": start, "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
                           "budget_cpu_min": BUDGET_MIN, "floor": FLOOR, "target_ratio": TARGET_RATIO,
                           "summary": summary, "table": table(summary), "runs": rows})

    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(train_one, *j): j for j in jobs}
        for f in as_completed(futures):
            r = f.result()
            rows.append(r)
            print(f"{r['dataset']} {r['variant']} seed {r['seed']}: "
                  + ("diverged" if r["diverged"] else f"fd={r['fd']:.3f} (x{r['fd'] / FLOOR[r['dataset']]:.2f} floor) "
                     f"recall={r['recall']:.3f}") + f" after {r['steps']} steps, {r['cpu_s']:.0f} CPU-s", flush=True)
            save()
    path = save()
    print(table(summarise(rows)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
