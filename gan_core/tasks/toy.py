"""Toy 2-D mixtures: PacGAN mode metrics, samples drawn as a scatter plot over the mode centres."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from gan_core.metrics.toy_eval import ToyEvaluator
from gan_core.tasks.base import DatasetFn, Task


def scatter_png(fake: torch.Tensor, path: Path, centres=None, title: str = "") -> Path:
    """A scatter plot of (up to 2,500) 2-D samples, with the mixture's mode centres when known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    pts = fake[:2500].numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
    if centres is not None:
        c = torch.as_tensor(centres)
        ax.scatter(c[:, 0], c[:, 1], s=30, marker="x", color="red")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class ToyTask(Task):
    kind = "toy"
    evaluator = ToyEvaluator
    default_samples = 2500
    formats: ClassVar[dict[str, str]] = {".png": "scatter plot over the mode centres",
                                         ".npy": "array of the samples, (N, 2)"}

    def write_file(self, fake: torch.Tensor, path: Path, dataset: DatasetFn, title: str,
                   columns: int | None = None) -> None:
        info = dataset().info
        info = info if "centres" in info else info.get("source_info", {})  # Parquet shards carry their source's
        scatter_png(fake, path, info.get("centres"), title)
