"""DCGAN with a fully connected hidden layer in both players: the InfoGAN nets for MNIST (Chen et al. 2016,
appendix C.1), which Lucic et al. 2018 ("Are GANs Created Equal?") use for MNIST and Fashion-MNIST.

G: z -> FC 1024, BN, ReLU -> FC base×base×C, BN, ReLU -> the DCGAN up-convolutions -> tanh.
D: the DCGAN down-convolutions -> FC 1024, LeakyReLU(0.2) -> FC logit. D's hidden layer has no batch norm
(InfoGAN's has one): per-sample gradient penalties need a D whose outputs do not mix the batch.
"""

from __future__ import annotations

from torch import nn

from gan_core.models.dcgan import DCGANDiscriminator, DCGANGenerator

HIDDEN = 1024  # InfoGAN's fully connected width


class InfoGANGenerator(DCGANGenerator):
    """A DCGAN generator whose projection from z goes through one FC + BN + ReLU layer of ``hidden`` units."""

    def __init__(self, z_dim: int, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0,
                 hidden: int = HIDDEN):
        super().__init__(z_dim, shape, width, num_classes)
        self.fc = nn.Sequential(nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                nn.Linear(hidden, self.fc.out_features))


class InfoGANDiscriminator(DCGANDiscriminator):
    """A DCGAN discriminator whose logit comes from one FC + LeakyReLU layer of ``hidden`` units."""

    def __init__(self, shape: tuple[int, int, int], width: int = 64, num_classes: int = 0,
                 conditioning: str = "projection", embed_dim: int = 32, norm: str = "none", hidden: int = HIDDEN):
        super().__init__(shape, width, num_classes, conditioning, embed_dim, norm)
        self.head = nn.Sequential(nn.Linear(self.head.in_features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
