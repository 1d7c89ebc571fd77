"""ResNet generator and discriminator in the SNGAN / WGAN-GP CIFAR style."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_core.models.layers import GenNorm2d, Projection, factor_size, label_planes


class UpBlock(nn.Module):
    """(C)BN-ReLU-Up-Conv3-(C)BN-ReLU-Conv3, plus an upsampled 1x1 shortcut."""

    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.n1, self.n2 = GenNorm2d(cin, num_classes), GenNorm2d(cout, num_classes)
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        h = F.interpolate(torch.relu(self.n1(x, y)), scale_factor=2)
        h = self.c2(torch.relu(self.n2(self.c1(h), y)))
        return h + self.sc(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """ReLU-Conv3-ReLU-Conv3-AvgPool plus a 1x1-conv + AvgPool shortcut (no pre-ReLU on the first block)."""

    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.first = first
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else torch.relu(x)
        h = F.avg_pool2d(self.c2(torch.relu(self.c1(h))), 2)
        return h + F.avg_pool2d(self.sc(x), 2)


class ResNetGenerator(nn.Module):
    """z -> Linear to base×base×width -> n UpBlocks -> BN-ReLU-Conv3 -> tanh."""

    def __init__(self, z_dim: int, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0):
        super().__init__()
        c, size, _ = shape
        self.base, n = factor_size(size)
        self.width = width
        self.fc = nn.Linear(z_dim, width * self.base * self.base)
        self.blocks = nn.ModuleList([UpBlock(width, width, num_classes) for _ in range(n)])
        self.out_norm = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, c, 3, 1, 1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(z).view(-1, self.width, self.base, self.base)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(torch.relu(self.out_norm(h))))


class ResNetDiscriminator(nn.Module):
    """n DownBlocks -> ReLU -> global sum pool -> Linear logit (+ projection of y)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0,
                 conditioning: str = "projection", embed_dim: int = 32):
        super().__init__()
        c, size, _ = shape
        _, n = factor_size(size)
        concat = bool(num_classes) and conditioning == "concat"
        self.embed = nn.Embedding(num_classes, embed_dim) if concat else None
        cin = c + (embed_dim if concat else 0)
        self.blocks = nn.Sequential(*[DownBlock(cin if i == 0 else width, width, i == 0) for i in range(n)])
        self.head = nn.Linear(width, 1)
        self.proj = Projection(num_classes, width) if num_classes and not concat else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            x = label_planes(self.embed, y, x)
        h = torch.relu(self.blocks(x)).sum(dim=(2, 3))
        out = self.head(h)
        if self.proj is not None:
            out = out + self.proj(h, y)
        return out.squeeze(1)
