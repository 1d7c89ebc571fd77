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
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_equals_formula(name: str) -> None:
    loss = losses.get(name)
    d, g = EXPECTED[name]
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    assert loss.d_loss(r, f).item() == pytest.approx(d, rel=1e-12)
    assert loss.g_loss(f).item() == pytest.approx(g, rel=1e-12)


def test_hand_values() -> None:
    assert EXPECTED["lsgan"] == pytest.approx((41.73375, 17.69625))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_patch_map_scores_like_flat_batch(name: str) -> None:
    loss = losses.get(name)
    r, f = torch.tensor(REAL), torch.tensor(FAKE)
    r_map, f_map = r.view(1, 1, 2, 2), f.view(1, 1, 2, 2)
    assert loss.d_loss(r_map, f_map).item() == pytest.approx(loss.d_loss(r, f).item(), rel=1e-6)
    assert loss.g_loss(f_map).item() == pytest.approx(loss.g_loss(f).item(), rel=1e-6)


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
    for n in ("minimax", "ns", "wgan", "lsgan", "hinge"):
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
