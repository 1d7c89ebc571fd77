"""Small building blocks shared by the model files: conditional BatchNorm, norms, size factoring."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_core.errors import GanConfigError


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine whose per-channel scale and shift come from the class label y."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.gamma(y)[:, :, None, None] * self.bn(x) + self.beta(y)[:, :, None, None]


class GenNorm2d(nn.Module):
    """BatchNorm2d, or ConditionalBatchNorm2d when the generator is class-conditional."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.cbn = ConditionalBatchNorm2d(channels, num_classes) if num_classes else None
        self.bn = None if num_classes else nn.BatchNorm2d(channels)

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        return self.cbn(x, y) if self.cbn is not None else self.bn(x)


def disc_norm2d(kind: str, channels: int) -> nn.Module:
    """Normalisation for conv discriminators: none (default; safe with gradient penalties), batch, layer."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def factor_size(size: int, field: str = "data.image_size") -> tuple[int, int]:
    """Write ``size`` as base * 2**n with 4 <= base <= 7 and n >= 1 (8, 16, 28, 32, 64, ...)."""
    base, n = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        n += 1
    if n < 1 or base > 7:
        raise GanConfigError(field, f"a conv model cannot produce {size}x{size} images",
                             "base*2**n with base in 4..7 and n >= 1, e.g. 8, 16, 28, 32, 64")
    return base, n


class Projection(nn.Module):
    """Projection conditioning (Miyato & Koyama 2018): adds <embed(y), h> to the logit."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        """h: (B, F) -> (B, 1); or a map (B, F, H, W) -> (B, 1, H, W)."""
        e = self.embed(y)
        if h.dim() == 4:
            return (e[:, :, None, None] * h).sum(1, keepdim=True)
        return (e * h).sum(1, keepdim=True)


def label_planes(embed: nn.Embedding, y: Tensor, like: Tensor) -> Tensor:
    """Concatenation conditioning for conv nets: the label embedding broadcast as extra channels."""
    e = embed(y)[:, :, None, None]
    return torch.cat([like, e.expand(-1, -1, like.shape[2], like.shape[3])], dim=1)
