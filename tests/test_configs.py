"""Every shipped config loads strictly, builds its models against its dataset and takes a training step.

Fast (no Ray, no MLflow): a config that fails here would fail at `ganarena train` start-up.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from bench.configs_quality import MEASURED, TARGETS, digest, measured_line
from gan_core.build import build_trainer, spec_of
from gan_core.losses import LOSSES
from gan_core.penalties import PENALTIES
from pipeline.experiment import load_experiment
from pipeline.train import check_config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))
# Configs whose dataset alone takes minutes to build on 2 cores (the SeqGAN oracle samples 10,000
# sequences of 20 tokens over 5,000 words from an LSTM): checked in the slow run only.
SLOW = {"text_oracle_seqgan"}
PARAMS = [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else []) for p in CONFIGS]


def test_the_promised_configs_exist() -> None:
    names = {p.stem for p in CONFIGS}
    for loss in LOSSES:
        assert f"toy_ring_{loss}" in names and f"toy_grid_{loss}" in names, loss
    assert {"digits", "mnist5k", "digits_dcgan_ns_r1", "digits_dcgan_wgangp", "mnist5k_dcgan", "mnist5k_conditional",
            "mnist5k_patchgan"} <= names


@pytest.mark.parametrize("path", PARAMS)
def test_config_loads_builds_and_steps(path: Path) -> None:
    cfg = load_experiment(path).gan
    if cfg.data.root and "shared/data" in cfg.data.root and not Path(cfg.data.root).exists():
        pytest.skip(f"reference data {cfg.data.root} is not on this machine (only beside the project's checkout)")
    if cfg.data.name.startswith("oracle"):  # sampling the config's 2 x 10,000 sequences of a 5,000-word oracle
        assert cfg.data.n_samples >= cfg.train.batch_size  # costs a minute and checks nothing more here
        cfg.data.n_samples = max(256, cfg.train.batch_size)  # (test_config_matrix trains it through the CLI)
    ds = check_config(cfg)  # dataset + models built on CPU, as `ganarena train` does first
    assert len(ds) >= cfg.train.batch_size, "the global batch must fit in the dataset"
    assert cfg.eval.every % cfg.train.log_every == 0 or cfg.eval.every >= cfg.train.steps
    # one real training step on a small batch: forward/backward shapes of G, D, loss and penalty agree
    small = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, n_critic=1))
    trainer = build_trainer(small, spec_of(ds))
    batch = ds.get_batch(torch.arange(8))
    metrics = trainer.train_step([batch])
    assert all(math.isfinite(float(v)) for v in metrics.values()), metrics
    fake = trainer.sample(4)
    assert tuple(fake.shape) == (4, *ds.shape)


def test_toy_configs_pair_each_loss_with_a_penalty() -> None:
    """The per-loss toy configs are what they say: the loss in the file name, a penalty that is on."""
    for path in CONFIGS:
        if not path.stem.startswith(("toy_ring_", "toy_grid_")):
            continue
        cfg = load_experiment(path).gan
        assert cfg.loss.name == path.stem.split("_")[-1]
        assert cfg.penalty.name in PENALTIES and cfg.penalty.name != "none" and cfg.penalty.weight > 0
        assert cfg.data.name == ("ring8" if "ring" in path.stem else "grid25")
        if "grid" in path.stem:
            assert cfg.data.setting == "pacgan"
    cond = load_experiment(CONFIGS[0].parent / "mnist5k_conditional.yaml").gan
    G = build_trainer(cond, spec_of(check_config(cond))).G
    assert any(type(m).__name__ == "ConditionalBatchNorm2d" for m in G.modules())


TOY = [p for p in CONFIGS if p.stem.startswith("toy_")]
QUALITY = Path(__file__).resolve().parent.parent / "bench" / "results" / "configs_quality.json"


@pytest.mark.parametrize("path", TOY, ids=[p.stem for p in TOY])
def test_toy_config_states_what_it_was_measured_to_deliver(path: Path) -> None:
    """Each toy config's opening comment is its bench result at its current content, 3 seeds or more.

    Editing a config's settings without re-running `python -m bench.configs_quality` fails here.
    """
    import json

    rows = [r for r in json.loads(QUALITY.read_text())["rows"]
            if r["config"] == f"configs/{path.name}" and r["sha"] == digest(path)]
    assert len({r["seed"] for r in rows}) >= 3, f"{path.name}: measure it with bench/configs_quality.py"
    stated = [ln for ln in path.read_text().splitlines() if ln.startswith(MEASURED)]
    assert stated == [measured_line(rows)], stated
    modes, hq = TARGETS[rows[0]["data"]]
    missed = [(r["seed"], r["modes"], round(100 * r["hq_fraction"], 1)) for r in rows if not r["target_met"]]
    assert not missed, f"{path.name}: below {modes} modes / {100 * hq:.0f}% HQ for (seed, modes, %HQ) {missed}"
