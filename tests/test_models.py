"""Shapes of every G/D pair at 8-64 px, 1 and 3 channels, conditional or not; PatchGAN maps; priors."""

import itertools

import pytest
import torch

from gan_core.config import DiscriminatorConfig, GeneratorConfig
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec, build_discriminator, build_generator

SIZES = [8, 16, 28, 32, 64]


@pytest.mark.parametrize("size,channels,classes", list(itertools.product(SIZES, [1, 3], [0, 10])))
def test_image_generators_and_discriminators(size: int, channels: int, classes: int) -> None:
    spec = DataSpec((channels, size, size), classes, "image")
    n = 3
    y = torch.tensor([0, 3, 9]) if classes else None
    for g_arch in ("mlp", "dcgan", "infogan", "resnet"):
        G = build_generator(GeneratorConfig(arch=g_arch, z_dim=16, width=8, depth=2), spec)
        x = G(torch.randn(n, G.noise_dim), y)
        assert x.shape == (n, channels, size, size), g_arch
        assert x.abs().max() <= 1.0  # tanh output for images
    for d_arch, cond in itertools.product(("mlp", "dcgan", "infogan", "resnet", "patchgan"),
                                          ("projection", "concat")):
        D = build_discriminator(DiscriminatorConfig(arch=d_arch, width=8, depth=2, conditioning=cond,
                                                    spectral_norm=d_arch == "dcgan"), spec)
        out = D(x, y)
        if d_arch == "patchgan":
            assert out.shape == (n, 1, size // 4, size // 4)
        else:
            assert out.shape == (n,), (d_arch, cond)


def test_conditioning_changes_the_output() -> None:
    spec = DataSpec((1, 16, 16), 10, "image")
    G = build_generator(GeneratorConfig(arch="dcgan", z_dim=8, width=8), spec).eval()
    z = torch.randn(4, G.noise_dim)
    with torch.no_grad():  # conditional BN starts at identity; give the label embeddings a spread
        for m in G.modules():
            if hasattr(m, "gamma"):
                m.gamma.weight.normal_(1, 0.5)
    a, b = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.full((4,), 7))
    assert (a - b).abs().max() > 1e-3
    for cond in ("projection", "concat"):
        D = build_discriminator(DiscriminatorConfig(arch="dcgan", width=8, conditioning=cond), spec)
        x = torch.randn(4, 1, 16, 16)
        assert (D(x, torch.zeros(4, dtype=torch.long)) - D(x, torch.full((4,), 7))).abs().max() > 1e-4


def test_toy_mlp_shapes() -> None:
    spec = DataSpec((2,), 0, "toy")
    G = build_generator(GeneratorConfig(z_dim=2), spec)
    D = build_discriminator(DiscriminatorConfig(), spec)
    x = G(torch.randn(7, 2))
    assert x.shape == (7, 2) and D(x).shape == (7,)


def test_mixture_prior_learns_means_and_scales() -> None:
    spec = DataSpec((2,), 0, "toy")
    G = build_generator(GeneratorConfig(z_dim=4, prior="mixture", prior_components=5), spec)
    assert G.noise_dim == 5
    noise = torch.randn(64, G.noise_dim)
    G(noise).pow(2).sum().backward()
    assert G.prior.mu.grad.abs().sum() > 0 and G.prior.log_sigma.grad.abs().sum() > 0
    # the component comes from the last noise column: uniform over K
    k = (0.5 * (1 + torch.erf(torch.randn(20000) / 2**0.5)) * 5).long()
    counts = torch.bincount(k, minlength=5).float() / 20000
    assert counts.min() > 0.18 and counts.max() < 0.22


def test_spectral_norm_bounds_the_largest_singular_value() -> None:
    spec = DataSpec((2,), 0, "toy")
    D = build_discriminator(DiscriminatorConfig(spectral_norm=True), spec)
    for _ in range(20):  # power iterations run in training-mode forwards
        D(torch.randn(8, 2))
    lin = D.body[0]
    assert torch.linalg.matrix_norm(lin.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("size", [9, 36, 100])
def test_unproducible_image_size_is_a_clear_error(size: int) -> None:
    with pytest.raises(GanConfigError, match="data.image_size"):
        build_generator(GeneratorConfig(arch="dcgan"), DataSpec((1, size, size), 0, "image"))


def test_unknown_arch_lists_names() -> None:
    with pytest.raises(GanConfigError, match="generator.arch.*dcgan"):
        build_generator(GeneratorConfig(arch="stylegan"), DataSpec((2,), 0, "toy"))
    with pytest.raises(GanConfigError, match="discriminator.arch.*patchgan"):
        build_discriminator(DiscriminatorConfig(arch="unet"), DataSpec((2,), 0, "toy"))


def test_infogan_nets_are_dcgan_plus_one_fc_hidden_layer() -> None:
    """Chen et al. 2016's MNIST nets: G's z -> FC 1024 -> BN -> ReLU -> FC 7x7x128; D's conv features -> FC 1024."""
    from gan_core.models.infogan import HIDDEN

    spec = DataSpec((1, 28, 28), 0, "image")
    G = build_generator(GeneratorConfig(arch="infogan", z_dim=62, width=64), spec).net
    D = build_discriminator(DiscriminatorConfig(arch="infogan", width=64), spec)
    assert [type(m).__name__ for m in G.fc] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert (G.fc[0].in_features, G.fc[0].out_features, G.fc[3].out_features) == (62, HIDDEN, 128 * 7 * 7)
    assert [(c.in_channels, c.out_channels) for c in G.ups] == [(128, 64), (64, 1)]
    assert [(m.in_features, m.out_features) for m in D.head if isinstance(m, torch.nn.Linear)] == \
        [(128 * 7 * 7, HIDDEN), (HIDDEN, 1)]
    dc = build_generator(GeneratorConfig(arch="dcgan", z_dim=62, width=64), spec).net
    extra = sum(p.numel() for p in G.parameters()) - sum(p.numel() for p in dc.parameters())
    assert extra == 62 * HIDDEN + HIDDEN + 2 * HIDDEN + HIDDEN * 128 * 49 - 62 * 128 * 49  # the FC layer, BN
