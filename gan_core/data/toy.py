"""2-D Gaussian mixtures (ring of 8, grid of 25) in the two published settings.

PacGAN (Lin et al. 2018): ring radius 1, std 0.01; grid {-4,-2,0,2,4}^2, std 0.05.
WGAN-GP / VEEGAN: ring radius 2, std 0.02; grid as PacGAN (WGAN-GP's code additionally divides its
grid by 2.828 - we keep the unscaled geometry, so both settings share one grid).
The ring uses angles 2*pi*k/8 for k = 0..7: eight distinct modes (``linspace(0, 2*pi, 8)``, seen in
several public repos, repeats the first mode and gives only 7).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gan_core.data.base import TensorGanDataset
from gan_core.errors import GanConfigError

SETTINGS: dict[str, dict[str, dict[str, float]]] = {
    "ring8": {"pacgan": {"radius": 1.0, "std": 0.01}, "wgangp": {"radius": 2.0, "std": 0.02}},
    "grid25": {"pacgan": {"spacing": 2.0, "std": 0.05}, "wgangp": {"spacing": 2.0, "std": 0.05}},
}


def mode_centres(name: str, setting: str) -> tuple[np.ndarray, float]:
    """The (K, 2) mode centres and the per-mode std of a toy mixture."""
    if name not in SETTINGS:
        raise GanConfigError("data.name", f"unknown toy mixture {name!r}", sorted(SETTINGS))
    if setting not in SETTINGS[name]:
        raise GanConfigError("data.setting", f"got {setting!r}", sorted(SETTINGS[name]))
    p = SETTINGS[name][setting]
    if name == "ring8":
        ang = 2 * math.pi * np.arange(8) / 8
        centres = p["radius"] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        ticks = p["spacing"] * (np.arange(5) - 2)
        centres = np.array([(a, b) for a in ticks for b in ticks], dtype=np.float64)
    return centres, p["std"]


def make_toy(name: str, setting: str, n_samples: int, split: str, seed: int = 0) -> TensorGanDataset:
    """Sample ``n_samples`` fixed points (uniform over modes); the test split uses another stream."""
    centres, std = mode_centres(name, setting)
    if n_samples < 1:
        raise GanConfigError("data.n_samples", f"must be >= 1, got {n_samples}")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    modes = rng.integers(len(centres), size=n_samples)
    pts = centres[modes] + std * rng.standard_normal((n_samples, 2))
    info = {
        "source": f"synthetic {name} ({setting} setting)", "split": split, "setting": setting,
        "seed": seed, "std": std, "centres": centres.round(12).tolist(), "n_modes": len(centres),
    }
    return TensorGanDataset(name, "toy", torch.from_numpy(pts.astype(np.float32)),
                            torch.from_numpy(modes), len(centres), None, info)
