"""Quality per CPU budget: 25-Gaussian grid (PacGAN setting) modes and % HQ per loss x penalty over seeds.

Each (loss, penalty, seed) trains configs/demo.yaml's model (3x128 MLPs, batch 256, EMA 0.99) with
gan_core.fit in its own process on ONE torch thread until the process has used ``--minutes`` of
CPU time (CPU, not wall, so the budget holds on a loaded machine), then scores 2,500 samples of
the EMA generator with PacGAN's definitions (HQ = within 3 std of a centre; a mode counts when it
has an HQ sample). Reference, PacGAN (Lin et al. 2018) Table 1: GAN 17.3 modes / 94.8% HQ,
PacGAN4 24.8 / 93.6%. Optional: mnist5k FD per loss (``--mnist-minutes``), DCGAN 28px.

    .venv/bin/python -m bench.quality [--losses ns hinge] [--penalties r1] [--seeds 5] [--minutes 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from bench.common import REPO, host, setup_run, stats, write

WEIGHTS = {"none": 0.0, "r1": 0.1, "r2": 0.1, "wgan-gp": 10.0, "dragan": 10.0}  # usual published weights
PACGAN = {"GAN": {"modes": 17.3, "hq_percent": 94.8}, "PacGAN4": {"modes": 24.8, "hq_percent": 93.6}}


def train_one(config: str, loss: str, penalty: str, seed: int, minutes: float) -> dict:
    """Train one seed for ``minutes`` of process CPU time; the evaluator's metrics of the EMA generator."""
    import torch

    from gan_core.config import GanConfig, from_dict, to_dict
    from gan_core.loop import BatchStream, DivergedError, fit
    from pipeline.experiment import load_experiment
    from pipeline.sweep_space import apply_params

    torch.set_num_threads(1)
    c0 = time.process_time()
    base = to_dict(load_experiment(REPO / config, [f"seed={seed}"]).gan)
    params = {"loss": loss, "penalty": penalty, "penalty_weight": WEIGHTS[penalty]}
    cfg = from_dict(GanConfig, apply_params(base, params))
    ds, trainer, evaluator = setup_run(cfg, cfg.eval.samples)
    budget = minutes * 60
    row = {"loss": loss, "penalty": penalty, "weight": WEIGHTS[penalty], "seed": seed}
    try:
        fit(trainer, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), 10**9, cfg.train.log_every,
            lambda tr, logged: time.process_time() - c0 >= budget)
        row.update({k: float(v) for k, v in evaluator(trainer.sample(cfg.eval.samples)).items()},
                   diverged=False)
    except DivergedError:
        row.update(diverged=True)
    row.update(steps=trainer.step, cpu_s=time.process_time() - c0)
    return row


def summarise(rows: list[dict], key: str) -> dict:
    """Per (loss, penalty): statistics of ``key`` over seeds (diverged seeds count as missing)."""
    out = {}
    for pair in sorted({(r["loss"], r["penalty"]) for r in rows}):
        rs = [r for r in rows if (r["loss"], r["penalty"]) == pair]
        ok = [r for r in rs if not r["diverged"]]
        entry = {"seeds": len(rs), "diverged": len(rs) - len(ok), "steps": stats([r["steps"] for r in rs])}
        if key == "modes" and ok:
            entry["modes"] = stats([r["modes"] for r in ok]) | {"mean": statistics.mean(r["modes"] for r in ok)}
            hq = [100 * r["hq_fraction"] for r in ok]
            entry["hq_percent"] = stats(hq) | {"mean": statistics.mean(hq)}
        elif ok:
            entry[key] = stats([r[key] for r in ok]) | {"mean": statistics.mean(r[key] for r in ok)}
        out[f"{pair[0]}+{pair[1]}"] = entry
    return out


def run_jobs(jobs: list[tuple], workers: int) -> list[dict]:
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(train_one, *j) for j in jobs]
        rows = []
        for f in futures:
            rows.append(f.result())
            r = rows[-1]
            print(f"{r['loss']}+{r['penalty']} seed {r['seed']}: "
                  + ("diverged" if r["diverged"] else ", ".join(f"{k}={r[k]:.4g}" for k in ("modes", "hq_fraction", "fd")
                                                                 if k in r))
                  + f" after {r['steps']} steps", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--losses", nargs="+", default=["minimax", "ns", "wgan", "lsgan", "hinge"])
    ap.add_argument("--penalties", nargs="+", default=list(WEIGHTS))
    ap.add_argument("--pairs", nargs="*", default=None, help="loss+penalty pairs instead of losses x penalties")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=5.0, help="CPU minutes per seed (one thread)")
    ap.add_argument("--workers", type=int, default=2, help="seeds trained at once, one process each")
    ap.add_argument("--mnist-losses", nargs="*", default=["ns", "hinge", "lsgan"])
    ap.add_argument("--mnist-minutes", type=float, default=0.0, help="CPU minutes per mnist5k seed; 0 skips")
    ap.add_argument("--mnist-seeds", type=int, default=1)
    args = ap.parse_args()
    start = host()  # load and code at the start; write() adds the end load
    pairs = [tuple(p.split("+", 1)) for p in args.pairs] if args.pairs else \
        [(loss, pen) for loss in args.losses for pen in args.penalties]
    jobs = [("configs/demo.yaml", loss, pen, s, args.minutes) for loss, pen in pairs for s in range(args.seeds)]
    grid = summarise(run_jobs(jobs, args.workers), "modes")
    scored = {k: v for k, v in grid.items() if "modes" in v}
    best = max(scored, key=lambda k: (scored[k]["modes"]["mean"], scored[k]["hq_percent"]["mean"])) if scored else None
    result = {
        "host": start,
        "protocol": (f"grid25 PacGAN setting (centres {{-4..4 step 2}}^2, std 0.05), configs/demo.yaml model (MLP "
                     f"3x128, z 2, batch 256, Adam 1e-3 (0.5, 0.99), EMA 0.99); {args.minutes:g} CPU-min per seed "
                     f"(process CPU time, 1 torch thread, {args.workers} seeds at once); score = final EMA "
                     f"generator, 2,500 samples, PacGAN definitions; {args.seeds} seeds; penalty weights {WEIGHTS}"),
        "grid25": grid, "best": best, "pacgan_table1": PACGAN,
        "target": "best loss >= 24.5 modes and >= 93% HQ (mean over seeds)",
    }
    if best:
        b = scored[best]
        result["target_met"] = b["modes"]["mean"] >= 24.5 and b["hq_percent"]["mean"] >= 93.0
        print(f"best {best}: {b['modes']['mean']:.1f} modes, {b['hq_percent']['mean']:.1f}% HQ")
    if args.mnist_minutes > 0:
        mjobs = [("configs/mnist5k_dcgan.yaml", loss, "none", s, args.mnist_minutes)
                 for loss in args.mnist_losses for s in range(args.mnist_seeds)]
        result["mnist5k_fd"] = summarise(run_jobs(mjobs, args.workers), "fd")
        result["mnist5k_protocol"] = (f"configs/mnist5k_dcgan.yaml, no penalty, {args.mnist_minutes:g} CPU-min per "
                                      f"seed, 1 thread; FD of the EMA generator (the project's mnist5k feature net, "
                                      f"test split reference, 1,000 samples)")
    print(f"wrote {write('quality', result)}")


if __name__ == "__main__":
    main()
