"""FD calibration of a shipped feature network: the real-vs-real floor and the noise/blur curves.

``python -m gan_core.metrics.calibration digits`` prints FD(real train, real test) - the floor any
generator is measured against - then FD of the same train images with Gaussian pixel noise
(sigma in [0, 1] intensity units) and Gaussian blur (sigma in pixels). The reference is the test
split (at most 10,000 images), N fake = N real for the floor, train images subsampled with the seed.
``--features inception`` uses the standard FID network; ``--n-levels`` scores the noise/blur levels on
the first N of those train images instead (Inception costs ~0.2 CPU-s per image here).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.metrics.base import MAX_REAL
from gan_core.metrics.image import gaussian_blur, gaussian_noise
from gan_core.metrics.image_eval import ImageEvaluator

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.5)
BLUR_SIGMAS = (0.5, 1.0, 2.0)


def fd_calibration(name: str, seed: int = 0, root: str | None = None,
                   noise: tuple[float, ...] = NOISE_SIGMAS, blur: tuple[float, ...] = BLUR_SIGMAS,
                   features: str | None = None, n_levels: int | None = None, n_fake: int | None = None,
                   progress: Callable[[dict], None] | None = None) -> dict:
    """FD floor and FD under each noise / blur level, with the protocol (``progress`` sees each partial result).
    ``n_fake``: train images in the floor (default: as many as the reference holds, at most 10,000)."""
    test = build_dataset(DataConfig(name=name, split="test", root=root))
    train = build_dataset(DataConfig(name=name, split="train", root=root))
    n = min(n_fake or MAX_REAL, len(test), len(train), MAX_REAL)
    g = torch.Generator().manual_seed(seed)
    x, _ = train.get_batch(torch.randperm(len(train), generator=g)[:n].sort().values)
    ev = ImageEvaluator(test, n, seed, features=features, n_real=min(len(test), MAX_REAL))
    out: dict = {"protocol": {**ev.protocol, "fake": f"{name} train split, {n} images"}, "noise": {}, "blur": {}}
    out["floor"] = ev.fd_only(x)
    if progress:
        progress(out)
    if n_levels is not None and n_levels < n:
        ev = ImageEvaluator(test, n_levels, seed, features=features, n_real=min(len(test), MAX_REAL))  # cached
        out["protocol"]["levels_fake"] = f"the first {n_levels} of those train images"
        out["levels_floor"] = ev.fd_only(x[:n_levels])  # the same N undamaged: FD's bias grows as N shrinks
    x = x[:ev.n_fake]
    for kind, levels, damage in (("noise", noise, lambda s: gaussian_noise(x, s, seed)),
                                 ("blur", blur, lambda s: gaussian_blur(x, s))):
        for s in levels:
            out[kind][s] = ev.fd_only(damage(s))
            if progress:
                progress(out)
    return out


def main() -> None:
    """Print the calibration of one dataset as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=["digits", "mnist5k", "mnist", "fashionmnist"])
    ap.add_argument("--root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", default=None, help="inception, a shipped domain's CNN, or a weights file")
    ap.add_argument("--n-levels", type=int, default=None, help="images per noise/blur level (default: N)")
    ap.add_argument("--n-fake", type=int, default=None, help="train images in the floor (default: N real)")
    a = ap.parse_args()
    print(json.dumps(fd_calibration(a.dataset, a.seed, a.root, features=a.features, n_levels=a.n_levels,
                                    n_fake=a.n_fake), indent=2))


if __name__ == "__main__":
    main()
