"""Penalties on discriminators whose input gradient is known in closed form.

A per-pixel (instead of per-sample) norm, a norm over the whole batch, or one alpha for the whole
batch all give different numbers from the formulas checked here.
"""

import pytest
import torch
from torch import nn

from gan_core import penalties


class Linear(nn.Module):
    """D(x) = w·flatten(x): ∇D = w for every sample, ‖∇D‖ = ‖w‖."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.randn(*shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, x, y=None):
        return (x * self.w).flatten(1).sum(1)


class Quadratic(nn.Module):
    """D(x) = ½ Σ w x²: ∇D = w ⊙ x, a different norm for every sample."""

    def __init__(self, shape):
        super().__init__()
        self.w = nn.Parameter(torch.rand(*shape, generator=torch.Generator().manual_seed(1)) + 0.5)

    def forward(self, x, y=None):
        return 0.5 * (self.w * x * x).flatten(1).sum(1)


class FixedNoise:
    """Returns preset uniform draws, in order; checks the requested shapes."""

    def __init__(self, *draws):
        self.draws = list(draws)

    def rand(self, shape, like):
        t = self.draws.pop(0)
        assert tuple(t.shape) == tuple(shape)
        return t


SHAPE = (3, 4, 4)
B = 5
real = torch.randn(B, *SHAPE, generator=torch.Generator().manual_seed(2))
fake = torch.randn(B, *SHAPE, generator=torch.Generator().manual_seed(3))


def test_r1_r2_linear_equal_half_squared_norm_of_w() -> None:
    D = Linear(SHAPE)
    w2 = D.w.detach().pow(2).sum().item()
    assert penalties.get("r1")(D, real, fake).item() == pytest.approx(0.5 * w2, rel=1e-5)
    assert penalties.get("r2")(D, real, fake).item() == pytest.approx(0.5 * w2, rel=1e-5)


def test_r1_quadratic_is_per_sample() -> None:
    D = Quadratic(SHAPE)
    w = D.w.detach()
    expected = 0.5 * ((w * real) ** 2).flatten(1).sum(1).mean().item()
    assert penalties.get("r1")(D, real, fake).item() == pytest.approx(expected, rel=1e-5)
    expected_fake = 0.5 * ((w * fake) ** 2).flatten(1).sum(1).mean().item()
    assert penalties.get("r2")(D, real, fake).item() == pytest.approx(expected_fake, rel=1e-5)


def test_wgan_gp_linear() -> None:
    D = Linear(SHAPE)
    norm = D.w.detach().norm().item()
    assert penalties.get("wgan-gp")(D, real, fake).item() == pytest.approx((norm - 1) ** 2, rel=1e-5)


def test_wgan_gp_one_alpha_per_sample() -> None:
    D = Quadratic(SHAPE)
    alpha = torch.linspace(0.1, 0.9, B)
    pen = penalties.wgan_gp(D, real, fake, noise=FixedNoise(alpha))
    a = alpha.view(-1, 1, 1, 1)
    x_hat = a * real + (1 - a) * fake
    expected = ((D.w.detach() * x_hat).flatten(1).norm(dim=1) - 1).pow(2).mean().item()
    assert pen.item() == pytest.approx(expected, rel=1e-5)


def test_dragan_perturbs_real_data_by_batch_std() -> None:
    D = Quadratic(SHAPE)
    delta = torch.rand(B, *SHAPE, generator=torch.Generator().manual_seed(4))
    alpha = torch.linspace(0.2, 1.0, B)
    pen = penalties.dragan(D, real, fake, noise=FixedNoise(delta, alpha))
    x_hat = real + alpha.view(-1, 1, 1, 1) * (0.5 * real.std() * delta)
    expected = ((D.w.detach() * x_hat).flatten(1).norm(dim=1) - 1).pow(2).mean().item()
    assert pen.item() == pytest.approx(expected, rel=1e-5)
    # the fake batch plays no part
    pen2 = penalties.dragan(D, real, fake * 100, noise=FixedNoise(delta, alpha))
    assert pen2.item() == pytest.approx(pen.item(), rel=1e-6)


def test_penalty_is_differentiable_wrt_discriminator() -> None:
    D = Linear(SHAPE)
    pen = penalties.get("r1")(D, real, fake)
    pen.backward()
    # d/dw ½‖w‖² = w
    torch.testing.assert_close(D.w.grad, D.w.detach(), rtol=1e-5, atol=1e-6)


def test_patch_map_uses_per_sample_mean_of_patches() -> None:
    class PatchLinear(Linear):
        def forward(self, x, y=None):
            v = (x * self.w).flatten(1).sum(1)
            return v.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)  # 4 identical patch logits

    D = PatchLinear(SHAPE)
    w2 = D.w.detach().pow(2).sum().item()
    assert penalties.get("r1")(D, real, fake).item() == pytest.approx(0.5 * w2, rel=1e-5)


def test_none_is_zero_and_unknown_lists_names() -> None:
    assert penalties.get("none")(Linear(SHAPE), real, fake).item() == 0.0
    with pytest.raises(ValueError) as e:
        penalties.get("gp")
    for n in ("none", "wgan-gp", "dragan", "r1", "r2"):
        assert n in str(e.value)


def _digits_trainer(every: int, weight: float):
    from gan_core import build_trainer, load_config
    from gan_core.models import DataSpec

    cfg = load_config("configs/digits_dcgan_ns_r1.yaml", [f"penalty.every={every}", f"penalty.weight={weight}",
                                                         "generator.width=16", "discriminator.width=16"])
    torch.manual_seed(0)
    tr = build_trainer(cfg, DataSpec((1, 8, 8), 0, "image"))
    grads, calls = [], []
    step, pen = tr.opt_d.step, tr.penalty
    tr.opt_d.step = lambda *a, **k: (grads.append([p.grad.clone() for p in tr.D.parameters()]), step(*a, **k))[1]
    tr.penalty = lambda *a, **k: (calls.append(tr.d_steps), pen(*a, **k))[1]
    return tr, grads, calls


def test_lazy_regularisation_runs_every_kth_d_step_at_k_times_the_weight() -> None:
    """penalty.every=3, weight w: the penalty at D steps 0, 3, 6 with weight 3w (StyleGAN2's lazy R1)."""
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    lazy, g_lazy, calls = _digits_trainer(3, 0.5)
    eager, g_eager, _ = _digits_trainer(1, 1.5)
    for i in range(7):
        torch.manual_seed(100 + i)
        m = lazy.d_step(real, None)
        torch.manual_seed(100 + i)
        eager.d_step(real, None)
        if i == 0:  # same weights, same batch, same noise: 3 x 0.5 == 1.5
            for a, b in zip(g_lazy[0], g_eager[0], strict=True):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert calls == [0, 3, 6]
    assert lazy.d_steps == 7 and float(m["penalty"]) > 0  # step 7 reports the penalty of step 6
    assert lazy.state_dict()["d_steps"] == 7
    with pytest.raises(Exception, match="penalty.every"):
        from gan_core import load_config
        load_config("configs/digits_dcgan_ns_r1.yaml", ["penalty.every=0"])
