"""Disk cache of real-data features (the FID InceptionV3 and our CNNs).

The 10,000 test images of Fashion-MNIST cost ~35 CPU-minutes through InceptionV3 at 299x299 (~5 CPU-s
through our CNN); every run evaluated against them would pay that again. An extractor with ``cache_key``
set has the features of a real set stored under ``<cache dir>/features/<sha1>.pt``, the SHA-1 covering
the network's identity and every value of the images (float32 bytes, in order), so a hit is exactly the
features a recomputation would give. Files are written atomically and read with ``weights_only=True``;
an unreadable one is recomputed and replaced. Processes that need the same entry at once take turns on a
lock file: the first computes it, the others read it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import torch

from gan_core.metrics.inception import cache_dir, save_atomic


def feature_file(key: str, x: torch.Tensor) -> Path:
    h = hashlib.sha1(key.encode())
    h.update(str(tuple(x.shape)).encode())
    h.update(x.detach().to(torch.float32).contiguous().numpy().tobytes())
    return cache_dir() / "features" / f"{h.hexdigest()}.pt"


def _read(path: Path, shape: tuple[int, int]) -> torch.Tensor | None:
    """A cache entry of the expected shape, or None (absent or damaged: recomputed and replaced)."""
    if not path.is_file():
        return None
    try:
        feats = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any damage means recompute
        return None
    return feats.double() if isinstance(feats, torch.Tensor) and feats.shape == shape else None


def extract_real(extractor, x: torch.Tensor) -> torch.Tensor:
    """``extractor.extract(x)[0]`` (float64), from the cache when the extractor is marked cacheable."""
    key = getattr(extractor, "cache_key", None)
    if key is None:
        return extractor.extract(x)[0]
    path = feature_file(key, x)
    shape = (len(x), extractor.num_features)
    cached = _read(path, shape)
    if cached is not None:
        return cached
    with _computing(path):  # one process computes; the others wait, then read its file
        cached = _read(path, shape)
        if cached is not None:
            return cached
        feats = extractor.extract(x)[0]
        save_atomic(feats.float(), path)
    return feats.double()


@contextlib.contextmanager
def _computing(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` (fcntl; released when the holder exits, even if it is killed):
    two runs that start together pay for the real features once, not twice."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
