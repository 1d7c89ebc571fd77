"""PatchGAN discriminator (pix2pix, Isola et al. 2017): one logit per receptive-field patch."""

from __future__ import annotations

from torch import Tensor, nn

from gan_core.errors import GanConfigError
from gan_core.models.layers import Projection, disc_norm2d, label_planes


class PatchDiscriminator(nn.Module):
    """depth × [Conv(4, 2, 1), norm, LeakyReLU] -> Conv3 to 1 channel: logits of shape (B, 1, s/2^depth, s/2^depth)."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, depth: int = 2, num_classes: int = 0,
                 conditioning: str = "projection", embed_dim: int = 32, norm: str = "none"):
        super().__init__()
        c, size, _ = shape
        if size % 2**depth or size // 2**depth < 2:
            raise GanConfigError("discriminator.depth", f"{depth} halvings of {size}px leave no 2x2 patch map",
                                 f"1..{max(1, (size // 2).bit_length() - 1)} for {size}px")
        concat = bool(num_classes) and conditioning == "concat"
        self.embed = nn.Embedding(num_classes, embed_dim) if concat else None
        layers: list[nn.Module] = []
        cin = c + (embed_dim if concat else 0)
        for i in range(depth):
            cout = width * 2**i
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), disc_norm2d(norm if i else "none", cout), nn.LeakyReLU(0.2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 1, 3, 1, 1)
        self.proj = Projection(num_classes, cin) if num_classes and not concat else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            x = label_planes(self.embed, y, x)
        h = self.body(x)
        out = self.head(h)
        if self.proj is not None:
            out = out + self.proj(h, y)
        return out
