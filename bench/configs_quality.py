"""What every shipped toy config delivers at its own budget: modes and % HQ of its EMA generator.

Each ``configs/toy_*.yaml`` (and any given with ``--configs``) trains exactly as written (its steps,
batch, seed) with gan_core's loop in its own process on one torch thread, then its final EMA
generator is scored on 2,500 samples with PacGAN's definitions, independently of the run's own
evaluations (HQ = within 3 std of a centre; a mode counts when it has an HQ sample). Targets
(issue "every shipped config works"): grid25 >= 24/25 modes and >= 90% HQ, ring8 8/8 and >= 90%.
Resumable: results already in bench/results/configs_quality.json for the same config content (its
parsed YAML: comments do not count) are kept. Each config's ``# Measured:`` comment line is rewritten
from its results, and docs/configs.md gets the table.

    .venv/bin/python -m bench.configs_quality [--configs configs/toy_ring.yaml ...] [--seeds 0 1 2] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bench.common import REPO, RESULTS, host, write

N_SCORE = 2500
TARGETS = {"grid25": (24, 0.90), "ring8": (8, 0.90)}


MEASURED = "# Measured"


def digest(path: Path) -> str:
    """The config's content, comments and layout aside: a new comment keeps its results."""
    import yaml

    content = json.dumps(yaml.safe_load(path.read_text()), sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:12]


def measured_line(rows: list[dict]) -> str:
    """The config's opening-comment line stating what it delivers (its rows: one per seed)."""
    seeds = sorted(r["seed"] for r in rows)
    ok = [r for r in rows if not r["diverged"]]
    parts = [f"{MEASURED} (bench/configs_quality.py, EMA generator, seeds {', '.join(map(str, seeds))}):"]
    if len(ok) < len(rows):
        parts.append(f"{len(rows) - len(ok)} diverged;")
    if ok:
        modes, hq = [r["modes"] for r in ok], [100 * r["hq_fraction"] for r in ok]
        n = 25 if rows[0]["data"] == "grid25" else 8
        parts.append(f"{min(modes):.0f}-{max(modes):.0f}/{n} modes, {min(hq):.1f}-{max(hq):.1f}% high-quality,")
    parts.append(f"{sum(r['cpu_s'] for r in rows) / len(rows):.0f} CPU-s per seed.")
    return " ".join(parts)


def write_measured(path: Path, line: str) -> None:
    """Put ``line`` in the opening comment of ``path`` (replacing an older one), leaving the rest as it is."""
    lines = path.read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith(MEASURED)]
    head = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), len(lines))
    path.write_text("\n".join(lines[:head] + [line] + lines[head:]) + "\n")


def train_one(config: str, seed: int) -> dict:
    """Train one config (one seed) at its own budget; PacGAN metrics of its final EMA generator."""
    import torch

    from gan_core.build import build_trainer, spec_of
    from gan_core.data import build_dataset
    from gan_core.loop import BatchStream, DivergedError, fit
    from gan_core.noise import ShardedNoise
    from gan_core.tasks import make_evaluator
    from pipeline.experiment import load_experiment

    torch.set_num_threads(1)
    c0, w0 = time.process_time(), time.perf_counter()
    cfg = load_experiment(REPO / config, [f"seed={seed}"]).gan
    ds = build_dataset(cfg.data, seed=cfg.seed)
    trainer = build_trainer(cfg, spec_of(ds), noise=ShardedNoise(0, 1))
    torch.manual_seed(cfg.seed * 7919)
    row = {"config": config, "sha": digest(REPO / config), "seed": seed, "data": cfg.data.name,
           "steps": cfg.train.steps}
    try:
        fit(trainer, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), cfg.train.steps, cfg.train.log_every,
            lambda tr, logged: False)
        evaluator = make_evaluator(ds, n_fake=N_SCORE, seed=1000 + seed)  # a seed no run's evaluation uses
        with torch.random.fork_rng():
            torch.manual_seed(12345 + seed)
            row.update({k: float(v) for k, v in evaluator(trainer.sample(N_SCORE)).items()}, diverged=False)
    except DivergedError:
        row.update(diverged=True)
    row.update(cpu_s=time.process_time() - c0, wall_s=time.perf_counter() - w0)
    modes, hq = TARGETS[cfg.data.name]
    row["target_met"] = (not row["diverged"]) and row["modes"] >= modes and row["hq_fraction"] >= hq
    return row


def table(rows: list[dict]) -> str:
    """Markdown: one line per config (seeds pooled: min modes, mean HQ), the verdict against its target."""
    lines = ["| config | data | steps | seeds | modes (min / mean) | HQ % (min / mean) | CPU-s per seed | target met |",
             "|---|---|---|---|---|---|---|---|"]
    for config in sorted({r["config"] for r in rows}):
        rs = [r for r in rows if r["config"] == config]
        ok = [r for r in rs if not r["diverged"]]
        modes = [r["modes"] for r in ok]
        hq = [100 * r["hq_fraction"] for r in ok]
        need = TARGETS[rs[0]["data"]]
        cells = (f"{min(modes):.0f} / {sum(modes) / len(modes):.1f}", f"{min(hq):.1f} / {sum(hq) / len(hq):.1f}") \
            if ok else ("diverged", "-")
        met = all(r["target_met"] for r in rs)
        lines.append(f"| `{config}` | {rs[0]['data']} | {rs[0]['steps']} | {len(rs)} | {cells[0]} | {cells[1]} | "
                     f"{sum(r['cpu_s'] for r in rs) / len(rs):.0f} | {'yes' if met else 'no'} (>= {need[0]}, "
                     f">= {100 * need[1]:.0f}%) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", default=None, help="default: every configs/toy_*.yaml")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2, help="runs at once, one process each")
    ap.add_argument("--fresh", action="store_true", help="ignore results already written")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "configs.md")
    args = ap.parse_args()
    configs = args.configs or sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").glob("toy_*.yaml"))
    out = RESULTS / "configs_quality.json"
    old = [] if args.fresh or not out.exists() else json.loads(out.read_text())["rows"]
    keep = {(r["config"], r["sha"], r["seed"]): r for r in old}
    jobs = [(c, s) for c in configs for s in args.seeds if (c, digest(REPO / c), s) not in keep]
    rows = {k[:1] + k[2:]: r for k, r in keep.items() if (REPO / k[0]).exists() and digest(REPO / k[0]) == k[1]}
    start = host()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(train_one, c, s): (c, s) for c, s in jobs}
        for f in futures:
            r = f.result()
            rows[(r["config"], r["seed"])] = r
            print(f"{r['config']} seed {r['seed']}: " + ("diverged" if r["diverged"] else
                  f"{r['modes']:.0f} modes, {100 * r['hq_fraction']:.1f}% HQ") + f" ({r['cpu_s']:.0f} CPU-s)", flush=True)
            write("configs_quality", {"host": start, "rows": list(rows.values()), "protocol": __doc__.split("\n\n")[1]})
    result = {"host": start, "rows": sorted(rows.values(), key=lambda r: (r["config"], r["seed"])),
              "protocol": " ".join(__doc__.split("\n\n")[1].split())}
    print(f"wrote {write('configs_quality', result)}")
    for config in configs:
        mine = [r for r in result["rows"] if r["config"] == config and r["seed"] in args.seeds]
        if mine:
            write_measured(REPO / config, measured_line(mine))
    md = table(result["rows"])
    args.doc.write_text("# What the shipped toy configs deliver\n\nWritten by `python -m bench.configs_quality` "
                        f"(commit {start['commit']}, load {start['loadavg_start'][0]:.1f} at start).\n\n"
                        f"{result['protocol']}\n\n{md}\n")
    print(md)


if __name__ == "__main__":
    main()
