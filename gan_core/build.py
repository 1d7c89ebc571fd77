"""Wire a config to runnable pieces: models for a data spec, and the trainer around them."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan_core.config import GanConfig
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec, build_discriminator, build_generator
from gan_core.noise import DEFAULT_NOISE, TorchNoise
from gan_core.step import GANTrainer


def spec_of(dataset) -> DataSpec:
    """The DataSpec (shape, classes, kind) of a gan_core dataset; classes only when conditional."""
    return DataSpec(tuple(dataset.shape), int(dataset.num_classes), dataset.kind)


def conditional_spec(spec: DataSpec, conditional: bool) -> DataSpec:
    """Drop the classes from ``spec`` unless the config asks for a conditional GAN."""
    return spec if conditional else DataSpec(spec.shape, 0, spec.kind)


def build_trainer(cfg: GanConfig, spec: DataSpec, device: torch.device | str = "cpu",
                  wrap: Callable[[nn.Module], nn.Module] | None = None,
                  noise: TorchNoise = DEFAULT_NOISE, seed: int | None = None) -> GANTrainer:
    """Seed torch, build G and D for ``spec`` and return the trainer (models built on CPU, then moved)."""
    torch.manual_seed(cfg.seed if seed is None else seed)
    G, D = build_models(cfg, spec)
    return GANTrainer(G, D, cfg, device=device, wrap=wrap, noise=noise)


def build_models(cfg: GanConfig, spec: DataSpec) -> tuple[nn.Module, nn.Module]:
    """G and D for ``spec`` as ``cfg`` describes them (a config the models cannot serve raises here)."""
    if cfg.augment.policy and spec.kind != "image":
        raise GanConfigError("augment.policy", f"augments images; this data is {spec.kind}", ["[] (off)"])
    spec = conditional_spec(spec, cfg.data.conditional)
    G = build_generator(cfg.generator, spec)
    if hasattr(G.net, "beta_max"):  # Gumbel-softmax text generators anneal to train.gumbel_beta_max
        G.net.beta_max = float(cfg.train.gumbel_beta_max)
    return G, build_discriminator(cfg.discriminator, spec)


FLOATS_PER_PARAM = 5  # weights, gradients, Adam's two moments, and G's EMA copy
BATCH_COPIES = 4  # real and fake batches, each with its gradient, as the inputs of D (a lower bound)


def training_memory(cfg: GanConfig, spec: DataSpec) -> dict[str, int]:
    """A lower bound of the bytes one training step holds, from the config alone (models built on the meta
    device: nothing allocated): {'generator': .., 'discriminator': .., 'batch': ..}. Activations inside
    the models come on top, so a config above the machine's memory can never run."""
    spec_c = conditional_spec(spec, cfg.data.conditional)
    size = {}
    for name, build, part in (("generator", build_generator, cfg.generator),
                              ("discriminator", build_discriminator, cfg.discriminator)):
        try:
            with torch.device("meta"):
                model = build(part, spec_c)
            size[name] = FLOATS_PER_PARAM * 4 * sum(p.numel() for p in model.parameters())
        except (RuntimeError, OverflowError):  # a size torch cannot even describe ("storage size overflowed")
            size[name] = 2**63
    sample = 1
    for d in spec.shape:
        sample *= int(d)
    size["batch"] = BATCH_COPIES * 4 * cfg.train.batch_size * cfg.train.n_critic * sample
    return size
