"""Toy mixtures: geometry of both published settings, 8 distinct ring modes, seeded fixed samples."""

import math

import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.data.toy import mode_centres
from gan_core.errors import GanConfigError
from gan_core.metrics.toy import toy_metrics


def test_ring_has_eight_distinct_modes_on_the_circle():
    for setting, radius in (("pacgan", 1.0), ("wgangp", 2.0)):
        c, _ = mode_centres("ring8", setting)
        assert c.shape == (8, 2)
        d = torch.cdist(torch.tensor(c), torch.tensor(c)) + torch.eye(8) * 99
        # neighbours are one chord 2 r sin(pi/8) apart: no repeated mode (linspace(0, 2pi, 8) bug)
        assert float(d.min()) == pytest.approx(2 * radius * math.sin(math.pi / 8), rel=1e-9)
        assert torch.tensor(c).norm(dim=1).tolist() == pytest.approx([radius] * 8)


def test_published_std_and_grid():
    assert mode_centres("ring8", "pacgan")[1] == 0.01
    assert mode_centres("ring8", "wgangp")[1] == 0.02
    c, std = mode_centres("grid25", "pacgan")
    assert std == 0.05 and sorted(set(c[:, 0].tolist())) == [-4, -2, 0, 2, 4] and len(c) == 25


def test_fixed_seeded_samples_and_labels():
    cfg = DataConfig(name="ring8", setting="pacgan", n_samples=4000)
    a, b = build_dataset(cfg, seed=3), build_dataset(cfg, seed=3)
    assert torch.equal(a.all()[0], b.all()[0])
    assert not torch.equal(a.all()[0], build_dataset(cfg, seed=4).all()[0])
    test = build_dataset(DataConfig(name="ring8", setting="pacgan", n_samples=4000, split="test"), seed=3)
    assert not torch.equal(a.all()[0], test.all()[0])
    assert a.kind == "toy" and a.shape == (2,) and len(a) == 4000 and a.num_classes == 8
    x, y = a.get_batch(torch.tensor([0, 5, 7]))
    assert x.dtype == torch.float32 and x.shape == (3, 2) and y.dtype == torch.int64
    # each label is the mode the point was drawn from; every point is HQ-close to it
    c = torch.tensor(a.info["centres"], dtype=torch.float32)
    assert float((a.all()[0] - c[a.all()[1]]).norm(dim=1).max()) < 6 * 0.01


def test_real_toy_data_scores_as_expected():
    for name, k in (("ring8", 8), ("grid25", 25)):
        ds = build_dataset(DataConfig(name=name, n_samples=20_000), seed=0)
        m = toy_metrics(ds.all()[0], torch.tensor(ds.info["centres"]), ds.info["std"])
        assert m["modes"] == k
        assert m["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)  # P(|z| <= 3), 2-D
        assert m["reverse_kl"] < 0.01


def test_bad_setting_and_size_are_config_errors():
    with pytest.raises(GanConfigError, match="data.setting"):
        mode_centres("ring8", "veegan")
    with pytest.raises(GanConfigError, match="data.n_samples"):
        build_dataset(DataConfig(name="grid25", n_samples=0))
