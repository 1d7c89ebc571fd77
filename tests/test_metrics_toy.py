"""PacGAN mode metrics on hand-made sample sets with known answers, and the toy evaluator."""

import math

import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.data.toy import mode_centres
from gan_core.errors import GanConfigError
from gan_core.metrics.toy import toy_metrics
from gan_core.tasks import make_evaluator

CENTRES, STD = (torch.tensor(a) if i == 0 else a for i, a in enumerate(mode_centres("ring8", "pacgan")))


def on_modes(modes, per_mode, jitter=0.0):
    pts = CENTRES[torch.tensor(modes)].repeat_interleave(per_mode, 0)
    return pts + jitter * torch.randn(pts.shape, generator=torch.Generator().manual_seed(0), dtype=pts.dtype)


def test_three_of_eight_modes():
    m = toy_metrics(on_modes([0, 3, 5], 100, jitter=STD / 2), CENTRES, STD)
    assert m["modes"] == 3
    assert m["reverse_kl"] == pytest.approx(math.log(8 / 3), abs=1e-12)
    assert m["hq_fraction"] > 0.95 and m["modes_hq"] == pytest.approx(3 + m["hq_fraction"])


def test_hq_threshold_is_three_std_and_low_quality_samples_do_not_cover_modes():
    inside = CENTRES[:1] + torch.tensor([[2.99 * STD, 0.0]], dtype=torch.float64)
    outside = CENTRES[1:2] + torch.tensor([[0.0, 3.01 * STD]], dtype=torch.float64)
    m = toy_metrics(torch.cat([inside, outside]), CENTRES, STD)
    assert m["hq_fraction"] == 0.5 and m["modes"] == 1 and m["reverse_kl"] == pytest.approx(math.log(8))


def test_balanced_all_modes_and_unbalanced_histogram():
    assert toy_metrics(on_modes(range(8), 10), CENTRES, STD) == {
        "modes": 8.0, "hq_fraction": 1.0, "reverse_kl": 0.0, "modes_hq": 9.0}
    m = toy_metrics(on_modes([0, 0, 0, 1], 10), CENTRES, STD)  # p = (3/4, 1/4)
    assert m["reverse_kl"] == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2))


def test_no_hq_sample():
    m = toy_metrics(torch.full((50, 2), 10.0), CENTRES, STD)
    assert m == {"modes": 0.0, "hq_fraction": 0.0, "reverse_kl": math.log(8), "modes_hq": 0.0}


def test_toy_evaluator_protocol_and_checks():
    ds = build_dataset(DataConfig(name="ring8", setting="pacgan", n_samples=100), seed=0)
    ev = make_evaluator(ds, n_fake=800, seed=0)
    assert (ev.primary, ev.mode) == ("modes_hq", "max")
    assert ev.protocol["n_fake"] == "800" and "std 0.01" in ev.protocol["reference"]
    r = ev(on_modes(range(8), 100).float())
    assert r["modes"] == 8 and r["hq_fraction"] == 1.0
    assert "modes=8" in ev.describe(r) and "n_fake: 800" in ev.describe(r)
    with pytest.raises(GanConfigError, match="expected shape"):
        ev(torch.zeros(799, 2))
    bad = torch.zeros(800, 2)
    bad[0, 0] = float("nan")
    assert all(math.isnan(v) for v in ev(bad).values())
