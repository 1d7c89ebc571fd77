"""Latent walks and class mixtures (gan_core.latent) against their definitions."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gan_core.config import load_config
from gan_core.latent import class_rows, slerp, soft_labels, walk
from gan_core.models import DataSpec, build_generator

DIGITS = Path(__file__).resolve().parents[1] / "configs" / "digits.yaml"


def test_walks_start_and_end_exactly_at_their_points() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 16, generator=g), torch.randn(5, 16, generator=g)
    for spherical in (False, True):
        w = walk(a, b, 7, spherical)
        assert w.shape == (5, 7, 16)
        assert torch.equal(w[:, 0], a) and torch.equal(w[:, -1], b)
    lin = walk(a, b, 5)
    assert torch.allclose(lin[:, 2], (a + b) / 2, atol=1e-6)
    assert torch.allclose(lin[:, 1] - lin[:, 0], lin[:, 4] - lin[:, 3], atol=1e-6)  # even steps


def test_slerp_follows_the_great_circle() -> None:
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 0.0]])
    mid = slerp(a, b, torch.tensor([0.5]))[0, 0]
    assert torch.allclose(mid, torch.tensor([1.5 / math.sqrt(2), 1.5 / math.sqrt(2), 0.0]), atol=1e-6)  # 45 deg
    t = torch.linspace(0, 1, 9)
    pts = slerp(a, b, t)[0]
    angles = torch.atan2(pts[:, 1], pts[:, 0])
    assert torch.allclose(angles, t * math.pi / 2, atol=1e-5)  # constant angular speed
    same = slerp(a, 3 * a, t)[0]  # parallel vectors: no division by sin(0)
    assert torch.isfinite(same).all() and torch.allclose(same[:, 0], 1 + 2 * t, atol=1e-6)


def test_one_hot_class_weights_are_the_labels_and_mixtures_mix_embeddings() -> None:
    cfg = load_config(DIGITS)
    cfg.generator.width = 8
    G = build_generator(cfg.generator, DataSpec((1, 8, 8), 10, "image")).eval()
    z = torch.randn(4, G.noise_dim)
    y = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        direct = G(z, y)
        with soft_labels(G):
            soft = G(z, torch.eye(10)[y])
            half = G(z[:1], 0.5 * torch.eye(10)[[2]] + 0.5 * torch.eye(10)[[5]])
            assert torch.equal(G(z, y), direct)  # integer labels still work inside the block
        embeds = [m for m in G.modules() if isinstance(m, torch.nn.Embedding)]
        assert embeds and all("forward" not in vars(m) for m in embeds)  # restored afterwards
        mixed = [m.weight[[2, 5]].mean(0) for m in embeds]
        with soft_labels(G):
            assert all(torch.allclose(m(torch.tensor([[0.0, 0, 0.5, 0, 0, 0.5, 0, 0, 0, 0]]))[0], w, atol=1e-6)
                       for m, w in zip(embeds, mixed, strict=True))
    assert torch.equal(soft, direct)
    assert not torch.equal(half, direct[:1])


def test_class_rows_put_one_class_per_row() -> None:
    y, per = class_rows(80, 10)
    assert per == 8 and y.tolist() == [c for c in range(10) for _ in range(8)]
    y, per = class_rows(64, 10)
    assert per == 7 and len(y) == 64 and y.max() == 9 and (y[:7] == 0).all()
