"""The one dataset type every trainer and metric sees: indexed batches plus protocol facts.

Images are kept in their raw storage dtype (uint8 with a known maximum value) and decoded to
float32 in [-1, 1] per batch, so memory stays small and Parquet round trips stay bit-identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gan_core.errors import GanConfigError


def decode_raw(raw: torch.Tensor, scale: float | None) -> torch.Tensor:
    """Raw storage -> float32 samples; uint8 images map [0, scale] onto [-1, 1]."""
    if scale is None:
        return raw.to(torch.float32)
    return raw.to(torch.float32) * (2.0 / scale) - 1.0


class GanDataset(torch.utils.data.Dataset):
    """Base class: subclasses implement ``get_raw``; ``get_batch`` decodes it the same way for all."""

    name: str = "dataset"
    kind: str = "image"

    def __init__(self, n: int, shape: tuple[int, ...], num_classes: int, scale: float | None,
                 info: dict[str, Any]):
        self._n = int(n)
        self.shape = tuple(int(s) for s in shape)
        self.num_classes = int(num_classes)
        self.scale = scale  # None: raw values are the samples (toy data); else uint8 maximum value
        self.info = dict(info)
        self.info.setdefault("N", self._n)

    def __len__(self) -> int:
        return self._n

    @property
    def raw_dtype(self) -> np.dtype:
        """Numpy dtype of the raw storage (uint8 for images, float32 for toy points)."""
        return np.dtype(np.float32 if self.scale is None else np.uint8)

    def get_raw(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw storage for the given indices (override)."""
        raise NotImplementedError

    def _check_idx(self, idx: torch.Tensor | np.ndarray | list[int]) -> torch.Tensor:
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        if idx.numel() and (int(idx.min()) < -self._n or int(idx.max()) >= self._n):
            raise GanConfigError("idx", f"index out of range for {self.name} of length {self._n}")
        return idx

    def get_batch(self, idx: torch.Tensor | np.ndarray | list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Samples ``x`` float32 (B, *shape) (images in [-1, 1]) and labels int64 (B,) or None."""
        raw, y = self.get_raw(self._check_idx(idx))
        return decode_raw(raw, self.scale), y

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """One sample for torch DataLoader; the label is -1 when the data are unlabeled."""
        x, y = self.get_batch(torch.tensor([i]))
        return x[0], int(y[0]) if y is not None else -1

    def all(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The whole dataset as one batch (for small data and metrics)."""
        return self.get_batch(torch.arange(self._n))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, N={self._n}, shape={self.shape}, " \
               f"num_classes={self.num_classes})"


class TensorGanDataset(GanDataset):
    """A dataset held in memory as one raw tensor (uint8 images or float32 points)."""

    def __init__(self, name: str, kind: str, raw: torch.Tensor, labels: torch.Tensor | None,
                 num_classes: int, scale: float | None, info: dict[str, Any]):
        self.name, self.kind = name, kind
        self.raw = raw.contiguous()
        self.labels = None if labels is None else labels.to(torch.int64).contiguous()
        if self.labels is not None and len(self.labels) != len(raw):
            raise ValueError(f"{name}: {len(raw)} samples but {len(self.labels)} labels")
        super().__init__(len(raw), tuple(raw.shape[1:]), num_classes, scale, info)

    def get_raw(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Index the in-memory tensors."""
        return self.raw[idx], None if self.labels is None else self.labels[idx]
