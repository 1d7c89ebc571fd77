"""Random-number sources for the training step and the penalties.

``TorchNoise`` draws from torch's global RNG. ``ShardedNoise`` draws the GLOBAL batch's noise
with every rank's identically seeded RNG and keeps the rank's slice, so N data-parallel workers
see exactly the noise one worker would see on the whole batch (what makes 2 workers == 1 testable).
"""

from __future__ import annotations

import torch
from torch import Tensor


class TorchNoise:
    """Uniform and normal numbers from torch's global generator on ``like``'s device."""

    def rand(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return torch.rand(shape, device=like.device, dtype=torch.float32)

    def randn(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return torch.randn(shape, device=like.device, dtype=torch.float32)


class ShardedNoise(TorchNoise):
    """Draw noise for ``world`` × the local batch and return this ``rank``'s contiguous slice."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world

    def _slice(self, full: Tensor, n: int) -> Tensor:
        return full[self.rank * n:(self.rank + 1) * n]

    def rand(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return self._slice(super().rand((shape[0] * self.world, *shape[1:]), like), shape[0])

    def randn(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return self._slice(super().randn((shape[0] * self.world, *shape[1:]), like), shape[0])


DEFAULT_NOISE = TorchNoise()
