"""Our chunked PRDC equals the reference ``prdc`` package (Naeem et al. 2020), k = 5."""

import numpy as np
import pytest
import torch
from prdc import compute_prdc

from gan_core.metrics.prdc import prdc


@pytest.mark.parametrize("shift,chunk", [(0.0, 1024), (0.7, 64), (3.0, 50)])
def test_prdc_matches_reference_package(shift, chunk):
    rng = np.random.default_rng(1)
    real = rng.standard_normal((400, 8))
    fake = rng.standard_normal((300, 8)) * 1.3 + shift
    want = compute_prdc(real, fake, nearest_k=5)
    got = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=5, chunk=chunk)
    for key in ("precision", "recall", "density", "coverage"):
        assert got[key] == pytest.approx(float(want[key]), abs=1e-12), key


def test_prdc_identical_sets_and_disjoint_sets():
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    same = prdc(x, x.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = prdc(x, x + 100)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
