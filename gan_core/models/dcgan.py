"""DCGAN-style convolutional generator and discriminator (Radford et al. 2016) for 8x8 to 64x64."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_core.models.layers import GenNorm2d, Projection, disc_norm2d, factor_size, label_planes


class DCGANGenerator(nn.Module):
    """z -> Linear to base×base -> n × [ConvT(4, 2, 1), (C)BN, ReLU] -> tanh; size = base·2^n."""

    def __init__(self, z_dim: int, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0):
        super().__init__()
        c, size, _ = shape
        self.base, n = factor_size(size)
        chans = [width * 2 ** (n - 1 - i) for i in range(n)]
        self.c0 = chans[0]
        self.fc = nn.Linear(z_dim, chans[0] * self.base * self.base)
        self.norms = nn.ModuleList([GenNorm2d(ch, num_classes) for ch in chans])
        self.ups = nn.ModuleList(
            [nn.ConvTranspose2d(chans[i], chans[i + 1], 4, 2, 1) for i in range(n - 1)]
            + [nn.ConvTranspose2d(chans[-1], c, 4, 2, 1)]
        )

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(z).view(-1, self.c0, self.base, self.base)
        for norm, up in zip(self.norms, self.ups, strict=True):
            h = up(torch.relu(norm(h, y)))
        return torch.tanh(h)


class DCGANDiscriminator(nn.Module):
    """n × [Conv(4, 2, 1), norm, LeakyReLU(0.2)] -> Linear logit; y by projection or input planes."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0,
                 conditioning: str = "projection", embed_dim: int = 32, norm: str = "none"):
        super().__init__()
        c, size, _ = shape
        base, n = factor_size(size)
        concat = bool(num_classes) and conditioning == "concat"
        self.embed = nn.Embedding(num_classes, embed_dim) if concat else None
        layers: list[nn.Module] = []
        cin = c + (embed_dim if concat else 0)
        for i in range(n):
            cout = width * 2**i
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), disc_norm2d(norm if i else "none", cout), nn.LeakyReLU(0.2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        feats = cin * base * base
        self.head = nn.Linear(feats, 1)
        self.proj = Projection(num_classes, feats) if num_classes and not concat else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            x = label_planes(self.embed, y, x)
        h = self.body(x).flatten(1)
        out = self.head(h)
        if self.proj is not None:
            out = out + self.proj(h, y)
        return out.squeeze(1)
