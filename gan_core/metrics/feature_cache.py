"""Disk cache of real-data features for expensive feature networks (the FID InceptionV3).

The 10,000 test images of Fashion-MNIST cost ~35 CPU-minutes through InceptionV3 at 299x299; every run
evaluated against them would pay that again. An extractor with ``cache_key`` set has the features of a
real set stored under ``<cache dir>/features/<sha1>.pt``, the SHA-1 covering the network's identity and
every value of the images (float32 bytes, in order), so a hit is exactly the features a recomputation
would give. Files are written atomically and read with ``weights_only=True``; an unreadable one is
recomputed and replaced.
"""

from __future__ import annotations

import hashlib
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
    cached = _read(path, (len(x), extractor.num_features))
    if cached is not None:
        return cached
    feats = extractor.extract(x)[0]
    save_atomic(feats.float(), path)
    return feats.double()
