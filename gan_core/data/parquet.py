"""Parquet shards of any GanDataset, read back bit-identically (and by Ray Data, batch by batch).

Layout: ``out_dir/shard-00000-of-00003.parquet`` ... Each shard has the columns
``x`` (fixed_size_binary: one sample's raw bytes, C-order), ``y`` (int64, only when labeled) and
``index`` (int64, position in the source dataset). The schema metadata key ``b"gan_arena"`` holds
a JSON object, the ``meta`` that ``decode_batch`` needs: ``{"format": 1, "dtype": "uint8",
"shape": [1, 28, 28], "scale": 255.0 (null for raw float samples), "num_classes": 10,
"labeled": true, "name": ..., "kind": ..., "info": {...}}``. Read it with ``read_meta(dir_or_file)``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from gan_core.data.base import GanDataset, TensorGanDataset, decode_raw
from gan_core.errors import GanConfigError

META_KEY = b"gan_arena"
FORMAT = 1


def _dataset_meta(ds: GanDataset) -> dict[str, Any]:
    return {"format": FORMAT, "dtype": ds.raw_dtype.name, "shape": list(ds.shape), "scale": ds.scale,
            "num_classes": ds.num_classes, "labeled": ds.num_classes > 0, "name": ds.name,
            "kind": ds.kind, "info": ds.info}


def write_shards(ds: GanDataset, out_dir: str | Path, shard_size: int = 10_000,
                 overwrite: bool = False) -> list[Path]:
    """Write ``ds`` as Parquet shards; files appear only once all are written (nothing half-done)."""
    if shard_size < 1:
        raise GanConfigError("--shard-size", f"must be >= 1, got {shard_size}")
    out = Path(out_dir)
    if out.exists() and any(out.glob("shard-*.parquet")) and not overwrite:
        raise GanConfigError("--out", f"{out} already holds shards; choose an empty folder or overwrite")
    meta = _dataset_meta(ds)
    nbytes = int(np.prod(ds.shape)) * ds.raw_dtype.itemsize
    fields = [pa.field("x", pa.binary(nbytes)), pa.field("index", pa.int64())]
    if meta["labeled"]:
        fields.insert(1, pa.field("y", pa.int64()))
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(meta, default=str).encode()})
    n_shards = max(1, -(-len(ds) // shard_size))
    created = not out.exists()  # removed again if writing fails: no empty shard folder left behind
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-shards-", dir=out))
    except OSError as e:
        raise GanConfigError("--out", f"cannot write shards to {out}: {e.strerror or e}",
                             "a writable folder (created if missing)") from None
    try:
        names = []
        for s in range(n_shards):
            idx = torch.arange(s * shard_size, min(len(ds), (s + 1) * shard_size))
            raw, y = ds.get_raw(idx)
            arr = np.ascontiguousarray(raw.numpy()).astype(ds.raw_dtype, copy=False)
            cols = {"x": pa.array([r.tobytes() for r in arr], type=pa.binary(nbytes)),
                    "index": pa.array(idx.numpy(), type=pa.int64())}
            if meta["labeled"]:
                cols["y"] = pa.array(y.numpy(), type=pa.int64())
            name = f"shard-{s:05d}-of-{n_shards:05d}.parquet"
            pq.write_table(pa.table(cols, schema=schema), tmp / name)
            names.append(name)
        for old in out.glob("shard-*.parquet"):
            old.unlink()
        paths = [out / n for n in names]
        for n, p in zip(names, paths, strict=True):
            (tmp / n).replace(p)
        return paths
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _shards(root: str | Path) -> list[Path]:
    p = Path(root)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise GanConfigError("data.root", f"Parquet folder {p} does not exist")
    files = sorted(p.glob("shard-*.parquet"))
    if not files:
        raise GanConfigError("data.root", f"no shard-*.parquet files in {p} (write them with "
                             "`ganarena data prepare <dataset> --out DIR`)")
    return files


def _file_meta(path: Path) -> dict[str, Any]:
    try:
        schema = pq.read_schema(path)
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as e:
        raise GanConfigError("data.root", f"{path} is not a readable Parquet file: {e}") from None
    md = schema.metadata or {}
    if META_KEY not in md:
        raise GanConfigError("data.root", f"{path} has no {META_KEY.decode()!r} schema metadata "
                             "(not written by gan_core.data.parquet.write_shards)")
    try:
        meta = json.loads(md[META_KEY])
    except (ValueError, UnicodeDecodeError) as e:
        raise GanConfigError("data.root", f"{path}: its {META_KEY.decode()!r} metadata is not JSON ({e})",
                             "shards written by `ganarena data`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise GanConfigError("data.root", f"{path}: unsupported shard format {got}", [FORMAT])
    _check_meta(path, meta, schema)
    return {**meta, "rows": rows}


def _check_meta(path: Path, meta: dict[str, Any], schema: Any) -> None:
    """The metadata must describe rows this file's schema can hold: a dtype, a shape, x of that many bytes."""
    try:
        dtype = np.dtype(meta["dtype"])
        shape = [int(d) for d in meta["shape"]]
        None if meta["scale"] is None else float(meta["scale"])  # None: float data, stored as is
        labeled = meta["labeled"]
        if not shape or min(shape) < 1 or not isinstance(labeled, bool):
            raise ValueError(f"shape {shape}, labeled {labeled!r}")
    except (KeyError, TypeError, ValueError) as e:
        raise GanConfigError("data.root", f"{path}: its {META_KEY.decode()!r} metadata is incomplete or invalid "
                             f"({type(e).__name__}: {e})", "shards written by `ganarena data`") from None
    names = set(schema.names)
    x = schema.field("x").type if "x" in names else None
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if x is None or getattr(x, "byte_width", None) != nbytes or (labeled and "y" not in names):
        raise GanConfigError("data.root", f"{path}: its schema ({', '.join(f'{f.name}: {f.type}' for f in schema)}) "
                             f"disagrees with its metadata (x of {nbytes} bytes for {shape} {dtype.name}"
                             f"{', and y' if labeled else ''})", "shards written by `ganarena data`")


def read_meta(root: str | Path) -> dict[str, Any]:
    """The ``meta`` dict of a shard folder (or one file); shards that disagree are an error."""
    files = _shards(root)
    meta = _file_meta(files[0])
    for f in files[1:]:
        m = _file_meta(f)
        if {k: m[k] for k in ("dtype", "shape", "scale", "labeled")} != \
                {k: meta[k] for k in ("dtype", "shape", "scale", "labeled")}:
            raise GanConfigError("data.root", f"{f} does not match {files[0]} (dtype/shape/scale/labels)")
        meta["rows"] += m["rows"]
    if meta["rows"] == 0:
        raise GanConfigError("data.root", f"{root}: its {len(files)} shard(s) hold no rows", "shards with data")
    return meta


def raw_batch(columns: dict[str, Any], meta: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Numpy columns -> raw storage tensor (meta dtype and shape) and int64 labels or None."""
    xs = columns.get("x")
    if xs is None:
        raise GanConfigError("columns", "batch has no 'x' column", sorted(columns))
    dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if isinstance(xs, np.ndarray) and xs.dtype == np.uint8 and xs.ndim == 2:
        buf = np.ascontiguousarray(xs).tobytes()
    else:
        buf = b"".join(bytes(b) for b in xs)
    if len(buf) != len(xs) * nbytes:
        raise GanConfigError("x", f"rows are not {nbytes} bytes each as the metadata shape {list(shape)} "
                             f"and dtype {dtype.name} require")
    raw = torch.from_numpy(np.frombuffer(buf, dtype=dtype).reshape(len(xs), *shape).copy())
    y = columns.get("y") if meta["labeled"] else None
    return raw, None if y is None else torch.tensor(np.asarray(y), dtype=torch.int64)


def decode_batch(columns: dict[str, Any], meta: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A numpy batch (e.g. from Ray Data ``iter_batches(batch_format="numpy")``) -> (x, y) tensors.

    ``columns["x"]`` may be an array of ``bytes`` objects or a (B, nbytes) uint8 array; ``meta`` is
    ``read_meta(shard_dir)``. x is float32 decoded exactly as ``GanDataset.get_batch`` does.
    """
    raw, y = raw_batch(columns, meta)
    return decode_raw(raw, meta["scale"]), y


class ParquetDataset(TensorGanDataset):
    """All shards of a folder loaded into memory as a GanDataset named "parquet"."""

    def __init__(self, root: str | Path):
        files = _shards(root)
        meta = read_meta(root)
        dtype, shape = np.dtype(meta["dtype"]), tuple(meta["shape"])
        raws, ys = [], []
        for f in files:
            try:
                t = pq.read_table(f)
            except (pa.ArrowException, OSError) as e:
                raise GanConfigError("data.root", f"{f} is corrupt: {e}") from None
            missing = {"x", "y"} - set(t.column_names) if meta["labeled"] else {"x"} - set(t.column_names)
            if missing:
                raise GanConfigError("data.root", f"{f} lacks column(s) {sorted(missing)}")
            x, y = raw_batch({c: t.column(c).to_numpy() for c in ("x", "y") if c in t.column_names}, meta)
            raws.append(x)
            if y is not None:
                ys.append(y)
        raw = torch.cat(raws) if raws else torch.empty((0, *shape), dtype=getattr(torch, dtype.name))
        info = {**meta["info"], "source": f"parquet shards at {Path(root)} (from {meta['name']})",
                "source_name": meta["name"], "shards": len(files)}
        info.pop("N", None)
        self.meta = meta
        super().__init__("parquet", meta["kind"], raw, torch.cat(ys) if ys else None,
                         meta["num_classes"], meta["scale"], info)
