"""Feature-space image metrics: FD and KID, classifier score, helpers.

Features are computed once per sample set by an ``Extractor``; FD and KID both take those features, so
nothing is run twice. Both are plain tensor arithmetic in float64 on one process: no metric state, no
collective (evaluation runs on rank 0 alone; a metric that all-gathered over the training process group
would meet no partner). They agree with torchmetrics' FID/KID to rounding (tested), without importing it
in every training worker (~4 CPU-s per process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RealStats:
    """Mean and covariance (float64, divisor n - 1) of the real features: the fixed half of FD."""

    mean: torch.Tensor
    cov: torch.Tensor


def _moments(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = feats.detach().double().cpu()
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"FD needs an (n >= 2, d) feature matrix, got shape {tuple(x.shape)}")
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def make_fd(real: torch.Tensor) -> RealStats:
    """The real statistics FD compares every sample set against."""
    return RealStats(*_moments(real))


def fd_with(stats: RealStats, fake: torch.Tensor) -> float:
    """FD = |mu_r - mu_f|^2 + Tr(S_r) + Tr(S_f) - 2 Tr((S_r S_f)^1/2) (Heusel et al. 2017).

    Tr((S_r S_f)^1/2) is the sum of the square roots of the eigenvalues of S_r S_f (real and
    non-negative for two covariance matrices, up to rounding; the real part is kept).
    """
    mu, cov = _moments(fake)
    trace_sqrt = torch.linalg.eigvals(stats.cov @ cov).sqrt().real.sum()
    return float((stats.mean - mu).square().sum() + stats.cov.trace() + cov.trace() - 2 * trace_sqrt)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FD of two feature sets: |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2)."""
    return fd_with(make_fd(real), fake)


@dataclass(frozen=True)
class KidReference:
    """The real features KID draws its subsets from, and the subset protocol."""

    real: torch.Tensor
    subsets: int
    subset_size: int


def make_kid(real: torch.Tensor, n_fake: int, subsets: int = 100, subset_size: int = 1000) -> KidReference:
    """The KID reference, subset size capped by both N.

    When one subset holds both whole sets every subset gives the same (permutation-invariant)
    unbiased MMD, so a single subset is computed and kid_std is 0.
    """
    size = min(subset_size, len(real), n_fake)
    if size < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got {size}")
    if size == len(real) == n_fake:
        subsets = 1
    return KidReference(real.detach().double().cpu(), subsets, size)


def _poly_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 with the cubic kernel k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018)."""
    m, d = len(x), x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    off = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return off - 2 * k_xy.sum() / m**2


def kid_with(ref: KidReference, fake: torch.Tensor, seed: int) -> tuple[float, float]:
    """KID mean and (population) std over random subsets, reproducible for a seed (global RNG untouched)."""
    fake = fake.detach().double().cpu()
    if len(fake) < ref.subset_size:
        raise ValueError(f"KID needs at least {ref.subset_size} fake samples, got {len(fake)}")
    g = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(ref.subsets):
        x = ref.real[torch.randperm(len(ref.real), generator=g)[:ref.subset_size]]
        y = fake[torch.randperm(len(fake), generator=g)[:ref.subset_size]]
        scores.append(_poly_mmd2(x, y))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))


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
