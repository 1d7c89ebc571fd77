"""The generator EMA (gan_core.step): the warmed-up decay, checked against its recursion step by step."""

from __future__ import annotations

import torch

from gan_core import BatchStream, build_trainer, load_config, spec_of
from gan_core.data import build_dataset

CFG = {"data": {"name": "ring8", "n_samples": 512}, "generator": {"z_dim": 2, "width": 16, "depth": 1},
       "discriminator": {"width": 16, "depth": 1}, "train": {"batch_size": 64, "ema_decay": 0.999}}


def test_decay_warms_up_then_holds() -> None:
    tr = build_trainer(load_config(CFG), spec_of(build_dataset(load_config(CFG).data)))
    assert tr.ema_decay_at(0) == 0.1 and tr.ema_decay_at(90) == 0.91
    assert tr.ema_decay_at(10_000) == 0.999 and tr.ema_decay_at(8_990) == 0.999  # (1 + t) / (10 + t) >= 0.999
    assert all(tr.ema_decay_at(t) <= tr.ema_decay_at(t + 1) for t in range(20_000))


def test_the_average_follows_its_recursion_and_forgets_the_initial_weights() -> None:
    cfg = load_config(CFG)
    ds = build_dataset(cfg.data, seed=0)
    torch.manual_seed(0)
    tr = build_trainer(cfg, spec_of(ds))
    stream = BatchStream(ds, 64, seed=0)
    init = [p.detach().clone() for p in tr.G.parameters()]
    want = [p.clone() for p in init]
    for t in range(30):
        tr.train_step([stream.next()])
        d = tr.ema_decay_at(t)
        want = [d * w + (1 - d) * p.detach() for w, p in zip(want, tr.G.parameters(), strict=True)]
        for w, e in zip(want, tr.G_ema.parameters(), strict=True):
            torch.testing.assert_close(e, w, rtol=1e-5, atol=1e-6)
    # after 30 updates the initial weights' share is prod(decays) = prod((1 + t) / (10 + t)) < 1e-4
    share = torch.prod(torch.tensor([tr.ema_decay_at(t) for t in range(30)], dtype=torch.float64))
    assert share < 1e-4
