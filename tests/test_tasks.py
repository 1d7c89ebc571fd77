"""One Task per data kind: every dataset's kind has one, and it decides evaluation input, pretraining,
sample files and their defaults (gan_core.tasks)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core.build import build_trainer, spec_of
from gan_core.config import DataConfig, GanConfig, from_dict
from gan_core.data import build_dataset
from gan_core.errors import GanConfigError
from gan_core.metrics.image_eval import ImageEvaluator
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.metrics.toy_eval import ToyEvaluator
from gan_core.tasks import TASKS, make_evaluator, primary_metric, task_of


def _text_cfg(**train) -> GanConfig:
    return from_dict(GanConfig, {
        "data": {"name": "oracle", "vocab_size": 20, "seq_len": 6, "n_samples": 200},
        "generator": {"arch": "lstm-gumbel", "width": 16, "embed_dim": 8},
        "discriminator": {"arch": "text-cnn", "width": 16, "embed_dim": 8},
        "train": {"batch_size": 16, **train}})


def test_every_shipped_dataset_kind_has_its_task() -> None:
    kinds = {build_dataset(DataConfig(name=n, n_samples=100), seed=0).kind for n in ("ring8", "digits")}
    kinds.add(build_dataset(_text_cfg().data, seed=0).kind)
    assert kinds == set(TASKS) == {"toy", "image", "text"}
    assert {k: t.evaluator for k, t in TASKS.items()} == {"toy": ToyEvaluator, "image": ImageEvaluator,
                                                          "text": TextEvaluator}
    with pytest.raises(GanConfigError, match="data.name: no task for dataset kind 'audio'.*image, text, toy"):
        task_of("audio")


def test_the_text_task_scores_the_generator_itself() -> None:
    """Given the generator (not samples), the text evaluator also measures NLL_test and entropy."""
    cfg = _text_cfg()
    ds = build_dataset(cfg.data, seed=0)
    trainer = build_trainer(cfg, spec_of(ds))
    ev = make_evaluator(ds, n_fake=40, seed=0)
    metrics, shown = task_of(ds).evaluate(ev, trainer)
    assert {"nll_oracle", "nll_test", "entropy"} <= set(metrics)
    assert shown.shape == (50, 6) and shown.dtype == torch.long  # token ids, 50 of them, logged as text
    assert primary_metric(ds) == ("nll_oracle", "min")


def test_text_pretraining_runs_only_when_asked() -> None:
    ds = build_dataset(_text_cfg().data, seed=0)
    for steps in (0, 5):
        torch.manual_seed(0)
        trainer = build_trainer(_text_cfg(mle_pretrain_steps=steps), spec_of(ds))
        before = [p.detach().clone() for p in trainer.G.parameters()]
        task_of(ds).pretrain(trainer, ds)
        moved = any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters(), strict=True))
        assert moved == (steps > 0)
        if steps:  # the EMA starts from the pretrained generator
            for a, b in zip(trainer.G.parameters(), trainer.G_ema.parameters(), strict=True):
                assert torch.equal(a, b)


def test_tasks_write_their_formats_and_refuse_the_others(tmp_path: Path) -> None:
    toy = build_dataset(DataConfig(name="ring8", n_samples=100), seed=0)
    pts = torch.randn(300, 2)
    task = task_of(toy)
    task.write(pts, tmp_path / "a.png", lambda: toy, "t")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    task.write(pts, tmp_path / "a.npy", lambda: toy)
    assert np.array_equal(np.load(tmp_path / "a.npy"), pts.numpy())
    with pytest.raises(GanConfigError, match=r"--out: \.txt files are not written for toy samples.*\.png, \.npy"):
        task.write(pts, tmp_path / "a.txt", lambda: toy)
    text = task_of("text")
    ids = torch.randint(0, 20, (7, 6))
    text.write(torch.nn.functional.one_hot(ids, 20).float(), tmp_path / "t.npy", lambda: None)
    assert np.array_equal(np.load(tmp_path / "t.npy"), ids.numpy())  # one-hots are stored as their ids
    with pytest.raises(GanConfigError, match=r"\.png files are not written for text samples.*\.txt, \.npy"):
        text.write(ids, tmp_path / "t.png", lambda: None)
    assert (task_of("toy").default_samples, task_of("image").default_samples, text.default_samples) == (2500, 64, 50)
    oracle = build_dataset(_text_cfg().data, seed=0)  # decodes its ids as numbers
    assert (task.log_format(toy), task_of("image").log_format(None), text.log_format(oracle)) == (".png", ".png", ".txt")
    assert text.log_format(object()) is None  # text that cannot be decoded (e.g. Parquet shards): nothing logged


def _folder(root: Path, splits: bool) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for sub in (("train", "test") if splits else ("",)):
        for c in ("a", "b"):
            d = root / sub / c
            d.mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def test_the_evaluation_reference_is_the_test_split_or_says_why_not(tmp_path: Path) -> None:
    """eval.reference: auto uses the test split where there is one, else the training set with the reason;
    test refuses a dataset without one; train always uses the training set."""
    from gan_core.data import reference_dataset
    from gan_core.tasks import run_evaluator

    digits = DataConfig(name="digits")
    ds, used, why = reference_dataset(digits, "auto", seed=1)
    assert (used, why, ds.info["split"], len(ds)) == ("test", None, "test", 359)
    ds, used, why = reference_dataset(digits, "train", seed=1)
    assert (used, why, ds.info["split"], len(ds)) == ("train", None, "train", 1438)

    flat = DataConfig(name="imagefolder", root=str(_folder(tmp_path / "flat", splits=False)))
    ds, used, why = reference_dataset(flat, "auto", seed=1)
    assert used == "train" and len(ds) == 12 and "has no test split" in why
    with pytest.raises(GanConfigError, match=r"eval.reference: is 'test', but dataset 'imagefolder' has no test "
                                             r"split.*\(allowed: auto, train\)"):
        reference_dataset(flat, "test", seed=1)
    split = DataConfig(name="imagefolder", root=str(_folder(tmp_path / "split", splits=True)))
    assert reference_dataset(split, "test", seed=1)[1:] == ("test", None)
    with pytest.raises(GanConfigError, match="eval.reference: got 'val'"):
        reference_dataset(digits, "val", seed=1)

    toy = from_dict(GanConfig, {"data": {"name": "ring8", "n_samples": 200}, "eval": {"samples": 100}})
    assert run_evaluator(toy).protocol["eval_split"] == "test split"
    toy.eval.reference = "train"
    assert run_evaluator(toy).protocol["eval_split"] == "training set (eval.reference: train)"


def test_only_a_config_error_means_no_test_split(monkeypatch) -> None:
    """A bug while building the test split propagates; it is not taken for a dataset without one."""
    from gan_core import data
    from gan_core.data import reference_dataset

    def broken(cfg, seed):
        if cfg.split == "test":
            raise RuntimeError("a bug, not a missing split")
        return data.DATASETS["ring8"](cfg, seed)

    monkeypatch.setitem(data.DATASETS, "broken", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        reference_dataset(DataConfig(name="broken", n_samples=50), "auto", seed=1)

    def no_test_split(cfg, seed):
        if cfg.split == "test":
            raise GanConfigError("data.split", "no test split here")
        return data.DATASETS["ring8"](cfg, seed)

    monkeypatch.setitem(data.DATASETS, "nosplit", no_test_split)
    ds, used, why = reference_dataset(DataConfig(name="nosplit", n_samples=50), "auto", seed=1)
    assert used == "train" and ds.info["split"] == "train" and "data.split: no test split here" in why
