"""Parquet shards: bit-identical round trips, Ray-style numpy batches, clear errors on bad files."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.data.parquet import ParquetDataset, decode_batch, read_meta, write_shards
from gan_core.errors import GanConfigError


def roundtrip(ds, tmp_path, shard_size):
    paths = write_shards(ds, tmp_path / "shards", shard_size=shard_size)
    back = ParquetDataset(tmp_path / "shards")
    x0, y0 = ds.all()
    x1, y1 = back.all()
    assert back.name == "parquet" and back.kind == ds.kind and back.shape == ds.shape
    assert back.num_classes == ds.num_classes and len(back) == len(ds)
    assert torch.equal(x0, x1) and x0.dtype == x1.dtype  # bit-identical
    assert (y0 is None and y1 is None) or torch.equal(y0, y1)
    return paths, back


def test_image_roundtrip_with_labels_over_several_shards(tmp_path):
    ds = build_dataset(DataConfig(name="digits", split="test"))
    paths, back = roundtrip(ds, tmp_path, shard_size=100)
    assert [p.name for p in paths] == [f"shard-{i:05d}-of-00004.parquet" for i in range(4)]
    meta = read_meta(tmp_path / "shards")
    assert meta["dtype"] == "uint8" and meta["shape"] == [1, 8, 8] and meta["scale"] == 16.0
    assert back.info["source_name"] == "digits" and back.info["split"] == "test"
    # the same via build_dataset
    via_cfg = build_dataset(DataConfig(name="parquet", root=str(tmp_path / "shards")))
    assert torch.equal(via_cfg.all()[0], ds.all()[0])


def test_float_toy_and_resized_rgb_roundtrip(tmp_path):
    roundtrip(build_dataset(DataConfig(name="grid25", n_samples=999), seed=1), tmp_path / "a", 250)
    roundtrip(build_dataset(DataConfig(name="digits", split="test", image_size=12, channels=3)),
              tmp_path / "b", 1000)


def test_unlabeled_roundtrip(tmp_path):
    for i in range(5):
        Image.fromarray(np.full((9, 9), 40 * i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    ds = build_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=9, channels=1))
    roundtrip(ds, tmp_path, shard_size=2)
    cols = pq.read_table(next((tmp_path / "shards").glob("shard-*.parquet"))).column_names
    assert "y" not in cols


def test_decode_batch_accepts_ray_style_numpy_columns(tmp_path):
    ds = build_dataset(DataConfig(name="mnist5k", split="test"))
    write_shards(ds, tmp_path, shard_size=600)
    meta = read_meta(tmp_path)
    t = pq.read_table(sorted(tmp_path.glob("shard-*.parquet"))[1])
    idx = torch.from_numpy(t.column("index").to_numpy())
    as_bytes = {"x": np.array(t.column("x").to_pylist(), dtype=object), "y": t.column("y").to_numpy()}
    as_u8 = {"x": np.stack([np.frombuffer(b, np.uint8) for b in as_bytes["x"]]), "y": as_bytes["y"]}
    want_x, want_y = ds.get_batch(idx)
    for cols in (as_bytes, as_u8):
        x, y = decode_batch(cols, meta)
        assert torch.equal(x, want_x) and torch.equal(y, want_y)
    with pytest.raises(GanConfigError, match="bytes each"):
        decode_batch({"x": as_u8["x"][:, :10]}, meta)


def test_bad_files_are_clear_errors(tmp_path):
    ds = build_dataset(DataConfig(name="digits", split="test"))
    with pytest.raises(GanConfigError, match="does not exist"):
        ParquetDataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanConfigError, match="no shard"):
        ParquetDataset(tmp_path / "empty")
    paths = write_shards(ds, tmp_path / "s", shard_size=200)
    with pytest.raises(GanConfigError, match="already holds shards"):
        write_shards(ds, tmp_path / "s")
    # a shard from another dataset (different shape) mixed in
    other = write_shards(build_dataset(DataConfig(name="ring8", n_samples=10)), tmp_path / "o")
    other[0].rename(tmp_path / "s" / "shard-00009-of-00009.parquet")
    with pytest.raises(GanConfigError, match="does not match"):
        ParquetDataset(tmp_path / "s")
    (tmp_path / "s" / "shard-00009-of-00009.parquet").unlink()
    paths[1].write_bytes(b"garbage")
    with pytest.raises(GanConfigError, match="not a readable Parquet file"):
        ParquetDataset(tmp_path / "s")
    foreign = tmp_path / "f"
    foreign.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), foreign / "shard-0.parquet")
    with pytest.raises(GanConfigError, match="schema metadata"):
        ParquetDataset(foreign)


def test_overwrite_replaces_all_shards(tmp_path):
    ds = build_dataset(DataConfig(name="ring8", n_samples=100))
    write_shards(ds, tmp_path, shard_size=10)
    paths = write_shards(ds, tmp_path, shard_size=50, overwrite=True)
    assert sorted(tmp_path.glob("shard-*.parquet")) == paths and len(paths) == 2
    assert not list(tmp_path.glob(".tmp-*"))
    assert json.loads(pq.read_schema(paths[0]).metadata[b"gan_arena"])["name"] == "ring8"
