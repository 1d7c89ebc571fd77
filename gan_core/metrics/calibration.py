"""FD calibration of a shipped feature network: the real-vs-real floor and the noise/blur curves.

``python -m gan_core.metrics.calibration digits`` prints FD(real train, real test) - the floor any
generator is measured against - then FD of the same train images with Gaussian pixel noise
(sigma in [0, 1] intensity units) and Gaussian blur (sigma in pixels). The reference is the test
split, N real = N fake = the test split's size, train images subsampled with the seed.
"""

from __future__ import annotations

import argparse
import json

import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.metrics.image import gaussian_blur, gaussian_noise
from gan_core.metrics.image_eval import ImageEvaluator

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.5)
BLUR_SIGMAS = (0.5, 1.0, 2.0)


def fd_calibration(name: str, seed: int = 0, root: str | None = None,
                   noise: tuple[float, ...] = NOISE_SIGMAS, blur: tuple[float, ...] = BLUR_SIGMAS) -> dict:
    """FD floor and FD under each noise / blur level, with the protocol."""
    test = build_dataset(DataConfig(name=name, split="test", root=root))
    train = build_dataset(DataConfig(name=name, split="train", root=root))
    n = min(len(test), len(train), 10_000)
    ev = ImageEvaluator(test, n, seed)
    g = torch.Generator().manual_seed(seed)
    x, _ = train.get_batch(torch.randperm(len(train), generator=g)[:n].sort().values)
    fd = ev.fd_only
    return {
        "floor": fd(x),
        "noise": {s: fd(gaussian_noise(x, s, seed)) for s in noise},
        "blur": {s: fd(gaussian_blur(x, s)) for s in blur},
        "protocol": {**ev.protocol, "fake": f"{name} train split, {n} images"},
    }


def main() -> None:
    """Print the calibration of one dataset as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=["digits", "mnist5k", "mnist"])
    ap.add_argument("--root", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(fd_calibration(a.dataset, a.seed, a.root), indent=2))


if __name__ == "__main__":
    main()
