"""Fuzzed files (hypothesis): every file a user hands to ganarena, damaged at random.

A valid checkpoint, PNG image, Parquet shard, oracle weights file, text corpus and YAML config are each
truncated, bit-flipped, overwritten or extended at positions hypothesis chooses. The command reading
the damaged file must either work (some damage is harmless, e.g. in a PNG's ancillary chunk) or fail
with exit status 2 and ONE stderr line naming the file or the field that points at it, leaving nothing
written. Training commands stop where Ray would start (a sentinel), so nothing is ever trained.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from driver_only import RayWouldStart, install
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
DIGITS = str(REPO / "configs" / "digits_dcgan_ns_r1.yaml")
TEXT = str(REPO / "configs" / "text_oracle_small.yaml")
TINY = {"name": "tiny", "data": {"name": "ring8", "n_samples": 256},
        "generator": {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1},
        "discriminator": {"arch": "mlp", "width": 16, "depth": 1}, "train": {"steps": 2, "batch_size": 16}}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Originals(dict):
    """The valid files' bytes by kind (a short repr: hypothesis prints the arguments of a failing example)."""

    def __repr__(self) -> str:
        return f"<originals: {', '.join(f'{k} {len(v):,} B' for k, v in self.items())}>"


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch, no_ambient_tracking_uri):
    install(monkeypatch)


@pytest.fixture(scope="module")
def fnet(tmp_path_factory) -> Path:
    """A feature network for 8x8 grey images: a folder of your own PNGs needs one to be evaluated."""
    from gan_core.metrics.features import FeatureNet

    path = tmp_path_factory.mktemp("fnet") / "fnet.pt"
    net = FeatureNet(channels=1, native_size=8, feat_dim=16, num_classes=2)
    torch.save(net.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps({"arch": net.arch, "test_accuracy": None}))
    return path


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    """The valid files, as bytes: checkpoint, PNG, Parquet shard, oracle .npz, corpus, YAML config."""
    from PIL import Image

    from gan_core.build import build_trainer, spec_of
    from gan_core.checkpoint import save_checkpoint
    from gan_core.config import DataConfig, load_config
    from gan_core.data import build_dataset
    from gan_core.data.parquet import write_shards
    from gan_core.data.text import LSTMOracle

    d = tmp_path_factory.mktemp("originals")
    cfg = load_config(TINY)
    spec = spec_of(build_dataset(cfg.data))
    save_checkpoint(d / "good.pt", build_trainer(cfg, spec), spec, 0)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(d / "img.png")
    write_shards(build_dataset(DataConfig(name="digits", split="test")), d / "shards")
    np.savez(d / "oracle.npz", **{k: rng.standard_normal(s).astype(np.float32)
                                  for k, s in LSTMOracle.shapes(40, 8, 8).items()})
    (d / "corpus.txt").write_text("".join(f"the cat {w} sat on the mat {i}\n" for i, w in
                                          enumerate(["big", "small", "red", "old"] * 20)), encoding="utf-8")
    return Originals({"checkpoint": (d / "good.pt").read_bytes(), "png": (d / "img.png").read_bytes(),
            "parquet": next((d / "shards").glob("shard-*.parquet")).read_bytes(),
            "oracle": (d / "oracle.npz").read_bytes(), "corpus": (d / "corpus.txt").read_bytes(),
            "config": (REPO / "configs" / "toy_ring.yaml").read_bytes()})


@st.composite
def damage(draw, kind: str) -> tuple[str, int, bytes]:
    """(how, where, what): truncate at, flip a byte at, overwrite a run at, or insert bytes at a position."""
    how = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "zero"]))
    where = draw(st.floats(0, 1))
    what = draw(st.binary(min_size=1, max_size=64))
    return how, where, what


def _apply(data: bytes, how: str, where: float, what: bytes) -> bytes:
    i = min(int(where * len(data)), len(data) - 1)
    if how == "truncate":
        return data[:i]
    if how == "flip":
        return data[:i] + bytes([data[i] ^ (what[0] or 0xFF)]) + data[i + 1:]
    if how == "overwrite":
        return data[:i] + what + data[i + len(what):]
    if how == "zero":
        return data[:i] + bytes(len(what)) + data[i + len(what):]
    return data[:i] + what + data[i:]


def _run(argv: list[str], capsys) -> tuple[int | None, list[str]]:
    capsys.readouterr()
    try:
        rc = main(argv)
    except RayWouldStart:
        rc = None
    return rc, capsys.readouterr().err.strip().splitlines()


def _refused_in_one_line(rc: int | None, err: list[str], command: str, names: tuple[str, ...]) -> None:
    if rc in (0, None):  # harmless damage: the command worked (or reached Ray)
        return
    assert rc == 2, (rc, err)
    assert len(err) == 1 and err[0].startswith(f"ganarena {command}: error: "), err
    assert any(n in err[0] for n in names), err[0]


def _valid_pngs(folder: Path, originals: dict[str, bytes]) -> None:
    for i in range(1, 10):
        (folder / f"{i}.png").write_bytes(originals["png"])


def _fresh(tmp: Path) -> Path:
    for p in tmp.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return tmp


@pytest.mark.timeout(300)
@FUZZ
@given(d=damage("checkpoint"), command=st.sampled_from(["sample", "evaluate"]))
def test_a_damaged_checkpoint(d, command, originals, tmp_path, capsys) -> None:
    tmp = _fresh(tmp_path)
    ckpt = tmp / "ckpt.pt"
    ckpt.write_bytes(_apply(originals["checkpoint"], *d))
    argv = [command, str(ckpt), "--workdir", str(tmp / "w")]
    if command == "sample":
        argv += ["--out", str(tmp / "s.npy"), "--n", "8"]
    else:
        argv += ["--n", "64"]
    rc, err = _run(argv, capsys)
    _refused_in_one_line(rc, err, command, (str(ckpt),))
    written = sorted(p.name for p in tmp.iterdir())
    assert written == (["ckpt.pt", "s.npy"] if rc == 0 and command == "sample" else ["ckpt.pt"]), written


# (file kind, file name in its folder, the --set overrides that make `train` read it, the config)
READERS = {
    "png": ("images/0.png", ["data.name=imagefolder", "data.root={d}/images", "data.image_size=8",
                             "data.channels=1", "train.batch_size=8"], DIGITS),
    "parquet": ("shards/shard-00000-of-00001.parquet", ["data.name=parquet", "data.root={d}/shards"], DIGITS),
    "oracle": ("oracle.npz", ["data.name=oracle-npz", "data.root={d}/oracle.npz", "data.vocab_size=40",
                              "data.n_samples=64"], TEXT),
    "corpus": ("corpus.txt", ["data.name=textfile", "data.root={d}/corpus.txt", "data.vocab_size=40",
                              "data.seq_len=8"], TEXT),
}


@pytest.mark.timeout(300)
@FUZZ
@given(kind=st.sampled_from(sorted(READERS)), d=damage("data"))
def test_a_damaged_data_file(kind, d, originals, fnet, tmp_path, capsys) -> None:
    tmp = _fresh(tmp_path)
    rel, sets, config = READERS[kind]
    path = tmp / "data" / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(_apply(originals[kind], *d))
    argv = ["train", config, "--workdir", str(tmp / "w")]
    for s in sets:
        argv += ["--set", s.replace("{d}", str(tmp / "data"))]
    if kind == "png":  # beside 9 valid images (a batch is 8)
        _valid_pngs(path.parent, originals)
        argv += ["--feature-weights", str(fnet)]
    before = sorted(tmp.rglob("*"))
    rc, err = _run(argv, capsys)
    _refused_in_one_line(rc, err, "train", (path.name, str(path.parent), "data."))
    assert sorted(tmp.rglob("*")) == before  # nothing written: no workdir, no cache beside the data


@pytest.mark.timeout(300)
@FUZZ
@given(d=damage("config"))
def test_a_damaged_config(d, originals, tmp_path, capsys) -> None:
    from pipeline.experiment import SweepConfig  # noqa: F401 - the sweep section is part of the file

    tmp = _fresh(tmp_path)
    config = tmp / "c.yaml"
    config.write_bytes(_apply(originals["config"], *d))
    rc, err = _run(["train", str(config), "--workdir", str(tmp / "w"), "--set", "train.steps=2"], capsys)
    if rc == 2:
        assert len(err) == 1 and err[0].startswith("ganarena train: error: "), err
        field = err[0].removeprefix("ganarena train: error: ").split(": ", 1)[0]
        assert field == str(config) or field[:1].isalpha() or field.startswith("--"), err[0]
    else:
        assert rc is None, (rc, err)
    assert sorted(p.name for p in tmp.iterdir()) == ["c.yaml"]


def test_the_fuzzed_originals_are_valid(originals, fnet, tmp_path, capsys) -> None:
    """Undamaged, each file is accepted: the refusals above come from the damage, not from the setup."""
    for kind, (rel, sets, config) in READERS.items():
        path = tmp_path / kind / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(originals[kind])
        argv = ["train", config, "--workdir", str(tmp_path / "w")]
        for s in sets:
            argv += ["--set", s.replace("{d}", str(tmp_path / kind))]
        if kind == "png":
            _valid_pngs(path.parent, originals)
            argv += ["--feature-weights", str(fnet)]
        rc, err = _run(argv, capsys)
        assert rc is None, (kind, rc, err)
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(originals["checkpoint"])
    rc, err = _run(["sample", str(ckpt), "--out", str(tmp_path / "s.npy"), "--n", "8"], capsys)
    assert rc == 0 and torch.from_numpy(np.load(tmp_path / "s.npy")).shape == (8, 2), err
