"""Mode metrics for 2-D mixtures, PacGAN definitions (Lin et al. 2018).

A sample is high quality (HQ) if its distance to the nearest mode centre is at most 3 std. A mode
is covered if at least one HQ sample is nearest to it. Reverse KL = KL(p_gen || uniform) of the
histogram of HQ samples over modes (0 = balanced; log K = all on one mode, also used when no
sample is HQ). ``modes_hq`` = modes + hq_fraction: ranks by modes first, HQ fraction breaks ties.
For real data, about 98.9% of samples are HQ (P(|z| <= 3) for a 2-D standard normal).
"""

from __future__ import annotations

import math

import torch


def toy_metrics(samples: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, float]:
    """modes, hq_fraction, reverse_kl, modes_hq for (N, 2) samples against (K, 2) centres."""
    s, c = samples.double(), centres.double()
    k = len(c)
    d = torch.cdist(s, c)
    dist, nearest = d.min(1)
    hq = dist <= 3 * std
    counts = torch.bincount(nearest[hq], minlength=k).double()
    modes = int((counts > 0).sum())
    n_hq = float(counts.sum())
    if n_hq == 0:
        rkl = math.log(k)
    else:
        p = counts[counts > 0] / n_hq
        rkl = float((p * torch.log(p * k)).sum())
    hq_frac = float(hq.double().mean()) if len(s) else 0.0
    return {"modes": float(modes), "hq_fraction": hq_frac, "reverse_kl": rkl, "modes_hq": modes + hq_frac}
