"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020), k-NN balls.

Same definitions as the reference ``prdc`` package (strict ``<`` against the distance to the k-th
nearest neighbour, self excluded), computed in float64 in chunks so memory stays O(N * chunk).
"""

from __future__ import annotations

import torch


def kth_nn_distance(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    out = []
    for part in x.split(chunk):
        d = torch.cdist(part, x, compute_mode="donot_use_mm_for_euclid_dist")
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5, chunk: int = 1024) -> dict[str, float]:
    """precision, recall, density, coverage of ``fake`` features against ``real`` features."""
    real, fake = real.double(), fake.double()
    r_nn = kth_nn_distance(real, k, chunk)
    f_nn = kth_nn_distance(fake, k, chunk)
    in_real_balls = torch.zeros(len(fake), dtype=torch.float64)  # per fake: number of real balls containing it
    recalled = torch.zeros(len(real), dtype=torch.bool)
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    for start in range(0, len(fake), chunk):
        fk = fake[start:start + chunk]
        d = torch.cdist(real, fk, compute_mode="donot_use_mm_for_euclid_dist")  # (N_real, c)
        inside = d < r_nn[:, None]
        in_real_balls[start:start + len(fk)] = inside.sum(0).double()
        recalled |= (d < f_nn[start:start + len(fk)][None, :]).any(1)
        nearest_fake = torch.minimum(nearest_fake, d.min(1).values)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_real_balls.mean() / k),
        "coverage": float((nearest_fake < r_nn).double().mean()),
    }
