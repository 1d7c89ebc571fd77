"""Bad input through the `ganarena` CLI: exit status 2, one stderr line naming the field and what is
allowed, and nothing half-written (no MLflow database or run, no Ray storage, no output file or shard folder).

Most cases fail in the config/data/model checks that `train` and `sweep` run before Ray or MLflow are
touched, so they run in-process in well under a second. The few that need a cluster (GPUs, MLflow
reachability, an unwritable workdir, resuming a run with another model) join the session's one Ray
instance (``ray_local``). Two cases run as real subprocesses to prove the process exit status.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
TOY = str(REPO / "configs" / "toy_ring.yaml")
DIGITS = str(REPO / "configs" / "digits_dcgan_ns_r1.yaml")
TEXT = str(REPO / "configs" / "text_oracle_small.yaml")
TINY = {"name": "tiny", "data": {"name": "ring8", "n_samples": 256},
        "generator": {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1},
        "discriminator": {"arch": "mlp", "width": 16, "depth": 1}, "train": {"steps": 2, "batch_size": 16}}


@pytest.fixture(scope="module", autouse=True)
def _no_ambient_tracking_uri(no_ambient_tracking_uri):
    """MLflow must be found through --workdir / --tracking-uri only (see conftest)."""


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """Broken inputs, made once: folders, corpora, Parquet shards, oracle weights, checkpoints."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gan_core.build import build_trainer, spec_of
    from gan_core.checkpoint import save_checkpoint
    from gan_core.config import DataConfig, load_config
    from gan_core.data import build_dataset
    from gan_core.data.parquet import write_shards
    from gan_core.data.text import LSTMOracle

    a = tmp_path_factory.mktemp("assets")
    (a / "syntax.yaml").write_text("name: x\ndata: {name: ring8\n")  # unclosed flow mapping
    (a / "duplicate.yaml").write_text("name: x\ntrain: {steps: 3}\nloss: {name: ns}\ntrain: {steps: 5}\n")
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"{k}: &{k} [{', '.join([f'*{j}'] * 10)}]" for j, k in zip("abcdefgh", "bcdefghi")]
    (a / "alias_bomb.yaml").write_text("\n".join(laughs) + "\n")  # 10^9 nodes once expanded
    (a / "deep.yaml").write_text("name: " + "[" * 20000 + "]" * 20000 + "\n")
    (a / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (a / "empty_images").mkdir()
    (a / "empty.txt").write_text("\n   \n\n")
    (a / "corrupt").mkdir()
    (a / "corrupt" / "shard-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    (a / "foreign").mkdir()  # a valid Parquet file, but not one of ours: other columns, no metadata
    pq.write_table(pa.table({"pixels": [1, 2, 3]}), a / "foreign" / "shard-00000-of-00001.parquet")
    write_shards(build_dataset(DataConfig(name="digits", split="test")), a / "digits_shards")  # (1, 8, 8)
    good_shard = next((a / "digits_shards").glob("shard-*.parquet"))
    table = pq.read_table(good_shard)
    meta = table.schema.metadata
    for name, t in {"zero_rows": table.slice(0, 0),
                    "broken_meta": table.replace_schema_metadata({**meta, b"gan_arena": b"{not json"}),
                    "wrong_width": pa.table({"x": pa.array([b"0123456789"] * 4, pa.binary(10)),
                                             "y": pa.array([0] * 4, pa.int64()), "index": pa.array(range(4))},
                                            ).replace_schema_metadata(meta)}.items():
        (a / name).mkdir()
        pq.write_table(t, a / name / "shard-00000-of-00001.parquet")
    shapes = LSTMOracle.shapes(100, 8, 8)
    arrays = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    arrays["Ui"] = np.zeros((8, 9), np.float32)  # should be (hidden, hidden) = (8, 8)
    np.savez(a / "oracle.npz", **arrays)
    (a / "bad_image").mkdir()
    (a / "bad_image" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (a / "a_file").write_text("a file where a folder is needed")
    (a / "junk.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"state_dict": {"weight": torch.zeros(2)}}, a / "foreign.pt")  # someone else's torch file
    cfg = load_config(TINY)
    trainer = build_trainer(cfg, spec_of(build_dataset(cfg.data)))
    good = save_checkpoint(a / "good.pt", trainer, spec_of(build_dataset(cfg.data)), 0)
    cond = load_config(DIGITS)  # a class-conditional generator (10 classes), tiny
    cond.data.conditional, cond.generator.width, cond.discriminator.width = True, 8, 8
    cond_data = build_dataset(cond.data)
    save_checkpoint(a / "cond.pt", build_trainer(cond, spec_of(cond_data)), spec_of(cond_data), 0)
    payload = torch.load(good, weights_only=True)
    payload["config"]["generator"]["width"] = 32  # the config says 32 units, the weights have 16
    torch.save(payload, a / "other_shape.pt")
    torch.save({k: v for k, v in payload.items() if k not in ("spec", "stream_position")}, a / "no_spec.pt")
    negative = torch.load(good, weights_only=True)
    negative["config"]["generator"]["width"] = -16
    torch.save(negative, a / "negative_width.pt")
    odd_spec = torch.load(good, weights_only=True)
    odd_spec["spec"]["shape"] = [0, 2]
    torch.save(odd_spec, a / "odd_spec.pt")
    damaged = torch.load(good, weights_only=True)
    del damaged["trainer"]["scaler_d"]  # what a flipped byte in the file did (found by fuzzing)
    torch.save(damaged, a / "damaged_state.pt")
    newline_key = torch.load(good, weights_only=True)
    newline_key["config"]["loss"]["lab\nel_smoothing"] = newline_key["config"]["loss"].pop("label_smoothing")
    torch.save(newline_key, a / "newline_key.pt")
    import pickle

    (a / "pickle.pt").write_bytes(pickle.dumps({"format": "ganarena-checkpoint-v1"}))  # not a torch zip file
    return a


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err.strip().splitlines()


def _assert_one_line(rc: int, err: list[str], command: str, field: str, allowed: str) -> None:
    assert rc == 2, (rc, err)
    assert len(err) == 1, err
    assert err[0].startswith(f"ganarena {command}: error: ") and field in err[0], err[0]
    assert allowed in err[0], err[0]  # what would have been accepted


def _assert_no_mlflow_state(workdir: Path) -> None:
    """Nothing of a run: no database, no artifacts, no Ray storage, no report."""
    assert not workdir.exists(), sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*"))


# (command line, field named in the message, a piece of what is allowed/expected). {a} = assets folder.
CASES = {
    "unknown loss": (["train", TOY, "--set", "loss.name=wasserstein"], "loss.name", "'hinge'"),
    "unknown penalty": (["train", TOY, "--set", "penalty.name=gp"], "penalty.name", "'wgan-gp'"),
    "unknown generator": (["train", TOY, "--set", "generator.arch=unet"], "generator.arch", "dcgan"),
    "unknown discriminator": (["train", TOY, "--set", "discriminator.arch=vit"], "discriminator.arch",
                              "patchgan"),
    "unknown dataset": (["train", TOY, "--set", "data.name=imagenet"], "data.name", "mnist5k"),
    "negative weight": (["train", TOY, "--set", "penalty.weight=-1"], "penalty.weight", ">= 0"),
    "non-numeric weight": (["train", TOY, "--set", "penalty.weight=lots"], "penalty.weight",
                           "expected a number"),
    "non-numeric lr": (["train", TOY, "--set", "optim.lr_g=fast"], "optim.lr_g", "expected a number"),
    "image size a conv G cannot produce": (["train", DIGITS, "--set", "data.image_size=36"], "data.image_size",
                                           "8, 16, 28, 32, 64"),
    "channels on 1-channel Parquet shards": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                              "data.root={a}/digits_shards", "--set", "data.channels=3"],
                                             "data.channels", "allowed: null, 1"),
    "image size on Parquet shards": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                      "data.root={a}/digits_shards", "--set", "data.image_size=16"],
                                     "data.image_size", "allowed: null, 8"),
    "channels on 2-D toy data": (["train", TOY, "--set", "data.channels=1"], "data.channels", "allowed: null"),
    "conv model on toy data": (["train", TOY, "--set", "generator.arch=dcgan"], "generator.arch", "mlp"),
    "missing dataset path": (["train", DIGITS, "--set", "data.name=imagefolder", "--set", "data.root={a}/nope"],
                             "data.root", "does not exist"),
    "empty image folder": (["train", DIGITS, "--set", "data.name=imagefolder", "--set",
                            "data.root={a}/empty_images"], "data.root", ".png"),
    "corrupt Parquet": (["train", DIGITS, "--set", "data.name=parquet", "--set", "data.root={a}/corrupt"],
                        "data.root", "not a readable Parquet file"),
    "Parquet of another schema": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                   "data.root={a}/foreign"], "data.root", "write_shards"),
    "Parquet shards with zero rows": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                       "data.root={a}/zero_rows"], "data.root", "hold no rows"),
    "Parquet metadata not JSON": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                   "data.root={a}/broken_meta"], "data.root", "metadata is not JSON"),
    "Parquet schema disagreeing with its metadata": (["train", DIGITS, "--set", "data.name=parquet", "--set",
                                                      "data.root={a}/wrong_width"], "data.root",
                                                     "disagrees with its metadata (x of 64 bytes"),
    "YAML syntax error": (["train", "{a}/syntax.yaml"], "syntax.yaml", "line 3"),
    "missing config file": (["train", "{a}/nope.yaml"], "nope.yaml", "not found"),
    "unknown config key": (["train", TOY, "--set", "train.stepz=5"], "train.stepz", "steps"),
    "wrong type (int)": (["train", TOY, "--set", "train.steps=many"], "train.steps", "expected an integer"),
    "wrong type (bool)": (["train", TOY, "--set", "data.conditional=3"], "data.conditional", "true or false"),
    "wrong type (pair)": (["train", TOY, "--set", "optim.betas_g=0.5"], "optim.betas_g", "list of 2 numbers"),
    "n_critic < 1": (["train", TOY, "--set", "train.n_critic=0"], "train.n_critic", ">= 1"),
    "label smoothing with wgan": (["train", TOY, "--set", "loss.name=wgan", "--set", "loss.label_smoothing=0.1"],
                                  "loss.label_smoothing", "minimax, ns"),
    "empty text corpus": (["train", TEXT, "--set", "data.name=textfile", "--set", "data.root={a}/empty.txt"],
                          "data.root", "no non-empty lines"),
    "oracle file with wrong shapes": (["train", TEXT, "--set", "data.name=oracle-npz", "--set",
                                       "data.root={a}/oracle.npz"], "oracle.npz:Ui", "expected shape (8, 8)"),
    "batch not divisible by --workers": (["train", TOY, "--workers", "3"], "train.batch_size",
                                         "a multiple of 3"),
    "--workers 0": (["train", TOY, "--workers", "0"], "--workers", ">= 1"),
    "--set without =": (["train", TOY, "--set", "loss.name"], "--set", "key=value"),
    "--set into a non-section": (["train", TOY, "--set", "seed.x=1"], "--set seed.x", "not a section"),
    "--set value not YAML": (["train", TOY, "--set", "loss.name=[ns"], "--set loss.name", "cannot parse"),
    "blank --name": (["train", TOY, "--name", "  "], "--name", "any text"),
    "control character in --name": (["train", TOY, "--name", "a\x1b[2Jb"], "--name", "control or invisible"),
    "--name too long to be a path": (["train", TOY, "--name", "\u2603" * 80], "--name", "up to 200 bytes"),
    "blank name in the config": (["train", TOY, "--set", "name=''"], "name", "any text"),
    "sweep: blank --name": (["sweep", TOY, "--name", ""], "--name", "any text"),
    "duplicate YAML key": (["train", "{a}/duplicate.yaml"], "duplicate.yaml", "duplicate key 'train' (first at line 2)"),
    "YAML alias bomb": (["train", "{a}/alias_bomb.yaml"], "alias_bomb.yaml", "more than 100,000 nodes"),
    "YAML nested too deeply": (["train", "{a}/deep.yaml"], "deep.yaml", "nested too deeply"),
    "config not UTF-8": (["train", "{a}/latin1.yaml"], "latin1.yaml", "byte 0xe9 at offset 9"),
    "--set value nested too deeply": (["train", TOY, "--set", "name=" + "[" * 20000], "--set name", "cannot parse"),
    "negative seed": (["train", TOY, "--set", "seed=-1"], "seed", "[0, 4294967295]"),
    "seed beyond 32 bits": (["train", TOY, "--set", "seed=4294967296"], "seed", "[0, 4294967295]"),
    "--set without a key": (["train", TOY, "--set", "=5"], "--set", "dotted key"),
    "--set with an empty key part": (["train", TOY, "--set", "train..steps=5"], "--set", "dotted key"),
    "--cpus-per-worker nan": (["train", TOY, "--cpus-per-worker", "nan"], "--cpus-per-worker", "finite"),
    "--gpus-per-worker inf": (["train", TOY, "--gpus-per-worker", "inf"], "--gpus-per-worker", "finite"),
    "image size beyond any model": (["train", DIGITS, "--set", "data.image_size=65536"], "data.image_size",
                                    "[4, 1024]"),
    "a generator 2^40 wide": (["train", TOY, "--set", "generator.width=1099511627776"], "generator.width/depth",
                              "too large for torch"),
    "a discriminator 2^20 wide and deep": (["train", TOY, "--set", "discriminator.width=1048576", "--set",
                                            "discriminator.depth=64"], "discriminator.width/depth", "GiB"),
    "a batch of 10^9 images": (["train", DIGITS, "--set", "train.batch_size=1000000000"], "train.batch_size",
                               "smaller models or batches"),
    "unknown augmentation op": (["train", DIGITS, "--set", "augment.policy=[rotate]"], "augment.policy[0]",
                                "'translation'"),
    "augmentation op twice": (["train", DIGITS, "--set", "augment.policy=[color,color]"], "augment.policy",
                              "cutout"),
    "augmentation policy not a list": (["train", DIGITS, "--set", "augment.policy=cutout"], "augment.policy",
                                       "expected a list"),
    "augmentation p above 1": (["train", DIGITS, "--set", "augment.policy=[color]", "--set", "augment.p=1.5"],
                               "augment.p", "[0, 1]"),
    "ADA kimg infinite": (["train", DIGITS, "--set", "augment.kimg=.inf"], "augment.kimg", "finite"),
    "ADA target without a policy": (["train", DIGITS, "--set", "augment.target=0.6"], "augment.policy",
                                    "translation"),
    "ADA target outside (-1, 1)": (["train", DIGITS, "--set", "augment.policy=[color]", "--set",
                                    "augment.target=1.0"], "augment.target", "(-1, 1)"),
    "augmentation on toy data": (["train", TOY, "--set", "augment.policy=[translation]"], "augment.policy",
                                 "[] (off)"),
    "LeCam weight negative": (["train", DIGITS, "--set", "lecam.weight=-0.1"], "lecam.weight", ">= 0"),
    "LeCam decay 1": (["train", DIGITS, "--set", "lecam.weight=0.1", "--set", "lecam.decay=1"], "lecam.decay",
                      "[0, 1)"),
    "sweep: unknown augmentation op": (["sweep", DIGITS, "--set", "sweep.augment=[none,rotate]"], "sweep.augment",
                                       "cutout"),
    "sweep: LeCam weight range from 0": (["sweep", DIGITS, "--set", "sweep.lecam_weight=[0,1]"],
                                         "sweep.lecam_weight", "0 < low"),
    "sweep: unknown loss": (["sweep", TOY, "--set", "sweep.losses=[ns,wasserstein]"], "sweep.losses", "hinge"),
    "sweep: --trials 0": (["sweep", TOY, "--trials", "0"], "sweep.trials", ">= 1"),
    "sweep: --seeds -1": (["sweep", TOY, "--seeds", "-1"], "sweep.seeds", "0: search only"),
    "sweep: search_steps 0": (["sweep", TOY, "--set", "sweep.search_steps=0"], "sweep.search_steps", ">= 1 or null"),
    "sweep: objectives without a cost": (["sweep", TOY, "--set", "sweep.objectives=[modes_hq,fd]"],
                                         "sweep.objectives", "[fd, cost_wall_s]"),
    "sweep: objectives cost first": (["sweep", TOY, "--set", "sweep.objectives=[cost,modes_hq]"],
                                     "sweep.objectives", "[fd, cost]"),
    "sweep: objectives not the data's primary metric": (["sweep", TOY, "--set", "sweep.objectives=[fd,cost]"],
                                                        "sweep.objectives", "[modes_hq, cost]"),
    "sweep: resume an unknown name": (["sweep", TOY, "--resume", "--name", "ghost"], "--resume", "ghost"),
    "sweep: 1.5 GPUs per worker": (["sweep", TOY, "--set", "sweep.gpus_per_worker=1.5"], "sweep.gpus_per_worker",
                                   "0.5"),
    "sweep: 0 CPUs per worker": (["sweep", TOY, "--set", "sweep.cpus_per_worker=0"], "sweep.cpus_per_worker",
                                 "> 0 or null"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CASES))
def test_train_and_sweep_refuse_before_anything_exists(case, assets, tmp_path, capsys) -> None:
    argv, field, allowed = CASES[case]
    workdir = tmp_path / "w"
    rc, err = _run([a.replace("{a}", str(assets)) for a in argv] + ["--workdir", str(workdir)], capsys)
    _assert_one_line(rc, err, argv[0], field, allowed)
    _assert_no_mlflow_state(workdir)


SAMPLE_CASES = {
    "unknown --out extension": (["sample", "{a}/good.pt", "--out", "{t}/s.gif"], "--out", ".npy"),
    "corrupt checkpoint": (["sample", "{a}/junk.pt", "--out", "{t}/s.npy"], "junk.pt", "weights_only=True"),
    "foreign checkpoint": (["evaluate", "{a}/foreign.pt"], "foreign.pt", "ganarena-checkpoint-v1"),
    "checkpoint of another model shape": (["sample", "{a}/other_shape.pt", "--out", "{t}/s.npy"], "checkpoint",
                                          "same generator/discriminator"),
    "checkpoint without its spec and position": (["sample", "{a}/no_spec.pt", "--out", "{t}/s.npy"], "no_spec.pt",
                                                 "spec, stream_position missing"),
    "checkpoint whose config has a negative size": (["evaluate", "{a}/negative_width.pt"],
                                                    "negative_width.pt: config generator.width", ">= 1"),
    "checkpoint with an empty data shape": (["sample", "{a}/odd_spec.pt", "--out", "{t}/s.npy"], "odd_spec.pt: spec",
                                            "positive ints"),
    "checkpoint with a damaged optimiser state": (["sample", "{a}/damaged_state.pt", "--out", "{t}/s.npy"],
                                                  "damaged_state.pt", "same generator/discriminator"),
    "checkpoint config key with a newline": (["evaluate", "{a}/newline_key.pt"], "newline_key.pt: config loss.lab\\x0ael",
                                             "label_smoothing"),
    "bare pickle stream": (["sample", "{a}/pickle.pt", "--out", "{t}/s.npy"], "pickle.pt", "weights_only=True"),
    "missing checkpoint": (["evaluate", "{t}/gone.pt"], "source", "checkpoint .pt file"),
    "unwritable --out": (["sample", "{a}/good.pt", "--out", "{a}/a_file/sub/s.npy"], "--out", "writable folder"),
    "--n beyond memory": (["sample", "{a}/good.pt", "--out", "{t}/s.npy", "--n", "1000000000000"], "--n",
                          "more than a quarter of this machine's"),
    "evaluate --n beyond memory": (["evaluate", "{a}/good.pt", "--n", "1000000000000"], "--n", "allowed: 1.."),
    "--n 0": (["sample", "{a}/good.pt", "--out", "{t}/s.npy", "--n", "0"], "--n", ">= 1"),
    "--class of an unconditional generator": (["sample", "{a}/good.pt", "--out", "{t}/s.npy", "--class", "3"],
                                              "--class", "leave --class out"),
    "--class beyond the classes": (["sample", "{a}/cond.pt", "--out", "{t}/s.png", "--class", "10"], "--class",
                                   "0..9"),
    "--class negative": (["sample", "{a}/cond.pt", "--out", "{t}/s.png", "--class", "-1"], "--class", "0..9"),
    "interpolate --steps 1": (["interpolate", "{a}/cond.pt", "--out", "{t}/w.png", "--steps", "1"], "--steps",
                              ">= 2"),
    "interpolate --rows 0": (["interpolate", "{a}/good.pt", "--out", "{t}/w.npy", "--rows", "0"], "--rows", ">= 1"),
    "interpolate a grid too large": (["interpolate", "{a}/good.pt", "--out", "{t}/w.npy", "--rows", "1000000",
                                      "--steps", "1000000"], "--rows/--steps", "<= 4096"),
    "interpolate to a .gif": (["interpolate", "{a}/good.pt", "--out", "{t}/w.gif"], "--out", ".png"),
    "ui --workers 0": (["ui", "--workers", "0"], "--workers", ">= 1"),
    "report of a sweep where nothing ran": (["report", "ghost"], "sweep", "--workdir/--tracking-uri"),
    # MLflow's client alone would retry a dead server for minutes: each command probes it first
    "sample from an unreachable --tracking-uri": (["sample", "some-run", "--out", "{t}/s.npy", "--tracking-uri",
                                                  "http://127.0.0.1:1"], "--tracking-uri",
                                                 "cannot reach MLflow at http://127.0.0.1:1"),
    "evaluate on an unreachable --tracking-uri": (["evaluate", "some-run", "--tracking-uri", "http://127.0.0.1:1"],
                                                  "--tracking-uri", "Connection refused at 127.0.0.1:1"),
    "report from an unreachable --tracking-uri": (["report", "some-sweep", "--tracking-uri", "http://127.0.0.1:1"],
                                                  "--tracking-uri", "cannot reach MLflow"),
    "a --tracking-uri with a port that is not a number": (["report", "s", "--tracking-uri", "http://h:port"],
                                                          "--tracking-uri", "http://HOST:PORT"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(SAMPLE_CASES))
def test_sample_and_evaluate_refuse_and_write_nothing(case, assets, tmp_path, capsys) -> None:
    argv, field, allowed = SAMPLE_CASES[case]
    before = sorted(assets.rglob("*"))
    workdir = tmp_path / "w"
    argv = [a.replace("{a}", str(assets)).replace("{t}", str(tmp_path)) for a in argv]
    t0 = time.monotonic()
    rc, err = _run(argv + ["--workdir", str(workdir)], capsys)
    assert time.monotonic() - t0 < 20  # nothing here may wait on a server or retry
    _assert_one_line(rc, err, argv[0], field, allowed)
    assert list(tmp_path.iterdir()) == []  # no output, no temp file, no MLflow database
    assert sorted(assets.rglob("*")) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", ["unwritable --out", "corrupt image"])
def test_data_prepare_leaves_no_shard_folder(case, assets, tmp_path, capsys) -> None:
    if case == "unwritable --out":
        out = assets / "a_file" / "shards"
        argv = ["data", "prepare", "ring8", "--out", str(out), "--set", "n_samples=100"]
        field, allowed = "--out", "writable folder"
    else:  # fails while the shards are being written
        out = tmp_path / "shards"
        argv = ["data", "prepare", "imagefolder", "--out", str(out), "--set", f"root={assets}/bad_image",
                "--set", "image_size=8"]
        field, allowed = "data.root", "cannot read image"
    rc, err = _run(argv, capsys)
    _assert_one_line(rc, err, "data", field, allowed)
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- cases that need a cluster


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_more_gpus_than_the_cluster_has(ray_local, tmp_path, capsys) -> None:
    assert ray_local.get("GPU", 0) == 0  # this CPU box
    rc, err = _run(["train", TOY, "--gpus-per-worker", "1", "--workdir", str(tmp_path / "w")], capsys)
    _assert_one_line(rc, err, "train", "--gpus-per-worker", "the cluster has 0")
    _assert_no_mlflow_state(tmp_path / "w")


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sets,field,allowed", [
    (["sweep.gpus_per_worker=1"], "sweep.gpus_per_worker", "no GPUs (allowed: 0)"),
    (["sweep.cpus_per_worker=3"], "sweep.cpus_per_worker", "(allowed: 0 < cpus_per_worker <= 2)"),
    (["sweep.workers_per_trial=3", "sweep.cpus_per_worker=1"], "sweep.workers_per_trial", "hold 2 such workers (allowed: 1..2)"),
], ids=["GPU", "CPUs per worker", "workers per trial"])
def test_sweep_trials_that_cannot_fit_the_cluster(ray_local, tmp_path, capsys, sets, field, allowed) -> None:
    """Checked against the alive nodes once Ray is up, before the sweep writes anything."""
    assert (ray_local.get("CPU"), ray_local.get("GPU", 0)) == (2, 0)
    argv = ["sweep", TOY, "--workdir", str(tmp_path / "w")]
    for s in sets:
        argv += ["--set", s]
    rc, err = _run(argv, capsys)
    _assert_one_line(rc, err, "sweep", field, allowed)
    _assert_no_mlflow_state(tmp_path / "w")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_more_workers_than_the_cluster_can_hold(ray_local, tmp_path, capsys) -> None:
    """1000 workers on 2 CPUs once started 42 Ray processes and left a RUNNING run: refused up front
    (128 workers, a divisor of the batch of 256, need ~128 GiB; this machine has 24)."""
    rc, err = _run(["train", TOY, "--workers", "128", "--workdir", str(tmp_path / "w")], capsys)
    _assert_one_line(rc, err, "train", "--workers", "allowed: 1..")
    _assert_no_mlflow_state(tmp_path / "w")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_unreachable_mlflow_fails_fast(ray_local, tmp_path, capsys) -> None:
    t0 = time.monotonic()
    rc, err = _run(["train", TOY, "--tracking-uri", "http://127.0.0.1:1", "--workdir", str(tmp_path / "w")],
                   capsys)
    assert time.monotonic() - t0 < 60  # retries are bounded (2 retries, 20 s timeout per request)
    _assert_one_line(rc, err, "train", "--tracking-uri", "cannot reach MLflow at http://127.0.0.1:1")
    _assert_no_mlflow_state(tmp_path / "w")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_unwritable_workdir(ray_local, assets, capsys) -> None:
    workdir = assets / "a_file" / "runs"
    rc, err = _run(["train", TOY, "--workdir", str(workdir)], capsys)
    _assert_one_line(rc, err, "train", "--workdir", "Not a directory")
    assert (assets / "a_file").is_file()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_resuming_a_run_with_another_model_is_refused(ray_local, tmp_path, capsys) -> None:
    """Rerunning a name resumes its checkpoints; a changed model would fail in every worker restart."""
    from mlflow.tracking import MlflowClient

    from gan_core.config import flatten, load_config, to_dict
    from pipeline.runs import NAME as TAG_NAME
    from pipeline.tracking import prepare_experiment, safe_params

    workdir = tmp_path / "w"
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    exp_id = prepare_experiment(uri, "ganarena-train", workdir)
    client = MlflowClient(uri)
    run = client.create_run(exp_id, run_name="ring", tags={TAG_NAME: "ring"})
    run_id = run.info.run_id
    for k, v in safe_params(flatten(to_dict(load_config(TOY)))).items():  # what a started run has logged
        client.log_param(run_id, k, v)
    client.set_terminated(run_id, "KILLED")  # interrupted

    rc, err = _run(["train", TOY, "--set", "generator.width=64", "--name", "ring", "--workdir", str(workdir)], capsys)
    _assert_one_line(rc, err, "train", "generator.width", "allowed: 128, another --name")
    runs = client.search_runs([exp_id])
    assert [r.info.run_id for r in runs] == [run_id] and runs[0].info.status == "KILLED"  # untouched
    assert not (workdir / "ray").exists()


# ----------------------------------------------------------------------------- real processes: the exit status


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", ["unreachable Ray address", "YAML syntax error"])
def test_exit_status_of_a_real_process(case, assets, tmp_path) -> None:
    if case == "unreachable Ray address":  # nothing listens on port 1: fail fast, do not retry the GCS for minutes
        argv, field = ["train", TOY, "--address", "127.0.0.1:1"], "--address"
    else:
        argv, field = ["train", str(assets / "syntax.yaml")], "syntax.yaml"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv, "--workdir", str(tmp_path / "w")],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=150)
    took = time.monotonic() - t0
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(err) == 1 and err[0].startswith("ganarena train: error: ") and field in err[0], err
    assert proc.stdout == ""
    assert not (tmp_path / "w").exists()
    # the process is mostly imports (torch, ~10-30 s on a loaded 2-core box); Ray's own retry loop is minutes
    assert took < 120, took


def test_every_user_error_is_built_with_a_field_and_a_problem() -> None:
    """A GanConfigError missing its problem crashes the error path itself (a TypeError instead of the
    message): every construction in the project passes at least the field and the problem."""
    import ast

    sites, bad = 0, []
    for d in ("gan_core", "pipeline", "bench", "scripts"):
        for path in sorted((REPO / d).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                        "GanConfigError":
                    sites += 1
                    given = len(node.args) + sum(k.arg in ("field", "problem") for k in node.keywords)
                    if given < 2 and not any(isinstance(a, ast.Starred) for a in node.args):
                        bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert sites > 100 and not bad, (sites, bad)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("content", ["random bytes", "another SQLite database"])
def test_a_corrupt_or_foreign_mlflow_db_is_one_line_and_never_touched(content, tmp_path, capsys) -> None:
    import sqlite3

    workdir = tmp_path / "w"
    workdir.mkdir()
    db = workdir / "mlflow.db"
    if content == "random bytes":
        db.write_bytes(np.random.default_rng(0).bytes(8192))
    else:
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE notes (x TEXT)")
        con.commit()
        con.close()
    before = db.read_bytes()
    for argv in (["train", TOY], ["sweep", TOY], ["report", "x"], ["sample", "x", "--out", str(tmp_path / "s.npy")],
                 ["evaluate", "x"]):
        rc, err = _run([*argv, "--workdir", str(workdir)], capsys)
        _assert_one_line(rc, err, argv[0], "mlflow.db", "another --workdir")
    assert db.read_bytes() == before and sorted(p.name for p in workdir.iterdir()) == ["mlflow.db"]
    assert not (tmp_path / "s.npy").exists()
