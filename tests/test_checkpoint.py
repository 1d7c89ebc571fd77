"""Stop at step k, save, restore into fresh objects, continue == never stopping, bit for bit on CPU."""

import pytest
import torch

from gan_core import BatchStream, build_trainer, fit, load_config
from gan_core.checkpoint import checkpoint_config, load_checkpoint, restore, save_checkpoint
from gan_core.data.base import TensorGanDataset
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec

SPEC = DataSpec((2,), 0, "toy")
CFG = {
    "generator": {"z_dim": 3, "width": 16, "depth": 2, "prior": "mixture", "prior_components": 4},
    "discriminator": {"width": 16, "depth": 2},
    "loss": {"name": "wgan"}, "penalty": {"name": "wgan-gp", "weight": 10.0},
    "train": {"n_critic": 2, "batch_size": 32, "ema_decay": 0.9},
}
DATA = TensorGanDataset("pts", "toy", torch.randn(100, 2, generator=torch.Generator().manual_seed(0)),
                        None, 0, None, {})


def _state(tr) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in tr.G.state_dict().items()}
    out |= {f"D.{k}": v for k, v in tr.D.state_dict().items()}
    out |= {f"E.{k}": v for k, v in tr.G_ema.state_dict().items()}
    return out


def test_resume_is_bit_identical(tmp_path) -> None:
    cfg = load_config(CFG)
    full = build_trainer(cfg, SPEC)
    fit(full, BatchStream(DATA, 32, seed=1), until_step=10)

    first = build_trainer(cfg, SPEC)
    stream = BatchStream(DATA, 32, seed=1)
    fit(first, stream, until_step=4)
    path = save_checkpoint(tmp_path / "ckpt.pt", first, SPEC, stream.position)
    torch.manual_seed(999)  # whatever happens in between must not matter

    payload = load_checkpoint(path)
    cfg2, spec2 = checkpoint_config(payload)
    assert cfg2 == cfg and spec2 == SPEC
    resumed = build_trainer(cfg2, spec2)
    pos = restore(resumed, payload)
    fit(resumed, BatchStream(DATA, 32, seed=1, position=pos), until_step=10)

    assert resumed.step == full.step == 10
    a, b = _state(full), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert full.opt_d.state_dict()["state"][0]["exp_avg"].equal(resumed.opt_d.state_dict()["state"][0]["exp_avg"])


def test_corrupt_foreign_and_mismatched_checkpoints_are_clear_errors(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(GanConfigError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(GanConfigError, match="not a GAN Arena checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(GanConfigError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    tr = build_trainer(load_config(CFG), SPEC)
    save_checkpoint(tmp_path / "ok.pt", tr, SPEC, 0)
    wider = load_config({**CFG, "generator": {**CFG["generator"], "width": 32}})
    with pytest.raises(GanConfigError, match="does not fit this model"):
        restore(build_trainer(wider, SPEC), load_checkpoint(tmp_path / "ok.pt"))


def test_pickled_code_is_refused(tmp_path) -> None:
    """weights_only=True: a checkpoint carrying an arbitrary object is not executed."""
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ganarena-checkpoint-v1", "x": torch.nn.Linear(2, 2)}, evil)
    with pytest.raises(GanConfigError, match="not a readable checkpoint"):
        load_checkpoint(evil)


def test_a_full_disk_is_one_error_and_leaves_no_partial_file(tmp_path, monkeypatch) -> None:
    """ENOSPC halfway through the write: one GanConfigError naming the file, no .tmp left, and the previous
    checkpoint (what a resume picks up) untouched."""
    import errno
    from pathlib import Path

    tr = build_trainer(load_config(CFG), SPEC)
    path = save_checkpoint(tmp_path / "state.pt", tr, SPEC, 7)
    before = path.read_bytes()
    real = Path.write_bytes

    def full(self, data):
        real(self, data[: len(data) // 2])  # half of it reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(GanConfigError, match=r"state\.pt: cannot write the checkpoint \(No space left on device"):
        save_checkpoint(path, tr, SPEC, 8)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]
    assert path.read_bytes() == before and load_checkpoint(path)["stream_position"] == 7


def test_a_checkpoint_from_before_the_eval_section_loads(tmp_path) -> None:
    """Checkpoints written when eval settings were train.eval_every / eval_samples and metrics.*, and
    train.inject_nan_at was a setting, still load."""
    tr = build_trainer(load_config({**CFG, "eval": {"every": 9, "samples": 33}}), SPEC)
    path = save_checkpoint(tmp_path / "new.pt", tr, SPEC, 0)
    payload = torch.load(path, weights_only=True)
    ev = payload["config"].pop("eval")
    payload["config"]["train"].update(eval_every=ev["every"], eval_samples=ev["samples"], inject_nan_at=0)
    payload["config"]["metrics"] = {"feature_weights": ev["feature_weights"]}
    torch.save(payload, tmp_path / "old.pt")
    cfg, spec = checkpoint_config(load_checkpoint(tmp_path / "old.pt"))
    assert (cfg.eval.every, cfg.eval.samples, cfg.eval.reference) == (9, 33, "auto") and spec == SPEC
    assert cfg == checkpoint_config(load_checkpoint(path))[0]
