"""Image datasets read lazily from files: CelebA (torchvision layout) and any ImageFolder.

Each batch opens its files, resizes the shorter side to ``image_size`` (default 64) and centre-crops
(the DCGAN convention). Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_core.config import DataConfig
from gan_core.data.base import GanDataset
from gan_core.data.images import require_root
from gan_core.data.transforms import load_image
from gan_core.errors import GanConfigError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
DEFAULT_SIZE = 64


class FileImageDataset(GanDataset):
    """Images decoded from a list of files on each ``get_batch``."""

    def __init__(self, name: str, files: list[str], labels: np.ndarray | None, num_classes: int,
                 size: int, channels: int, info: dict):
        self.name, self.kind = name, "image"
        self.files = files
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        self.size, self.channels = size, channels
        super().__init__(len(files), (channels, size, size), num_classes, 255.0, info)

    def get_raw(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Open, resize and crop the files at ``idx``."""
        arrs = []
        for i in idx.tolist():
            try:
                arrs.append(load_image(self.files[i], self.size, self.channels))
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:  # PIL's broken-file errors
                raise GanConfigError("data.root", f"cannot read image {self.files[i]}: {type(e).__name__}: {e}",
                                     f"image files PIL can decode, up to {Image.MAX_IMAGE_PIXELS:,} pixels") from None
        raw = torch.from_numpy(np.stack(arrs)) if arrs else torch.empty((0, *self.shape), dtype=torch.uint8)
        return raw, None if self.labels is None else self.labels[idx]


def load_celeba(cfg: DataConfig, seed: int = 0) -> FileImageDataset:
    """CelebA aligned faces from ``root/celeba`` (torchvision layout, official partition); unlabeled."""
    import torchvision

    expected = "celeba/img_align_celeba/ and celeba/list_eval_partition.txt"
    root = require_root(cfg, expected)
    try:
        tv = torchvision.datasets.CelebA(str(root), split=cfg.split, target_type=[], download=False)
    except (RuntimeError, OSError):
        raise GanConfigError("data.root", f"CelebA not found under {root} (expected {root / 'celeba'} with "
                             f"{expected}; nothing is downloaded)") from None
    folder = root / "celeba" / "img_align_celeba"
    files = [str(folder / f) for f in tv.filename]
    size = cfg.image_size or DEFAULT_SIZE
    info = {"source": f"torchvision CelebA at {root}", "split": cfg.split, "image_size": size}
    return FileImageDataset("celeba", files, None, 0, size, cfg.channels or 3, info)


def scan_folder(root: Path) -> tuple[list[str], np.ndarray | None, list[str]]:
    """Image files under ``root`` (sorted); labels from class subfolders when every file has one."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    parts = [p.relative_to(root).parts for p in files]
    if files and all(len(q) >= 2 for q in parts):
        classes = sorted({q[0] for q in parts})
        labels = np.array([classes.index(q[0]) for q in parts], dtype=np.int64)
        return [str(p) for p in files], labels, classes
    return [str(p) for p in files], None, []


def load_imagefolder(cfg: DataConfig, seed: int = 0) -> FileImageDataset:
    """Any folder of images; ``root/train`` and ``root/test`` are used as splits when present."""
    root = require_root(cfg, "image files (optionally in class subfolders, optionally under train/ test/)")
    split_dir = root / cfg.split
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    base = split_dir if has_splits else root
    files, labels, classes = scan_folder(base)
    if not files:
        raise GanConfigError("data.root", f"no image files ({', '.join(sorted(IMAGE_EXTS))}) under {base}")
    if cfg.conditional and labels is None:
        raise GanConfigError("data.conditional", f"true needs class subfolders under {base}", [False])
    channels = cfg.channels or 3
    size = cfg.image_size or DEFAULT_SIZE
    split = cfg.split if has_splits else "all (no train/ and test/ subfolders)"
    info = {"source": f"image folder {base}", "split": split, "classes": classes, "image_size": size}
    return FileImageDataset("imagefolder", files, labels, len(classes), size, channels, info)
