"""Latent priors P(z) and the Generator wrapper that puts one in front of any generator net.

The "variational generator" of the tutorial learns its prior: a mixture of K Gaussians with
learnable means and scales sampled by reparameterisation (DeLiGAN, Gurumurthy et al. 2017).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GaussianPrior(nn.Module):
    """z = ε ~ N(0, I): the standard prior, nothing to learn."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.z_dim = z_dim
        self.noise_dim = z_dim

    def forward(self, eps: Tensor) -> Tensor:
        return eps


class MixturePrior(nn.Module):
    """z = μ_k + σ_k ⊙ ε with k uniform over K learnable components (DeLiGAN).

    The noise has z_dim + 1 columns: ε, and one more N(0,1) number u whose normal CDF Φ(u) picks
    the component k = floor(K·Φ(u)) — so the whole draw comes from one Gaussian noise tensor and
    the gradient reaches μ and σ through the reparameterisation.
    """

    def __init__(self, z_dim: int, components: int, init_scale: float = 0.2):
        super().__init__()
        self.z_dim = z_dim
        self.noise_dim = z_dim + 1
        self.components = components
        g = torch.Generator().manual_seed(1234)
        self.mu = nn.Parameter(torch.rand(components, z_dim, generator=g) * 2 - 1)
        self.log_sigma = nn.Parameter(torch.full((components, z_dim), math.log(init_scale)))

    def forward(self, noise: Tensor) -> Tensor:
        eps, u = noise[:, : self.z_dim], noise[:, self.z_dim]
        k = (0.5 * (1 + torch.erf(u / math.sqrt(2))) * self.components).long().clamp_(0, self.components - 1)
        return self.mu[k] + self.log_sigma[k].exp() * eps


class Generator(nn.Module):
    """Prior + generator net: ``G(noise, y)`` where noise ~ N(0, I) of width ``noise_dim``."""

    def __init__(self, net: nn.Module, prior: nn.Module, num_classes: int = 0):
        super().__init__()
        self.net = net
        self.prior = prior
        self.noise_dim = prior.noise_dim
        self.num_classes = num_classes

    def set_progress(self, progress: float) -> None:
        """Forward training progress in [0, 1] to nets with schedules (e.g. Gumbel temperature)."""
        hook = getattr(self.net, "set_progress", None)
        if hook is not None:
            hook(progress)

    def forward(self, noise: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(self.prior(noise), y)
