"""MLP generator and discriminator (the tutorial's "plain" networks); y by concatenated embedding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_core.models.layers import Projection


class MLPGenerator(nn.Module):
    """z (⊕ embed(y)) -> depth × [Linear, ReLU] -> Linear -> reshape to ``shape`` (tanh for images)."""

    def __init__(self, z_dim: int, shape: tuple[int, ...], width: int, depth: int,
                 num_classes: int = 0, embed_dim: int = 32, tanh: bool = False):
        super().__init__()
        self.shape = tuple(shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        layers: list[nn.Module] = []
        d = z_dim + (embed_dim if num_classes else 0)
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, math.prod(shape)))
        self.net = nn.Sequential(*layers)
        self.tanh = tanh

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        out = self.net(z).view(-1, *self.shape)
        return torch.tanh(out) if self.tanh else out


class MLPDiscriminator(nn.Module):
    """flatten(x) (⊕ embed(y)) -> depth × [Linear, LeakyReLU(0.2)] -> logit; projection or concat for y."""

    def __init__(self, shape: tuple[int, ...], width: int, depth: int, num_classes: int = 0,
                 conditioning: str = "projection", embed_dim: int = 32, norm: str = "none"):
        super().__init__()
        concat = bool(num_classes) and conditioning == "concat"
        self.embed = nn.Embedding(num_classes, embed_dim) if concat else None
        self.proj = Projection(num_classes, width) if num_classes and not concat else None
        layers: list[nn.Module] = []
        d = math.prod(shape) + (embed_dim if concat else 0)
        for _ in range(depth):
            layers.append(nn.Linear(d, width))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(width))
            elif norm == "layer":
                layers.append(nn.LayerNorm(width))
            layers.append(nn.LeakyReLU(0.2))
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(d, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(y)], dim=1)
        h = self.body(h)
        out = self.head(h)
        if self.proj is not None:
            out = out + self.proj(h, y)
        return out.squeeze(1)
