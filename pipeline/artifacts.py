"""Pictures and texts of generated samples for MLflow: image grids, 2-D scatter plots, sentences."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch


def scatter_png(fake: torch.Tensor, path: Path, centres: Any = None, title: str = "") -> Path:
    """A scatter plot of 2-D samples (with the mixture's mode centres when known)."""
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


TILE_PX = 32  # small images are enlarged (nearest neighbour) to about this many pixels a tile


def upscale_factor(size: int) -> int:
    """The integer enlargement that brings a ``size``-pixel image closest to TILE_PX (1 for 28 px and up)."""
    return max(1, round(TILE_PX / max(size, 1)))


def grid_png(fake: torch.Tensor, path: Path, n: int = 64) -> Path:
    """An 8-column grid of the first ``n`` images (from [-1, 1]); 8x8 digits become 32x32 tiles."""
    import torch.nn.functional as F
    from torchvision.utils import save_image

    imgs = fake[:n].float().clamp(-1, 1) * 0.5 + 0.5
    k = upscale_factor(min(imgs.shape[-2:]))
    if k > 1:
        imgs = F.interpolate(imgs, scale_factor=k, mode="nearest")
    save_image(imgs, path, nrow=8, padding=k)
    return path


def render(fake: torch.Tensor, ds: Any, path: Path, title: str = "") -> Path | None:
    """Write the right picture for the data kind to ``path`` (PNG); None for text."""
    if ds.kind == "toy":
        info = ds.info if "centres" in ds.info else ds.info.get("source_info", {})
        return scatter_png(fake, path, info.get("centres"), title)
    if ds.kind == "image":
        return grid_png(fake, path)
    return None


def save_samples(log: Any, fake: torch.Tensor, ds: Any, step: int) -> None:
    """Log samples of evaluation ``step``: samples/step_000500.png, or .txt sentences for text data."""
    name = f"step_{step:07d}"
    if ds.kind == "text":
        decode = getattr(ds, "decode", None)
        if decode is not None:
            log.text("\n".join(decode(fake[:50])), f"samples/{name}.txt")
        return
    with tempfile.TemporaryDirectory() as tmp:
        p = render(fake, ds, Path(tmp) / f"{name}.png", title=f"step {step}")
        if p is not None:
            log.artifact(p, "samples")
