"""Model registry: build a generator or discriminator by architecture name for a data shape.

Builders take the model's config section and a ``DataSpec`` (sample shape, number of classes,
kind), so the same config can be checked against a dataset before training starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from gan_core.config import DiscriminatorConfig, GeneratorConfig
from gan_core.errors import GanConfigError, unknown_name
from gan_core.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_core.models.infogan import InfoGANDiscriminator, InfoGANGenerator
from gan_core.models.mlp import MLPDiscriminator, MLPGenerator
from gan_core.models.patchgan import PatchDiscriminator
from gan_core.models.prior import GaussianPrior, Generator, MixturePrior
from gan_core.models.resnet import ResNetDiscriminator, ResNetGenerator
from gan_core.models.text import (
    Conv1dCritic,
    Conv1dSoftmaxGenerator,
    GumbelLSTMGenerator,
    TextCNNDiscriminator,
)


@dataclass(frozen=True)
class DataSpec:
    """What a model must know about the data: sample shape, classes (0 = unconditional), kind."""

    shape: tuple[int, ...]
    num_classes: int = 0
    kind: str = "toy"  # toy | image | text


def _image_shape(spec: DataSpec, field: str) -> tuple[int, int, int]:
    if len(spec.shape) != 3 or spec.shape[1] != spec.shape[2]:
        raise GanConfigError(field, f"a conv model needs square (C, H, W) images, the data has shape {spec.shape}",
                             ["mlp"])
    if spec.shape[0] not in (1, 3):
        raise GanConfigError("data.channels", f"conv models take 1 or 3 channels, got {spec.shape[0]}", [1, 3])
    return spec.shape  # type: ignore[return-value]


def _text_shape(spec: DataSpec, field: str) -> tuple[int, int]:
    """(seq_len, vocab) of text data; text models need one-hot sequences of shape (L, V)."""
    if spec.kind != "text" or len(spec.shape) != 2:
        raise GanConfigError(field, f"a text model needs text data of shape (L, V), got {spec.kind} "
                             f"data of shape {spec.shape}", ["a text dataset"])
    return spec.shape  # type: ignore[return-value]


GenBuilder = Callable[[GeneratorConfig, DataSpec], nn.Module]
DiscBuilder = Callable[[DiscriminatorConfig, DataSpec], nn.Module]

GENERATORS: dict[str, GenBuilder] = {
    "mlp": lambda c, s: MLPGenerator(c.z_dim, s.shape, c.width, c.depth, s.num_classes, c.embed_dim,
                                     tanh=s.kind == "image"),
    "dcgan": lambda c, s: DCGANGenerator(c.z_dim, _image_shape(s, "generator.arch"), c.width, s.num_classes),
    "infogan": lambda c, s: InfoGANGenerator(c.z_dim, _image_shape(s, "generator.arch"), c.width, s.num_classes),
    "resnet": lambda c, s: ResNetGenerator(c.z_dim, _image_shape(s, "generator.arch"), c.width, s.num_classes),
    # text: hidden = width; conv1d-softmax residual blocks = depth
    "lstm-gumbel": lambda c, s: GumbelLSTMGenerator(_text_shape(s, "generator.arch")[1], s.shape[0],
                                                    c.embed_dim, c.width),
    "conv1d-softmax": lambda c, s: Conv1dSoftmaxGenerator(c.z_dim, _text_shape(s, "generator.arch")[1],
                                                          s.shape[0], c.width, c.depth),
}

DISCRIMINATORS: dict[str, DiscBuilder] = {
    "mlp": lambda c, s: MLPDiscriminator(s.shape, c.width, c.depth, s.num_classes, c.conditioning,
                                         c.embed_dim, c.norm),
    "dcgan": lambda c, s: DCGANDiscriminator(_image_shape(s, "discriminator.arch"), c.width, s.num_classes,
                                             c.conditioning, c.embed_dim, c.norm),
    "infogan": lambda c, s: InfoGANDiscriminator(_image_shape(s, "discriminator.arch"), c.width, s.num_classes,
                                                 c.conditioning, c.embed_dim, c.norm),
    "resnet": lambda c, s: ResNetDiscriminator(_image_shape(s, "discriminator.arch"), c.width, s.num_classes,
                                               c.conditioning, c.embed_dim),
    "patchgan": lambda c, s: PatchDiscriminator(_image_shape(s, "discriminator.arch"), c.width, c.depth,
                                                s.num_classes, c.conditioning, c.embed_dim, c.norm),
    # text: filters per width = width, embedded representations (text-cnn) / residual blocks = depth
    "text-cnn": lambda c, s: TextCNNDiscriminator(_text_shape(s, "discriminator.arch")[1], s.shape[0],
                                                  c.embed_dim, c.width, c.depth),
    "conv1d": lambda c, s: Conv1dCritic(_text_shape(s, "discriminator.arch")[1], s.shape[0], c.width, c.depth),
}


def build_generator(cfg: GeneratorConfig, spec: DataSpec) -> Generator:
    """The generator net named by ``cfg.arch`` behind its latent prior (gaussian or learned mixture)."""
    if cfg.arch not in GENERATORS:
        raise unknown_name("generator.arch", cfg.arch, GENERATORS)
    net = GENERATORS[cfg.arch](cfg, spec)
    prior = MixturePrior(cfg.z_dim, cfg.prior_components) if cfg.prior == "mixture" else GaussianPrior(cfg.z_dim)
    return Generator(net, prior, spec.num_classes)


def build_discriminator(cfg: DiscriminatorConfig, spec: DataSpec) -> nn.Module:
    """The discriminator named by ``cfg.arch``, spectrally normalised when ``cfg.spectral_norm``."""
    if cfg.arch not in DISCRIMINATORS:
        raise unknown_name("discriminator.arch", cfg.arch, DISCRIMINATORS)
    D = DISCRIMINATORS[cfg.arch](cfg, spec)
    if cfg.spectral_norm:
        apply_spectral_norm(D)
    return D


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every Linear and Conv weight of ``module``."""
    for m in list(module.modules()):
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.ConvTranspose2d):
            nn.utils.parametrizations.spectral_norm(m)
    return module
