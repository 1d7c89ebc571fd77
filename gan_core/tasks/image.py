"""Images: FD/KID/PRDC in a feature network's space, samples written as an 8-column grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gan_core.metrics.image_eval import ImageEvaluator
from gan_core.tasks.base import DatasetFn, Task

TILE_PX = 32  # small images are enlarged (nearest neighbour) to about this many pixels a tile


def upscale_factor(size: int) -> int:
    """The integer enlargement that brings a ``size``-pixel image closest to TILE_PX (1 for 28 px and up)."""
    return max(1, round(TILE_PX / max(size, 1)))


def grid_png(fake: torch.Tensor, path: Path, n: int = 64, columns: int = 8) -> Path:
    """A grid of the first ``n`` images (from [-1, 1]), ``columns`` wide; 8x8 digits become 32x32 tiles."""
    from torchvision.utils import save_image

    imgs = fake[:n].float().clamp(-1, 1) * 0.5 + 0.5
    k = upscale_factor(min(imgs.shape[-2:]))
    if k > 1:
        imgs = F.interpolate(imgs, scale_factor=k, mode="nearest")
    save_image(imgs, path, nrow=columns, padding=k)
    return path


class ImageTask(Task):
    kind = "image"
    evaluator = ImageEvaluator
    default_samples = 64
    formats: ClassVar[dict[str, str]] = {".png": "image grid, 8 columns",
                                         ".npy": "array of the samples, (N, C, H, W) in [-1, 1]"}
    logged_samples = 64

    def evaluator_options(self, features: str | None) -> dict[str, Any]:
        return {"features": features}  # eval.feature_weights or eval.features / --feature-weights, --features

    def write_file(self, fake: torch.Tensor, path: Path, dataset: DatasetFn, title: str,
                   columns: int | None = None) -> None:
        grid_png(fake, path, n=len(fake), columns=columns or 8)
