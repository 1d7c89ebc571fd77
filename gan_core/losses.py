"""Adversarial losses chosen by name: a pair of small pure functions on discriminator logits.

Every loss takes raw discriminator outputs ("logits", any shape: (B,), (B, 1) or a PatchGAN map
(B, 1, H, W)) and returns a scalar averaged over the batch AND the patch dimensions, so a map of
logits scores like the same logits given as a flat batch. Both players minimise their loss.
Relativistic losses (Jolicoeur-Martineau 2018) score real against fake, so their generator loss also
needs D's logits on real data: ``g_loss(fake, real)``; the others ignore ``real``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_core.errors import GanConfigError, unknown_name


@dataclass(frozen=True)
class Loss:
    """A named adversarial loss: ``d_loss(real, fake)`` for D, ``g_loss(fake, real=None)`` for G."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[..., Tensor]
    logistic: bool  # D outputs are logits of P(real); label smoothing applies
    relativistic: bool = False  # g_loss needs D's logits on real data


def _d_logistic(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """-E[(1-s) log D(x) + s log(1-D(x))] - E[log(1 - D(G(z)))], D = sigmoid(logits).

    With s = 0 (no one-sided label smoothing) this is softplus(-r) + softplus(f), averaged.
    """
    real_term = F.softplus(-real) if smoothing == 0 else (1 - smoothing) * F.softplus(-real) + smoothing * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def _g_minimax(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Saturating (original) G loss: E[log(1 - D(G(z)))] = -E[softplus(f)]; gradients vanish when D wins."""
    return -F.softplus(fake).mean()


def _g_ns(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Non-saturating G loss: -E[log D(G(z))] = E[softplus(-f)]."""
    return F.softplus(-fake).mean()


def _d_wgan(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss E[D(G(z))] - E[D(x)] (the negative Wasserstein estimate)."""
    return fake.mean() - real.mean()


def _g_wgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """Generator loss -E[D(G(z))]; shared by WGAN and hinge."""
    return -fake.mean()


def _d_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """LSGAN (Mao et al. 2017, a=0, b=1): ½E[(D(x) - 1)²] + ½E[D(G(z))²]."""
    return 0.5 * (real - 1).pow(2).mean() + 0.5 * fake.pow(2).mean()


def _g_lsgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """LSGAN generator (c=1): ½E[(D(G(z)) - 1)²]."""
    return 0.5 * (fake - 1).pow(2).mean()


def _d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge (Lim & Ye 2017; SNGAN): E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _relative(real: Tensor | None) -> Tensor:
    if real is None:
        raise ValueError("a relativistic generator loss needs D's logits on real data: g_loss(fake, real)")
    return real


def _d_rsgan(real: Tensor, fake: Tensor) -> Tensor:
    """RSGAN: -E[log sigmoid(C(x_r) - C(x_f))] over paired real/fake logits = softplus(f - r), averaged."""
    return F.softplus(fake - real).mean()


def _g_rsgan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """RSGAN generator: -E[log sigmoid(C(x_f) - C(x_r))] = softplus(r - f), averaged (RelGAN's loss)."""
    return F.softplus(_relative(real) - fake).mean()


def _d_ragan(real: Tensor, fake: Tensor) -> Tensor:
    """RaGAN: -E[log sigmoid(C(x_r) - mean C(x_f))] - E[log(1 - sigmoid(C(x_f) - mean C(x_r)))] (ESRGAN's loss).

    The means are over this batch: under data parallelism, over each worker's share (like BatchNorm).
    """
    return F.softplus(fake.mean() - real).mean() + F.softplus(fake - real.mean()).mean()


def _g_ragan(fake: Tensor, real: Tensor | None = None) -> Tensor:
    """RaGAN generator: the D loss with real and fake swapped."""
    return _d_ragan(fake, _relative(real))


LOSSES: dict[str, Loss] = {
    "minimax": Loss("minimax", _d_logistic, _g_minimax, logistic=True),
    "ns": Loss("ns", _d_logistic, _g_ns, logistic=True),
    "wgan": Loss("wgan", _d_wgan, _g_wgan, logistic=False),
    "lsgan": Loss("lsgan", _d_lsgan, _g_lsgan, logistic=False),
    "hinge": Loss("hinge", _d_hinge, _g_wgan, logistic=False),
    "rsgan": Loss("rsgan", _d_rsgan, _g_rsgan, logistic=False, relativistic=True),
    "ragan": Loss("ragan", _d_ragan, _g_ragan, logistic=False, relativistic=True),
}


def names() -> list[str]:
    """The valid loss names."""
    return list(LOSSES)


def logistic_names() -> list[str]:
    """The losses whose D outputs are logits of P(real), so that label smoothing applies."""
    return [n for n, loss in LOSSES.items() if loss.logistic]


def check_name(name: str, field: str = "loss.name") -> None:
    """A GanConfigError naming ``field`` and the registered losses unless ``name`` is one of them."""
    if name not in LOSSES:
        raise GanConfigError(field, f"got {name!r}", [repr(n) for n in LOSSES])


def get(name: str, label_smoothing: float = 0.0) -> Loss:
    """The loss called ``name``; one-sided label smoothing ``s`` makes real targets 1 - s (logistic only)."""
    if name not in LOSSES:
        raise unknown_name("loss.name", name, LOSSES)
    loss = LOSSES[name]
    if label_smoothing:
        if not loss.logistic:
            raise ValueError(f"loss.label_smoothing: applies only to logistic losses "
                             f"({', '.join(logistic_names())}), not {name!r}")
        s = float(label_smoothing)
        return Loss(name, lambda r, f: _d_logistic(r, f, s), loss.g_loss, logistic=True)
    return loss


def clip_weights_(module: torch.nn.Module, c: float) -> None:
    """Original WGAN (Arjovsky et al. 2017): clamp every critic weight to [-c, c] after its update."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)
