"""Each loss on fixed logits equals its formula, computed here by hand with math (not torch)."""

import math

import pytest
import torch

from gan_core import losses

REAL = [-5.0, 1.4, 12.5, 2.7]
FAKE = [10.0, 4.4, -5.5, 3.6]


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


EXPECTED = {
    # name: (d_loss, g_loss)
    "hinge": (6.75, -3.125),
    "wgan": (0.225, -3.125),
    "lsgan": (0.5 * mean((r - 1) ** 2 for r in REAL) + 0.5 * mean(f**2 for f in FAKE),
              0.5 * mean((f - 1) ** 2 for f in FAKE)),
    "ns": (mean(softplus(-r) for r in REAL) + mean(softplus(f) for f in FAKE), mean(softplus(-f) for f in FAKE)),
    "minimax": (mean(softplus(-r) for r in REAL) + mean(softplus(f) for f in FAKE), -mean(softplus(f) for f in FAKE)),
    # relativistic: -log sigmoid(x) = softplus(-x); RSGAN pairs real i with fake i, RaGAN uses the other side's mean
    "rsgan": (mean(softplus(f - r) for r, f in zip(REAL, FAKE)), mean(softplus(r - f) for r, f in zip(REAL, FAKE))),
    "ragan": (mean(softplus(mean(FAKE) - r) for r in REAL) + mean(softplus(f - mean(REAL)) for f in FAKE),
              mean(softplus(mean(REAL) - f) for f in FAKE) + mean(softplus(r - mean(FAKE)) for r in REAL)),
}
RELATIVISTIC = {"rsgan", "ragan"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_equals_formula(name: str) -> None:
    loss = losses.get(name)
    d, g = EXPECTED[name]
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    assert loss.d_loss(r, f).item() == pytest.approx(d, rel=1e-12)
    assert loss.g_loss(f, r).item() == pytest.approx(g, rel=1e-12)
    assert loss.relativistic == (name in RELATIVISTIC)
    if not loss.relativistic:  # the real logits are ignored
        assert loss.g_loss(f).item() == pytest.approx(g, rel=1e-12)


def test_hand_values() -> None:
    assert EXPECTED["lsgan"] == pytest.approx((41.73375, 17.69625))
    # rsgan D, pairs (r, f): softplus(15) + softplus(3) + softplus(-18) + softplus(0.9)
    assert EXPECTED["rsgan"][0] == pytest.approx((15.0000003 + 3.0485874 + 1.523e-8 + 1.2411539) / 4, rel=1e-6)


@pytest.mark.parametrize("name", sorted(RELATIVISTIC))
def test_relativistic_generator_loss_needs_real_logits(name: str) -> None:
    with pytest.raises(ValueError, match="real"):
        losses.get(name).g_loss(torch.tensor(FAKE))


def test_relativistic_losses_only_see_the_difference() -> None:
    """Shifting every logit by the same constant changes nothing (D's output is relative)."""
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    for name in RELATIVISTIC:
        loss = losses.get(name)
        assert loss.d_loss(r + 7, f + 7).item() == pytest.approx(loss.d_loss(r, f).item(), rel=1e-12)
        assert loss.g_loss(f - 3, r - 3).item() == pytest.approx(loss.g_loss(f, r).item(), rel=1e-12)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_patch_map_scores_like_flat_batch(name: str) -> None:
    loss = losses.get(name)
    r, f = torch.tensor(REAL), torch.tensor(FAKE)
    r_map, f_map = r.view(1, 1, 2, 2), f.view(1, 1, 2, 2)
    assert loss.d_loss(r_map, f_map).item() == pytest.approx(loss.d_loss(r, f).item(), rel=1e-6)
    assert loss.g_loss(f_map, r_map).item() == pytest.approx(loss.g_loss(f, r).item(), rel=1e-6)


def test_one_sided_label_smoothing() -> None:
    s = 0.1
    loss = losses.get("ns", label_smoothing=s)
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    expected = mean((1 - s) * softplus(-x) + s * softplus(x) for x in REAL) + mean(softplus(x) for x in FAKE)
    assert loss.d_loss(r, f).item() == pytest.approx(expected, rel=1e-12)
    # one-sided: the fake term and the generator loss are unchanged
    assert loss.g_loss(f).item() == pytest.approx(EXPECTED["ns"][1], rel=1e-12)


def test_smoothing_refused_for_non_logistic_losses() -> None:
    with pytest.raises(ValueError, match="logistic"):
        losses.get("wgan", label_smoothing=0.1)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError) as e:
        losses.get("wasserstein")
    msg = str(e.value)
    assert "loss.name" in msg
    for n in ("minimax", "ns", "wgan", "lsgan", "hinge", "rsgan", "ragan"):
        assert n in msg


def test_minimax_saturates_where_ns_does_not() -> None:
    """When D confidently rejects fakes (logit -10) the saturating loss gives ~no gradient."""
    f = torch.tensor([-10.0], requires_grad=True)
    losses.get("minimax").g_loss(f).backward()
    g_minimax = f.grad.abs().item()
    f.grad = None
    losses.get("ns").g_loss(f).backward()
    assert g_minimax < 1e-4 < f.grad.abs().item()


def test_weight_clipping_clamps_every_weight() -> None:
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.mul_(100)
    losses.clip_weights_(lin, 0.01)
    assert lin.weight.abs().max().item() <= 0.01 and lin.bias.abs().max().item() <= 0.01


def test_trainer_generator_step_scores_the_real_batch() -> None:
    """With a relativistic loss, G's step compares D(fake) with D(real) of the batch it is given."""
    from gan_core import build_trainer, load_config
    from gan_core.models import DataSpec

    cfg = load_config({"generator": {"z_dim": 4, "width": 16, "depth": 2}, "discriminator": {"width": 16, "depth": 2},
                       "loss": {"name": "rsgan"}})
    tr = build_trainer(cfg, DataSpec((2,), 0, "toy"))
    real = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    with torch.no_grad():
        expected = torch.nn.functional.softplus(tr.D(real) - tr.D(tr.G(tr.latent(8)))).mean().item()
    torch.manual_seed(0)
    assert tr.g_step(8, None, real)["g_loss"].item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="relativistic"):
        tr.g_step(8, None)
