"""Image datasets: shipped digits / mnist5k with fixed splits, shapes, ranges, local-root errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.config import DataConfig
from gan_core.data import DATASETS, build_dataset
from gan_core.data.images import fixed_split
from gan_core.errors import GanConfigError

REQUIRED = {"ring8", "grid25", "digits", "mnist5k", "mnist", "fashionmnist", "cifar10", "celeba",
            "imagefolder", "parquet"}


def test_registry_names():
    assert REQUIRED <= set(DATASETS)


@pytest.mark.parametrize("name,n_train,n_test,shape", [("digits", 1438, 359, (1, 8, 8)),
                                                      ("mnist5k", 4000, 1000, (1, 28, 28))])
def test_shipped_datasets_split_and_range(name, n_train, n_test, shape):
    tr = build_dataset(DataConfig(name=name, split="train"))
    te = build_dataset(DataConfig(name=name, split="test"))
    assert (len(tr), len(te)) == (n_train, n_test)
    assert tr.shape == te.shape == shape and tr.kind == "image" and tr.num_classes == 10
    x, y = te.all()
    assert x.dtype == torch.float32 and float(x.min()) == -1.0 and float(x.max()) == 1.0
    if name == "mnist5k":
        assert torch.bincount(y).tolist() == [100] * 10
    assert tr.info["split"] == "train" and "source" in tr.info


def test_fixed_split_is_a_stratified_partition():
    labels = np.repeat(np.arange(10), 50)
    tr, te = fixed_split(labels, "train"), fixed_split(labels, "test")
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 500
    assert np.bincount(labels[te]).tolist() == [10] * 10
    assert np.array_equal(te, fixed_split(labels, "test"))  # deterministic


def test_resize_and_channels():
    ds = build_dataset(DataConfig(name="digits", image_size=16, channels=3, split="test"))
    x, _ = ds.get_batch(torch.arange(4))
    assert ds.shape == (3, 16, 16) and x.shape == (4, 3, 16, 16)
    assert torch.equal(x[:, 0], x[:, 2]) and -1 <= float(x.min()) and float(x.max()) <= 1


@pytest.mark.parametrize("name,expected", [("mnist", "MNIST/raw"), ("fashionmnist", "FashionMNIST/raw"),
                                           ("cifar10", "cifar-10-batches-py"), ("celeba", "celeba")])
def test_missing_local_root_names_the_expected_path(name, expected, tmp_path):
    with pytest.raises(GanConfigError, match="data.root") as e:
        build_dataset(DataConfig(name=name, root=str(tmp_path)))
    assert str(tmp_path / expected) in str(e.value) and "nothing is downloaded" in str(e.value)
    if name != "fashionmnist":  # its default root is Debian's package (tests/test_data_idx.py)
        with pytest.raises(GanConfigError, match="data.root"):
            build_dataset(DataConfig(name=name))  # no root at all


def test_unknown_name_and_unlabeled_conditional():
    with pytest.raises(GanConfigError, match="data.name.*allowed: .*digits"):
        build_dataset(DataConfig(name="mnist6k"))
    with pytest.raises(GanConfigError, match="parquet"):
        build_dataset(DataConfig(name="parquet"))


def test_imagefolder_labels_resize_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = build_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=12, conditional=True))
    _, y = ds.all()
    assert ds.shape == (3, 12, 12) and len(ds) == 6 and ds.num_classes == 2
    assert y.tolist() == [0, 0, 0, 1, 1, 1] and ds.info["classes"] == ["cat", "dog"]
    gray = build_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=8, channels=1))
    assert gray.get_batch([0])[0].shape == (1, 1, 8, 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanConfigError, match="no image files"):
        build_dataset(DataConfig(name="imagefolder", root=str(empty)))
    (empty / "a.png").write_bytes(b"not a png")
    with pytest.raises(GanConfigError, match="cannot read image"):
        build_dataset(DataConfig(name="imagefolder", root=str(empty))).get_batch([0])
    with pytest.raises(GanConfigError, match="data.conditional"):
        build_dataset(DataConfig(name="imagefolder", root=str(empty), conditional=True))


@pytest.mark.parametrize("kind", ["truncated body", "decompression bomb"])
def test_a_broken_or_oversized_image_is_one_error_naming_the_file(kind, tmp_path, monkeypatch):
    """PIL raises OSError, SyntaxError or DecompressionBombError (not an OSError) for such files."""
    rng = np.random.default_rng(0)
    good = tmp_path / "0.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "1.png"
    if kind == "truncated body":
        bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    else:
        Image.fromarray(np.zeros((200, 200), np.uint8)).save(bad)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 40,000 px: more than twice the limit (4,096 is not)
    ds = build_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=8))
    with pytest.raises(GanConfigError, match=r"data.root: cannot read image .*1\.png") as e:
        ds.get_batch(torch.tensor([0, 1]))
    assert "\n" not in str(e.value)
