"""MNIST / Fashion-MNIST from IDX files: the format against torchvision's reader, both layouts, damaged
files, and Fashion-MNIST from Debian's ``dataset-fashion-mnist`` by default (installed by ``make test``)."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset, idx
from gan_core.errors import GanConfigError

DEBIAN = Path(idx.FASHION_ROOT)
needs_package = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").is_file(),
                                   reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN})")


def idx_bytes(a: np.ndarray) -> bytes:
    """An array in IDX format (uint8)."""
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_set(folder: Path, n_train: int = 12, n_test: int = 5, compress: bool = True) -> dict:
    """Four IDX files of random 28x28 images and labels; returns the arrays."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for pre, n in (("train", n_train), ("t10k", n_test)):
        x, y = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        for stem, a in ((f"{pre}-images-idx3-ubyte", x), (f"{pre}-labels-idx1-ubyte", y)):
            data = idx_bytes(a)
            (folder / (stem + ".gz" if compress else stem)).write_bytes(gzip.compress(data) if compress else data)
        arrays[pre] = (x, y)
    return arrays


def test_reader_matches_torchvisions(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    write_set(tmp_path, compress=False)
    ours = idx.read_idx(tmp_path / "train-images-idx3-ubyte", 3)
    assert torch.equal(torch.from_numpy(ours.copy()), read_image_file(str(tmp_path / "train-images-idx3-ubyte")))
    labels = idx.read_idx(tmp_path / "train-labels-idx1-ubyte", 1)
    assert torch.equal(torch.from_numpy(labels.astype(np.int64)), read_label_file(str(tmp_path / "train-labels-idx1-ubyte")))


@pytest.mark.parametrize("layout,compress", [("flat", True), ("flat", False), ("torchvision", True)])
def test_both_layouts_and_splits(tmp_path, layout, compress):
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    arrays = write_set(folder, compress=compress)
    for split, pre in (("train", "train"), ("test", "t10k")):
        ds = build_dataset(DataConfig(name="mnist", root=str(tmp_path), split=split))
        x, y = ds.all()
        assert ds.shape == (1, 28, 28) and ds.num_classes == 10 and len(ds) == len(arrays[pre][0])
        expected = torch.from_numpy(arrays[pre][0]).float().unsqueeze(1) * (2 / 255) - 1
        assert torch.allclose(x, expected) and y.tolist() == arrays[pre][1].tolist()


@pytest.mark.parametrize("damage,match", [
    (lambda b: b[:-7], "declares shape"),                      # truncated body
    (lambda b: b[:3], "not a uint8 IDX file"),                 # truncated header
    (lambda b: bytes([0, 0, 0x0D, 3]) + b[4:], "not a uint8 IDX file"),  # float IDX
    (lambda b: b"", "not a uint8 IDX file"),
])
def test_damaged_files_are_one_error_naming_the_file(tmp_path, damage, match):
    write_set(tmp_path, compress=False)
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(GanConfigError, match=match) as e:
        build_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    assert e.value.field == "data.root" and str(f) in str(e.value)


def test_bad_gzip_mismatched_labels_and_label_range(tmp_path):
    write_set(tmp_path)
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    good = gz.read_bytes()
    gz.write_bytes(good[: len(good) // 2])
    with pytest.raises(GanConfigError, match=f"cannot read {gz}"):
        build_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    gz.write_bytes(good)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3))))
    with pytest.raises(GanConfigError, match="12 images but .* 3 labels"):
        build_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.full(12, 10))))
    with pytest.raises(GanConfigError, match="label 10"):
        build_dataset(DataConfig(name="mnist", root=str(tmp_path)))


def test_missing_fashion_package_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setitem(idx.DEFAULT_ROOT, "fashionmnist", str(tmp_path / "absent"))
    with pytest.raises(GanConfigError, match="data.root") as e:
        build_dataset(DataConfig(name="fashionmnist"))
    assert "apt-get install dataset-fashion-mnist" in str(e.value) and str(tmp_path / "absent") in str(e.value)


@needs_package
def test_fashion_mnist_from_debian_by_default():
    tr = build_dataset(DataConfig(name="fashionmnist"))
    te = build_dataset(DataConfig(name="fashionmnist", split="test"))
    assert (len(tr), len(te)) == (60_000, 10_000) and tr.shape == (1, 28, 28)
    _, y = te.all()
    assert torch.bincount(y).tolist() == [1000] * 10  # the official test split is balanced
    assert str(DEBIAN) in tr.info["source"]
    small = build_dataset(DataConfig(name="fashionmnist", split="test", image_size=32, channels=3))
    assert small.shape == (3, 32, 32)
