"""Differentiable augmentation of every image D sees, with an optionally adaptive probability.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): the
SAME family of random transforms T is applied to real and generated images wherever D sees them -
D's step (real and fake), G's step (so G's gradient flows back through T) and the penalty's inputs
(R1 / WGAN-GP differentiate D at T(x)). Because T is differentiable, D never learns that
augmented images are "real" and G never learns to produce augmented-looking images.

Ops (images in [-1, 1], shape (B, C, H, W); every draw is per sample):

* ``color``: brightness x + (u - 0.5); saturation m + (x - m) * 2u with m the per-pixel channel
  mean; contrast m + (x - m) * (u + 0.5) with m the per-sample mean (u ~ U[0, 1]).
* ``translation``: an integer shift in [-H/8, H/8] x [-W/8, W/8] pixels, zeros (grey) shifted in.
* ``cutout``: one (H/2 x W/2) square, centre uniform over the image (clipped at the border), set to 0.

Adaptive probability (ADA, Karras et al. 2020, "Training Generative Adversarial Networks with Limited
Data"): each op is applied to each sample with probability p. With ``target`` set, p follows the
overfitting heuristic r_t = E[sign(D(real))] over the last ``interval`` D steps:
p <- clip(p + sign(r_t - target) * (batch * interval) / (kimg * 1000), 0, 1), i.e. p can cross
[0, 1] in ``kimg`` thousand real images. Under data parallelism the sign sum and count are
all-reduced, so every rank holds the same p. p = 0 is exactly the identity.

Randomness comes from the trainer's noise source (``gan_core.noise``), so N data-parallel workers
draw the global batch's transforms and apply their slice: 2 workers == 1 worker with augmentation on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor

from gan_core.noise import TorchNoise

OPS = ("color", "translation", "cutout")


def per_sample(d_out: Tensor) -> Tensor:
    """One score per sample: D's output, averaged over a PatchGAN map's positions."""
    d_out = d_out.float()
    return d_out.flatten(1).mean(1) if d_out.dim() > 1 else d_out


def _u(noise: TorchNoise, x: Tensor) -> Tensor:
    """One U[0, 1] per sample, shaped to broadcast over (B, C, H, W)."""
    return noise.rand((x.shape[0], 1, 1, 1), x)


def color(x: Tensor, noise: TorchNoise) -> Tensor:
    """Brightness, saturation and contrast, each with its own per-sample draw."""
    x = x + (_u(noise, x) - 0.5)
    m = x.mean(dim=1, keepdim=True)
    x = m + (x - m) * (2 * _u(noise, x))
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return m + (x - m) * (_u(noise, x) + 0.5)


def _shift_index(size: int, shift: Tensor) -> tuple[Tensor, Tensor]:
    """Source index of every output position for per-sample shifts, and whether it is inside."""
    src = torch.arange(size, device=shift.device).view(1, -1) - shift.view(-1, 1)
    return src.clamp(0, size - 1), (src >= 0) & (src < size)


def translation(x: Tensor, noise: TorchNoise, ratio: float = 0.125) -> Tensor:
    """Shift each sample by whole pixels (up to ``ratio`` of each side); vacated pixels are 0."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    u = noise.rand((b, 2), x)
    dy = (u[:, 0] * (2 * sy + 1)).floor().long().clamp(max=2 * sy) - sy
    dx = (u[:, 1] * (2 * sx + 1)).floor().long().clamp(max=2 * sx) - sx
    iy, in_y = _shift_index(h, dy)
    ix, in_x = _shift_index(w, dx)
    rows = torch.gather(x, 2, iy.view(b, 1, h, 1).expand(b, c, h, w))
    out = torch.gather(rows, 3, ix.view(b, 1, 1, w).expand(b, c, h, w))
    inside = (in_y.view(b, 1, h, 1) & in_x.view(b, 1, 1, w)).to(x.dtype)
    return out * inside


def cutout(x: Tensor, noise: TorchNoise, ratio: float = 0.5) -> Tensor:
    """Zero one square of ``ratio`` of each side per sample, its centre uniform over the image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    u = noise.rand((b, 2), x)
    cy = (u[:, 0] * h).floor().long().clamp(max=h - 1)
    cx = (u[:, 1] * w).floor().long().clamp(max=w - 1)
    ys = torch.arange(h, device=x.device).view(1, -1) - (cy - ch // 2).view(-1, 1)
    xs = torch.arange(w, device=x.device).view(1, -1) - (cx - cw // 2).view(-1, 1)
    hole = ((ys >= 0) & (ys < ch)).view(b, 1, h, 1) & ((xs >= 0) & (xs < cw)).view(b, 1, 1, w)
    return x * (~hole).to(x.dtype)


OP_FUNCS: dict[str, Callable[[Tensor, TorchNoise], Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout}


class Augment:
    """The policy's ops, each applied to each sample with probability ``p`` (adapted when ``target`` is set).

    ``p`` and the pending r_t statistics are tensors in ``state_dict`` (restored bit for bit on resume).
    """

    def __init__(self, policy: list[str], p: float = 1.0, target: float | None = None, interval: int = 4,
                 kimg: float = 100.0, device: torch.device | str = "cpu"):
        unknown = [op for op in policy if op not in OP_FUNCS]
        if unknown:
            raise ValueError(f"unknown augmentation ops {unknown}; allowed: {list(OP_FUNCS)}")
        self.policy, self.target, self.interval, self.kimg = list(policy), target, interval, kimg
        self.p = torch.tensor(float(p), dtype=torch.float64, device=device)
        self._sign_sum = torch.zeros((), dtype=torch.float64, device=device)
        self._count = torch.zeros((), dtype=torch.float64, device=device)
        self._steps = 0
        self.r_t = torch.full((), float("nan"), dtype=torch.float64, device=device)  # last adjustment's r_t

    def __call__(self, x: Tensor, noise: TorchNoise) -> Tensor:
        """T(x): every op of the policy, each kept per sample with probability p; identity when off."""
        if not self.policy:
            return x
        p = self.p.to(x.dtype)
        for op in self.policy:
            keep = noise.rand((x.shape[0], 1, 1, 1), x) < p
            x = torch.where(keep, OP_FUNCS[op](x, noise), x)
        return x

    @torch.no_grad()
    def observe(self, d_real: Tensor) -> None:
        """Accumulate sign(D(real)) of one D step; every ``interval`` steps, move p toward ``target``."""
        if self.target is None or not self.policy:
            return
        logits = per_sample(d_real.detach())
        self._sign_sum += logits.sign().sum().double()
        self._count += logits.numel()
        self._steps += 1
        if self._steps % self.interval:
            return
        stats = torch.stack([self._sign_sum, self._count])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(stats)
        r_t = stats[0] / stats[1]
        step = stats[1] / (self.kimg * 1000)  # images seen in this interval, over the 0 -> 1 span
        self.p.copy_((self.p + torch.sign(r_t - self.target) * step).clamp(0.0, 1.0))
        self.r_t.copy_(r_t)
        self._sign_sum.zero_()
        self._count.zero_()

    def state_dict(self) -> dict[str, Tensor | int]:
        """p, the pending sign statistics and the D-step counter."""
        return {"p": self.p.clone(), "sign_sum": self._sign_sum.clone(), "count": self._count.clone(),
                "r_t": self.r_t.clone(), "steps": self._steps}

    def load_state_dict(self, state: dict[str, Tensor | int]) -> None:
        """Restore what ``state_dict`` saved."""
        self.p.copy_(state["p"])
        self._sign_sum.copy_(state["sign_sum"])
        self._count.copy_(state["count"])
        self.r_t.copy_(state["r_t"])
        self._steps = int(state["steps"])


class LeCam:
    """LeCam regularisation (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under
    Limited Data", Eq. 3): R_LC = E_x[(D(x) - a_F)^2] + E_z[(D(G(z)) - a_R)^2].

    a_R and a_F are exponential moving averages (``decay``) of D's mean output on real and on
    generated images, updated with the current batch before the term is computed and started at 0.
    D's outputs are pulled toward the other side's anchor, which bounds how far apart D can push
    real and fake scores (the paper relates it to the LeCam divergence). Under data parallelism the
    batch means are all-reduced, so every rank holds the same anchors; both are in ``state_dict``.
    """

    def __init__(self, decay: float = 0.99, device: torch.device | str = "cpu"):
        self.decay = decay
        self.anchor_real = torch.zeros((), dtype=torch.float32, device=device)
        self.anchor_fake = torch.zeros((), dtype=torch.float32, device=device)

    def __call__(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        """The (unweighted) term for this D step's outputs; updates the anchors first."""
        r, f = per_sample(d_real), per_sample(d_fake)
        with torch.no_grad():
            means = torch.stack([r.mean(), f.mean()])
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                dist.all_reduce(means)
                means /= dist.get_world_size()
            self.anchor_real.lerp_(means[0], 1 - self.decay)
            self.anchor_fake.lerp_(means[1], 1 - self.decay)
        return (r - self.anchor_fake).pow(2).mean() + (f - self.anchor_real).pow(2).mean()

    def state_dict(self) -> dict[str, Tensor]:
        """The two anchors."""
        return {"anchor_real": self.anchor_real.clone(), "anchor_fake": self.anchor_fake.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore what ``state_dict`` saved."""
        self.anchor_real.copy_(state["anchor_real"])
        self.anchor_fake.copy_(state["anchor_fake"])
