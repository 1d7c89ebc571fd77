"""MNIST and Fashion-MNIST read straight from their IDX files (``.gz`` or not), nothing downloaded.

``fashionmnist`` needs no configuration on Debian: the package ``dataset-fashion-mnist`` (Expat licence)
installs the full set (60,000 train / 10,000 test, 28x28 grey, 10 classes) as
``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, the default root.
``data.root`` overrides it, for either dataset: a folder holding the four IDX files directly, or
torchvision's layout (``MNIST/raw``, ``FashionMNIST/raw`` under it). The official splits are used.

IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <type> <ndim>`` (type ``0x08`` = uint8), then
``ndim`` big-endian uint32 sizes, then the values. Every size is checked against the file's length, so a
truncated or foreign file is one error naming it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from gan_core.config import DataConfig
from gan_core.data.base import TensorGanDataset
from gan_core.errors import GanConfigError

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
DEBIAN_PACKAGE = {"fashionmnist": "dataset-fashion-mnist"}
DEFAULT_ROOT = {"fashionmnist": FASHION_ROOT}
TORCHVISION_SUB = {"mnist": "MNIST/raw", "fashionmnist": "FashionMNIST/raw"}
SOURCE = {"mnist": "MNIST (LeCun et al.)", "fashionmnist": "Fashion-MNIST (Xiao et al. 2017, Zalando)"}
PREFIX = {"train": "train", "test": "t10k"}
UINT8 = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of one IDX file (gzip-compressed when its name ends in ``.gz``)."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise GanConfigError("data.root", f"cannot read {path}: {e}") from None
    if len(data) < 4 + 4 * ndim or data[0] != 0 or data[1] != 0 or data[2] != UINT8 or data[3] != ndim:
        raise GanConfigError("data.root", f"{path} is not a uint8 IDX file with {ndim} dimension(s) "
                             f"(header {data[:4].hex() or 'empty'}, expected 000008{ndim:02x})")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", ndim, 4))
    body = len(data) - 4 - 4 * ndim
    if int(np.prod(shape, dtype=np.int64)) != body:
        raise GanConfigError("data.root", f"{path} declares shape {shape} but holds {body} values (damaged?)")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_file(root: Path, name: str, stem: str) -> Path | None:
    """``stem`` (``.gz`` or not) directly in ``root`` or in torchvision's sub-folder of it."""
    for folder in (root, root / TORCHVISION_SUB[name]):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def locate(cfg: DataConfig) -> tuple[Path, Path]:
    """The images and labels files of ``cfg.split``, or one error saying where they were looked for."""
    pre = PREFIX[cfg.split]
    stems = (f"{pre}-images-idx3-ubyte", f"{pre}-labels-idx1-ubyte")
    given = cfg.root or DEFAULT_ROOT.get(cfg.name)
    if given is None:
        raise GanConfigError("data.root", f"dataset {cfg.name!r} needs a local root folder containing "
                             f"{stems[0]}.gz (or {TORCHVISION_SUB[cfg.name]}/ with it; nothing is downloaded)")
    root = Path(given).expanduser()
    found = [find_file(root, cfg.name, s) for s in stems]
    if None in found:
        missing = stems[found.index(None)]
        hint = ""
        if cfg.name in DEBIAN_PACKAGE:
            hint = (f"; install Debian's `{DEBIAN_PACKAGE[cfg.name]}` (sudo apt-get install {DEBIAN_PACKAGE[cfg.name]}), "
                    f"which puts them in {FASHION_ROOT}, or set data.root to a folder holding them")
        raise GanConfigError("data.root", f"{SOURCE[cfg.name]} not found: no {missing}(.gz) in {root} or "
                             f"{root / TORCHVISION_SUB[cfg.name]} (nothing is downloaded){hint}")
    return found[0], found[1]


def load_idx_dataset(cfg: DataConfig, seed: int = 0) -> TensorGanDataset:
    """MNIST / Fashion-MNIST, official split ``cfg.split``."""
    from gan_core.data.images import finish

    images_path, labels_path = locate(cfg)
    x, y = read_idx(images_path, 3), read_idx(labels_path, 1)
    if len(x) != len(y):
        raise GanConfigError("data.root", f"{images_path} holds {len(x)} images but {labels_path} {len(y)} labels")
    if len(y) and int(y.max()) > 9:
        raise GanConfigError("data.root", f"{labels_path} holds label {int(y.max())}; both datasets have 10 classes (0-9)")
    raw = torch.from_numpy(x.copy()).unsqueeze(1)
    info = {"source": f"{SOURCE[cfg.name]}, IDX files {images_path}", "native_shape": [1, *x.shape[1:]],
            "split_rule": "official"}
    return finish(cfg.name, raw, torch.from_numpy(y.astype(np.int64)), 10, 255.0, cfg, info)
