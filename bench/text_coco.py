"""Real captions: BLEU-2..4 (quality) and Self-BLEU-2..4 (diversity) of MLE and of the Gumbel-softmax GAN.

    python bench/text_coco.py [--budget-min 15] [--out bench/results/text_coco.json]

Protocol: configs/text_coco.yaml (../shared/data/coco_captions/train.txt, word level, vocabulary 5,000,
length 20, the fixed 90/10 split); the evaluator's Texygen protocol (NLTK-equal sentence BLEU with
smoothing 1, the first 500 generated sentences against the first 500 held-out sentences; Self-BLEU
among the generated ones) plus the bigram JSD to the held-out split. MLE is also sampled at lower
temperatures: quality bought with diversity is the baseline a GAN must beat (Caccia et al. 2020).
The GAN checkpoint reported as "selected" is the lowest bigram JSD among the evaluations. One thread;
the budget counts the process CPU time. Skips cleanly without the corpus.
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

from bench.text_oracle import cpu_min, log
from gan_core.build import build_trainer, spec_of
from gan_core.config import load_config
from gan_core.data import build_dataset
from gan_core.loop import BatchStream, fit
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.text_mle import pretrain_trainer, sample_tokens

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "text_coco.yaml"
KEYS = ("bleu2", "bleu3", "bleu4", "self_bleu2", "self_bleu3", "self_bleu4", "ngram_jsd")


def _short(m: dict[str, float]) -> str:
    return " ".join(f"{k} {m[k]:.3f}" for k in KEYS if k in m)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--budget-min", type=float, default=15.0, help="total CPU minutes")
    ap.add_argument("--temperatures", default="0.8,0.6")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config, args.set)
    if not Path(cfg.data.root).is_file():
        print(f"SKIP: corpus {cfg.data.root!r} not found (expected ../shared/data/coco_captions/train.txt)")
        return 0
    ds = build_dataset(cfg.data, seed=cfg.seed)
    ev = TextEvaluator(ds, 500, seed=2)
    res: dict = {"protocol": ev.protocol, "config": args.config, "train_sentences": len(ds),
                 "heldout_sentences": len(ds.heldout)}
    res["heldout_vs_heldout"] = ev(ds.heldout[-500:])  # the corpus itself: what real text scores
    log(f"real held-out sentences: {_short(res['heldout_vs_heldout'])}")

    tr = build_trainer(cfg, spec_of(ds))
    t0 = time.process_time()
    pretrain_trainer(tr, ds.ids, cfg.train.mle_pretrain_steps)
    res["mle_cpu_min"] = (time.process_time() - t0) / 60
    res["mle"] = {"1.0": ev(tr.G)}
    for t in (float(x) for x in args.temperatures.split(",") if x):
        res["mle"][str(t)] = TextEvaluator(ds, 500, seed=2, temperature=t)(tr.G)
    for t, m in res["mle"].items():
        log(f"MLE T={t}: {_short(m)}")

    best: dict = {"score": float("inf")}
    curve: list = []

    def callback(trainer, logged) -> bool:
        if trainer.step % cfg.eval.every and trainer.step != cfg.train.steps:
            return cpu_min() > args.budget_min - 1
        m = ev(trainer.G)
        curve.append({"step": trainer.step, "cpu_min": cpu_min(), **m})
        log(f"gan step {trainer.step}: {_short(m)}")
        if m["ngram_jsd"] < best["score"]:
            best.update(score=m["ngram_jsd"], step=trainer.step, G=copy.deepcopy(trainer.G.state_dict()))
        return cpu_min() > args.budget_min - 1

    fit(tr, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), cfg.train.steps, cfg.train.log_every, callback)
    res["gan_steps"], res["gan_final"], res["curve"] = tr.step, ev(tr.G), curve
    if "G" in best:
        tr.G.load_state_dict(best.pop("G"))
        res["gan_selected"] = {"step": best["step"], **ev(tr.G)}
    res["samples"] = ds.decode(sample_tokens(tr.G, 5))
    res["cpu_min_total"] = cpu_min()
    log(f"gan selected (step {res.get('gan_selected', {}).get('step')}): {_short(res.get('gan_selected', {}))}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
