"""Datasets by name: ``build_dataset(cfg.data, seed)`` -> GanDataset. Nothing is downloaded.

Registry (``DATASETS``): toy mixtures ``ring8``, ``grid25``; shipped images ``digits``, ``mnist5k``;
IDX files ``mnist``, ``fashionmnist`` (Debian's package by default); torchvision ``cifar10``, ``celeba``
(local ``root``); ``imagefolder``
(``root``); ``parquet`` (``root``: shards written by ``write_shards``). Other packages add names with
``register_dataset`` (e.g. text corpora).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gan_core.config import DataConfig
from gan_core.data.base import GanDataset, TensorGanDataset, decode_raw
from gan_core.errors import GanConfigError, unknown_name
from gan_core.memory import check_count

Builder = Callable[[DataConfig, int], GanDataset]
DATASETS: dict[str, Builder] = {}


def register_dataset(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding ``builder(cfg, seed) -> GanDataset`` to the registry under ``name``."""
    def wrap(fn: Builder) -> Builder:
        DATASETS[name] = fn
        return fn
    return wrap


def _toy(name: str) -> Builder:
    def build(cfg: DataConfig, seed: int = 0) -> GanDataset:
        from gan_core.data.toy import make_toy
        return make_toy(name, cfg.setting, cfg.n_samples, cfg.split, seed)
    return build


def _lazy(module: str, fn: str) -> Builder:
    def build(cfg: DataConfig, seed: int = 0) -> GanDataset:
        import importlib
        return getattr(importlib.import_module(f"gan_core.data.{module}"), fn)(cfg, seed)
    return build


def _parquet(cfg: DataConfig, seed: int = 0) -> GanDataset:
    from gan_core.data.parquet import ParquetDataset
    if not cfg.root:
        raise GanConfigError("data.root", "dataset 'parquet' needs root: a folder of shard-*.parquet files")
    return ParquetDataset(cfg.root)


DATASETS.update({
    "ring8": _toy("ring8"),
    "grid25": _toy("grid25"),
    "digits": _lazy("images", "load_digits_ds"),
    "mnist5k": _lazy("images", "load_mnist5k"),
    "mnist": _lazy("idx", "load_idx_dataset"),
    "fashionmnist": _lazy("idx", "load_idx_dataset"),  # default root: Debian's dataset-fashion-mnist
    "cifar10": _lazy("images", "load_torchvision"),
    "celeba": _lazy("folders", "load_celeba"),
    "imagefolder": _lazy("folders", "load_imagefolder"),
    "parquet": _parquet,
    "oracle": _lazy("text", "load_oracle"),  # text: SeqGAN LSTM oracle, N(0,1) weights
    "oracle-npz": _lazy("text", "load_oracle_npz"),  # text: oracle weights from root (.npz)
    "textfile": _lazy("text", "load_textfile"),  # text: root = one sentence per line
})


def check_shape(cfg: DataConfig, name: str, kind: str, shape: tuple[int, ...]) -> None:
    """``data.channels`` / ``data.image_size`` must match what the dataset holds, never be silently ignored.

    Builders apply both to images they decode; Parquet shards and non-image data cannot change
    shape, so a config asking for another shape is an error naming the field and the shape there is.
    """
    if kind != "image":
        for key in ("channels", "image_size"):
            if getattr(cfg, key) is not None:
                raise GanConfigError(f"data.{key}", f"dataset {name!r} holds {kind} samples of shape {tuple(shape)}, "
                                     "not images", ["null"])
        return
    if cfg.channels is not None and shape[0] != cfg.channels:
        raise GanConfigError("data.channels", f"got {cfg.channels}, but dataset {name!r} holds {shape[0]}-channel "
                             f"images{' (Parquet shards keep the shape they were written with)' if cfg.name == 'parquet' else ''}",
                             ["null", shape[0]])
    if cfg.image_size is not None and tuple(shape[1:]) != (cfg.image_size, cfg.image_size):
        raise GanConfigError("data.image_size", f"got {cfg.image_size}, but dataset {name!r} holds "
                             f"{shape[1]}x{shape[2]} images", ["null", shape[1]])


# Bytes one sample of a dataset sampled from the config (not read from files) takes while it is built:
# toy points (mode ids, float64 draws, float32 result); oracle text (int64 ids of both splits, kept twice).
SAMPLED_BYTES = {"ring8": lambda c: 48, "grid25": lambda c: 48,
                 "oracle": lambda c: 32 * c.seq_len, "oracle-npz": lambda c: 32 * c.seq_len}


def check_sizes(cfg: DataConfig) -> None:
    """Sizes in the config that cannot be built in this machine's memory are refused before any allocation."""
    if cfg.name in SAMPLED_BYTES:
        check_count("data.n_samples", cfg.n_samples, SAMPLED_BYTES[cfg.name](cfg), f"{cfg.name} samples")
    if cfg.name == "oracle":  # its weights and one sampling batch of logits: (2·dim + batch) floats per word
        from gan_core.data.text import ORACLE_DIM, SAMPLE_BATCH

        check_count("data.vocab_size", cfg.vocab_size, 4 * (2 * ORACLE_DIM + SAMPLE_BATCH), "oracle vocabulary words")


def build_dataset(cfg: DataConfig, seed: int = 0) -> GanDataset:
    """Build the dataset ``cfg.name`` for ``cfg.split``; toy data are sampled with ``seed``."""
    if cfg.name not in DATASETS:
        raise unknown_name("data.name", cfg.name, DATASETS)
    if cfg.split not in ("train", "test"):
        raise GanConfigError("data.split", f"got {cfg.split!r}", ["train", "test"])
    check_sizes(cfg)
    ds = DATASETS[cfg.name](cfg, seed)
    check_shape(cfg, ds.name, ds.kind, tuple(ds.shape))
    if cfg.conditional and ds.num_classes == 0:
        raise GanConfigError("data.conditional", f"dataset {cfg.name!r} has no labels", [False])
    return ds


def reference_dataset(cfg: DataConfig, reference: str, seed: int) -> tuple[GanDataset, str, str | None]:
    """The real data evaluations compare against (``eval.reference``): ``(dataset, split used, why not test)``.

    ``test``: the dataset's test split; a dataset without one (a folder with no ``test/``, Parquet
    shards, a one-line corpus) is an error naming ``eval.reference``. ``train``: the training set as
    configured. ``auto``: the test split where one exists, else the training set, with the reason.
    Only a ``GanConfigError`` (bad or missing data) counts as "no test split"; any other error propagates.
    """
    if reference not in ("auto", "test", "train"):
        raise GanConfigError("eval.reference", f"got {reference!r}", ["auto", "test", "train"])
    why = None
    if reference != "train":
        try:
            ds = build_dataset(dataclasses.replace(cfg, split="test"), seed)
        except GanConfigError as e:
            why = f"building its test split failed: {e}"
        else:
            if ds.info.get("split") == "test":
                return ds, "test", None
            why = f"dataset {cfg.name!r} has no test split (its split: {ds.info.get('split', 'not stated')})"
        if reference == "test":
            raise GanConfigError("eval.reference", f"is 'test', but {why}", ["auto", "train"])
    return build_dataset(cfg, seed), "train", why


__all__ = ["DATASETS", "GanDataset", "TensorGanDataset", "build_dataset", "check_shape", "decode_raw",
           "reference_dataset", "register_dataset"]
