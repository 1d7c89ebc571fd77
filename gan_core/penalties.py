"""Gradient penalties chosen by name: ``pen(D, real, fake, y=None) -> scalar`` (unweighted).

Every penalty differentiates the discriminator w.r.t. its INPUT with
``torch.autograd.grad(create_graph=True)`` so the result can join the adversarial loss in ONE
backward (the rule that keeps DDP's gradient all-reduce correct). Gradient norms are taken PER
SAMPLE over all non-batch dimensions (never per pixel). When D outputs a PatchGAN map, the
differentiated quantity is each sample's mean over its patch logits. All penalties run in fp32.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gan_core.errors import GanConfigError, key_path, unknown_name
from gan_core.noise import DEFAULT_NOISE
from gan_core.noise import TorchNoise as Noise

Penalty = Callable[..., Tensor]


def _call_d(D: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    out = D(x) if y is None else D(x, y)
    return out.float().flatten(1).mean(1) if out.dim() > 1 else out.float()


def input_grad(D: nn.Module, x: Tensor, y: Tensor | None = None) -> Tensor:
    """dD(x)/dx per sample, with the graph kept so the penalty can be backpropagated."""
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(device_type=x.device.type, enabled=False):
        out = _call_d(D, x, y)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad


def per_sample_norm(grad: Tensor) -> Tensor:
    """L2 norm of each sample's gradient, flattened over every non-batch dim: shape (B,)."""
    return grad.flatten(1).norm(2, dim=1)


def _per_sample(u: Tensor, like: Tensor) -> Tensor:
    return u.view(-1, *([1] * (like.dim() - 1)))


def none(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None, noise: Noise = DEFAULT_NOISE) -> Tensor:
    """No penalty: a zero that still depends on nothing (weight 0 turns any penalty off too)."""
    return real.new_zeros((), dtype=torch.float32)


def wgan_gp(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None,
            noise: Noise = DEFAULT_NOISE) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ - 1)²], x̂ = αx + (1-α)G(z), one α~U[0,1] per sample."""
    alpha = _per_sample(noise.rand((real.shape[0],), real), real)
    x_hat = alpha * real.float() + (1 - alpha) * fake.detach().float()
    return (per_sample_norm(input_grad(D, x_hat, y)) - 1).pow(2).mean()


def dragan(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None,
           noise: Noise = DEFAULT_NOISE, c: float = 0.5) -> Tensor:
    """DRAGAN (Kodali et al. 2017): E[(‖∇D(x̂)‖₂ - 1)²] around real data.

    x_p = x + c·std(x)·δ with δ~U[0,1] elementwise and std over the whole real batch (c = 0.5 as in
    the paper's code; ``penalty.params.c``); x̂ = x + α(x_p - x) with one α~U[0,1] per sample.
    """
    r = real.float()
    delta = noise.rand(tuple(r.shape), r)
    alpha = _per_sample(noise.rand((r.shape[0],), r), r)
    x_hat = r + alpha * (c * r.std() * delta)
    return (per_sample_norm(input_grad(D, x_hat, y)) - 1).pow(2).mean()


def r1(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None, noise: Noise = DEFAULT_NOISE) -> Tensor:
    """R1 (Mescheder et al. 2018), the penalty on real samples: ½E[‖∇D(x)‖₂²]."""
    return 0.5 * per_sample_norm(input_grad(D, real, y)).pow(2).mean()


def r2(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None = None, noise: Noise = DEFAULT_NOISE) -> Tensor:
    """R2, the same on generated samples: ½E[‖∇D(G(z))‖₂²] (G(z) detached: it regularises D only)."""
    return 0.5 * per_sample_norm(input_grad(D, fake, y)).pow(2).mean()


@dataclass
class PenaltySpec:
    """A registered penalty: its function and its own parameters with their defaults (each must be > 0)."""

    fn: Penalty
    params: dict[str, float] = field(default_factory=dict)


PENALTIES: dict[str, PenaltySpec] = {
    "none": PenaltySpec(none),
    "wgan-gp": PenaltySpec(wgan_gp),
    "dragan": PenaltySpec(dragan, {"c": 0.5}),
    "r1": PenaltySpec(r1),
    "r2": PenaltySpec(r2),
}


def names() -> list[str]:
    """The valid penalty names."""
    return list(PENALTIES)


def check(name: str, params: dict[str, float] | None = None, prefix: str = "penalty") -> None:
    """A GanConfigError naming the field unless ``name`` is registered and ``params`` are its own, finite and > 0."""
    if name not in PENALTIES:
        raise GanConfigError(f"{prefix}.name", f"got {name!r}", [repr(n) for n in PENALTIES])
    own = PENALTIES[name].params
    for key, value in (params or {}).items():
        if key not in own:
            raise GanConfigError(key_path(f"{prefix}.params", key), f"is not a parameter of penalty {name!r}",
                                 list(own) or "none: this penalty has no parameters")
        if not (math.isfinite(value) and value > 0):
            raise GanConfigError(key_path(f"{prefix}.params", key), f"must be a finite number > 0, got {value!r}")


def get(name: str, params: dict[str, float] | None = None) -> Penalty:
    """The penalty called ``name`` with ``params`` overriding its defaults; unknown names raise a ValueError
    listing the valid ones."""
    if name not in PENALTIES:
        raise unknown_name("penalty.name", name, PENALTIES)
    check(name, params)
    spec = PENALTIES[name]
    bound = {**spec.params, **(params or {})}
    return functools.partial(spec.fn, **bound) if bound else spec.fn
