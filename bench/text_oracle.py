"""SeqGAN oracle benchmark: MLE baseline (at several temperatures) vs the Gumbel-softmax GAN, by CPU time.

    python bench/text_oracle.py ../shared/data/seqgan_oracle.npz [--budget-min 30] [--out result.json]

Protocol (../shared/data/README.md): 10,000 training sequences from the published oracle, a
generator of the same shape (emb 32, hidden 32); NLL_oracle on 10,000 generated sequences;
NLL_test = the generator on 10,000 held-out oracle samples. One thread; the budget counts the
process CPU time of everything (data, MLE, GAN, evaluations). Skips cleanly without the file.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core.build import build_trainer, spec_of
from gan_core.config import load_config
from gan_core.data import build_dataset
from gan_core.loop import BatchStream, fit
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.text_mle import pretrain_trainer, sample_tokens

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "text_oracle_seqgan.yaml"
# CPU minutes kept for the final 10,000-sample evaluations (they took 1.6-1.9 CPU-min on 2026-11-27)
RESERVE_MIN = 2.0


def cpu_min() -> float:
    return time.process_time() / 60


def log(msg: str) -> None:
    print(f"[{cpu_min():6.2f} cpu-min | {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("oracle", help="path to seqgan_oracle.npz")
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--budget-min", type=float, default=30.0, help="total CPU minutes")
    ap.add_argument("--mle-epochs", type=int, default=20)
    ap.add_argument("--temperatures", default="0.9,0.8,0.7")
    ap.add_argument("--n-fake", type=int, default=10_000)
    ap.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--mle-cache", default=None, help="save the MLE generator here, or load it if present")
    args = ap.parse_args()
    if not Path(args.oracle).is_file():
        print(f"SKIP: oracle weights {args.oracle!r} not found (expected ../shared/data/seqgan_oracle.npz)")
        return 0
    torch.set_num_threads(1)
    cfg = load_config(args.config, [f"data.root={args.oracle}", *args.set])
    ds = build_dataset(cfg.data, seed=cfg.seed)
    track = TextEvaluator(ds, 2000, seed=1)
    final = TextEvaluator(ds, args.n_fake, seed=2)
    res: dict = {"ground_truth": final.ground_truth, "protocol": final.protocol, "config": args.config,
                 "overrides": args.set}
    log(f"data ready; ground truth NLL {final.ground_truth:.3f}")

    tr = build_trainer(cfg, spec_of(ds))
    per_epoch = len(ds) // cfg.train.batch_size
    t0 = time.process_time()
    cache = Path(args.mle_cache) if args.mle_cache else None
    if cache is not None and cache.is_file():  # reuse an MLE generator (its CPU time is not counted again)
        tr.G.load_state_dict(torch.load(cache, weights_only=True))
        log(f"MLE generator loaded from {cache}")
    else:
        pretrain_trainer(tr, ds.ids, args.mle_epochs * per_epoch, callback=lambda s, loss: log(
            f"mle epoch {s / per_epoch:.1f} loss {loss:.3f}"), log_every=per_epoch)
        res["mle_cpu_s_per_epoch"] = (time.process_time() - t0) / args.mle_epochs
        if cache is not None:
            torch.save(tr.G.state_dict(), cache)
    res["mle"] = {"1.0": final(tr.G)}
    for t in (float(x) for x in args.temperatures.split(",") if x):
        res["mle"][str(t)] = TextEvaluator(ds, args.n_fake, seed=2, temperature=t)(tr.G)
    for t, m in res["mle"].items():
        log(f"MLE T={t}: nll_oracle {m['nll_oracle']:.3f} nll_test {m['nll_test']:.3f} entropy {m['entropy']:.3f}")
    mle_test = res["mle"]["1.0"]["nll_test"]

    best: dict = {"score": float("inf")}
    curve: list = []

    def callback(trainer, logged) -> bool:
        if trainer.step % cfg.eval.every and trainer.step != cfg.train.steps:
            return cpu_min() > args.budget_min - RESERVE_MIN
        m = track(trainer.G)
        curve.append({"step": trainer.step, "cpu_min": cpu_min(), **m})
        log(f"gan step {trainer.step} beta {trainer.G.net.beta:.1f}: nll_oracle {m['nll_oracle']:.3f} "
            f"nll_test {m['nll_test']:.3f} entropy {m['entropy']:.3f}")
        if m["nll_test"] <= mle_test + 0.5 and m["nll_oracle"] < best["score"]:
            best.update(score=m["nll_oracle"], step=trainer.step, G=copy.deepcopy(trainer.G.state_dict()))
        return cpu_min() > args.budget_min - RESERVE_MIN

    t0 = time.process_time()
    fit(tr, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), cfg.train.steps, cfg.train.log_every, callback)
    res["gan_steps"], res["gan_cpu_s_per_step"] = tr.step, (time.process_time() - t0) / max(1, tr.step)
    res["gan_final"] = final(tr.G)
    res["curve"] = curve
    if "G" in best:
        tr.G.load_state_dict(best.pop("G"))
        res["gan_selected"] = {"step": best["step"], **final(tr.G)}
    res["samples"] = ds.decode(sample_tokens(tr.G, 3))
    res["cpu_min_total"] = cpu_min()
    for k in ("gan_final", "gan_selected"):
        if k in res:
            m = res[k]
            log(f"{k}: nll_oracle {m['nll_oracle']:.3f} nll_test {m['nll_test']:.3f} entropy {m['entropy']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
