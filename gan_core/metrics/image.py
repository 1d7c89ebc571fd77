"""Feature-space image metrics: FD and KID (torchmetrics), classifier score, helpers.

Features are computed once per sample set by an ``Extractor``; torchmetrics' FID/KID receive them
through an identity ``feature=`` module, so each metric sees the same features and nothing is run
twice. FD is in float64 (torchmetrics accumulates doubles). Both are built with ``sync_on_compute=False``:
evaluation runs on one rank, and torchmetrics would otherwise all-gather its states over the training
process group in ``compute()`` (a collective the other ranks never join; with nccl, an error on CPU states).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance


class Identity(nn.Module):
    """The feature module torchmetrics calls on inputs that already are features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the features unchanged."""
        return x


def make_fd(real: torch.Tensor) -> FrechetInceptionDistance:
    """A torchmetrics FID object holding the real statistics (kept across ``reset``)."""
    from torchmetrics.image.fid import FrechetInceptionDistance  # lazy: ~10 s to import on a loaded 2-CPU box

    fd = FrechetInceptionDistance(feature=Identity(real.shape[1]), reset_real_features=False, sync_on_compute=False)
    fd.update(real.double(), real=True)
    return fd


def fd_with(fd: FrechetInceptionDistance, fake: torch.Tensor) -> float:
    """FD between the stored real statistics and ``fake`` features."""
    fd.reset()
    fd.update(fake.double(), real=False)
    return float(fd.compute())


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FD of two feature sets: |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2)."""
    return fd_with(make_fd(real), fake)


def make_kid(real: torch.Tensor, n_fake: int, subsets: int = 100, subset_size: int = 1000) -> KernelInceptionDistance:
    """A torchmetrics KID object holding the real features; subset size capped by both N.

    When one subset holds both whole sets every subset gives the same (permutation-invariant)
    unbiased MMD, so a single subset is computed and kid_std is 0.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), n_fake)
    if size == len(real) == n_fake:
        subsets = 1
    with warnings.catch_warnings():  # "will save all extracted features": intended, N is capped
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=Identity(real.shape[1]), subsets=subsets, subset_size=size,
                                      reset_real_features=False, sync_on_compute=False)
    kid.update(real.double(), real=True)
    return kid


def kid_with(kid: KernelInceptionDistance, fake: torch.Tensor, seed: int) -> tuple[float, float]:
    """KID mean and std over random subsets, reproducible for a seed (global RNG untouched)."""
    kid.reset()
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def classifier_score(logits: torch.Tensor) -> float:
    """Inception-Score analogue: exp(E_x KL(p(y|x) || p(y))) under our classifier (1 .. num_classes)."""
    logp = torch.log_softmax(logits.double(), dim=1)
    p_y = logp.exp().mean(0)
    kl = (logp.exp() * (logp - torch.log(p_y.clamp_min(1e-300)))).sum(1).mean()
    return math.exp(float(kl))


def gaussian_noise(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] plus N(0, sigma^2) noise in [0, 1] intensity units, clamped (calibration)."""
    g = torch.Generator().manual_seed(seed)
    return (x + 2 * sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with std ``sigma`` pixels, kernel 2*ceil(3 sigma)+1 (calibration)."""
    from torchvision.transforms.functional import gaussian_blur as tv_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return tv_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])
