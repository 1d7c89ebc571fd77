"""Walking a generator's inputs: latent interpolation (linear or spherical) and class-embedding mixtures.

``walk`` gives the points between two latent vectors (both endpoints included, exactly); ``soft_labels``
lets a conditional generator take a mixture of classes, a (B, classes) weight matrix, in place of integer
labels: every ``nn.Embedding`` it looks a label up in returns the weighted sum of the classes' rows
instead, so a one-hot row gives exactly the class's embedding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (B, D) at fractions ``t`` (T,): (B, T, D).
    Norms are interpolated linearly; nearly parallel vectors fall back to linear interpolation."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum(1, keepdim=True).clamp(-1.0, 1.0))[:, None, :]  # (B, 1, 1)
    tt = t[None, :, None]
    so = torch.sin(omega)
    small = so.abs() < 1e-6
    wa = torch.where(small, 1 - tt, torch.sin((1 - tt) * omega) / torch.where(small, 1.0, so))
    wb = torch.where(small, tt, torch.sin(tt * omega) / torch.where(small, 1.0, so))
    direction = wa * ua[:, None, :] + wb * ub[:, None, :]
    norm = (1 - tt) * na[:, None, :] + tt * nb[:, None, :]
    return direction / direction.norm(dim=2, keepdim=True).clamp_min(1e-12) * norm


def walk(a: Tensor, b: Tensor, steps: int, spherical: bool = False) -> Tensor:
    """``steps`` points from each row of ``a`` to the same row of ``b``: (B, steps, D); the first and last
    are ``a`` and ``b`` themselves (bit for bit)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=a.dtype)
    out = slerp(a, b, t) if spherical else a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]
    out[:, 0], out[:, -1] = a, b
    return out


@contextlib.contextmanager
def soft_labels(G: nn.Module) -> Iterator[None]:
    """Inside the block ``G`` accepts float (B, classes) class weights wherever it takes labels."""
    patched = []
    for m in G.modules():
        if isinstance(m, nn.Embedding):
            def forward(y: Tensor, m: nn.Embedding = m) -> Tensor:
                return y.to(m.weight.dtype) @ m.weight if y.is_floating_point() else F.embedding(y, m.weight)
            m.forward = forward  # type: ignore[method-assign]
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def class_rows(n: int, classes: int) -> tuple[Tensor, int]:
    """Labels for ``n`` samples laid out one class per grid row: (labels, samples per row)."""
    per = -(-n // classes)
    return torch.arange(n) // per, per
