"""Every shipped config, end to end as a user runs it: `ganarena train` (real local Ray Train, MLflow), then
`ganarena sample` and `ganarena evaluate` on that run; plus one tiny `ganarena sweep` over a text config.

Each config keeps its own data, models, loss and penalty; only the budget shrinks (a few steps, one
evaluation and one checkpoint, small batches and evaluation sizes), so the whole matrix takes a few
minutes on 2 cores. A config whose data is not on this machine (the reference files beside the
checkout) is skipped with the file it needs; the self-contained ones (toy, digits, mnist5k, the
generated text oracle) always run. This is the test whose absence let `ganarena train` of every text
config die at start-up while the rest of the suite stayed green.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core.data import build_dataset
from gan_core.metrics import primary_metric
from pipeline.cli import main
from pipeline.experiment import load_experiment

# ~35 s a config on 2 cores (24 configs: ~14 min), over the default run's budget: `pytest -m matrix` runs it
# until one Ray Train start-up can serve several configs.
pytestmark = [pytest.mark.slow, pytest.mark.matrix]

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
STEPS = 4
TINY = {"train.steps": STEPS, "train.log_every": 2, "train.eval_every": STEPS, "train.ckpt_every": STEPS,
        "train.eval_samples": 100, "train.batch_size": 32}


def _overrides(cfg) -> list[str]:
    sets = dict(TINY)
    if cfg.data.name in ("ring8", "grid25", "oracle", "oracle-npz"):
        sets["data.n_samples"] = 2000  # sampled data: a small training set builds in a second
    if cfg.train.mle_pretrain_steps:
        sets["train.mle_pretrain_steps"] = 2
    out: list[str] = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def _missing_data(cfg) -> str | None:
    root = cfg.data.root
    if root and "://" not in root and not Path(root).exists():
        return root
    return None


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def matrix_env(ray_local, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("GANARENA_STORAGE", raising=False)
        yield tmp_path_factory.mktemp("matrix")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_samples_and_evaluates(matrix_env, path: Path) -> None:
    cfg = load_experiment(path).gan
    missing = _missing_data(cfg)
    if missing:
        pytest.skip(f"{path.name}: its data {missing} is not on this machine")
    workdir = matrix_env / path.stem
    sets = _overrides(cfg)
    tiny = load_experiment(path, [s for s in sets if s != "--set"]).gan
    ds = build_dataset(tiny.data, seed=tiny.seed)
    metric, _ = primary_metric(ds)
    rc, out, err = _cli("train", str(path), "--workdir", str(workdir), "--name", path.stem, *sets)
    assert rc == 0, err[-3000:]
    assert f"{path.stem}: FINISHED" in out

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exps = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(exps, f"tags.`ganarena.name` = '{path.stem}'")
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, metric)
    assert [m.step for m in history] == [STEPS] and math.isfinite(history[0].value), history
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert {"checkpoints/best.pt", "checkpoints/latest.pt"} <= arts

    kind = ds.kind
    out_file = matrix_env / f"{path.stem}.{'txt' if kind == 'text' else 'png'}"
    rc, out, err = _cli("sample", run.info.run_id, "--n", "16", "--out", str(out_file), "--workdir", str(workdir))
    assert rc == 0, err[-3000:]
    if kind == "text":
        lines = out_file.read_text().splitlines()
        assert len(lines) == 16 and all(line.strip() for line in lines)
    else:
        with Image.open(out_file) as im:
            assert im.size[0] >= 8 * 28, im.size  # 8 tiles a row, 8x8 digits enlarged to 32 px
            assert np.asarray(im).std() > 0

    rc, out, err = _cli("evaluate", run.info.run_id, "--n", "100", "--workdir", str(workdir))
    assert rc == 0, err[-3000:]
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(metric + " "))
    assert math.isfinite(float(line.split()[-1]))
    if kind == "text":
        assert "nll_test" in out  # the generator itself is scored, as in training
    assert "protocol:" in out


@pytest.mark.timeout(300)
def test_tiny_text_sweep(matrix_env) -> None:
    """A text config through `ganarena sweep`: both phases, a ranking on NLL_oracle, a progress line per trial."""
    config = REPO / "configs" / "text_oracle_small.yaml"
    workdir = matrix_env / "text-sweep"
    sets = {**TINY, "train.steps": 6, "train.eval_every": 3, "train.ckpt_every": 3, "data.n_samples": 1000,
            "train.mle_pretrain_steps": 2, "sweep.losses": "[ns,hinge]", "sweep.penalties": "[none]",
            "sweep.grace_evals": 1}
    argv = ["sweep", str(config), "--workdir", str(workdir), "--name", "text-tiny", "--trials", "2", "--seeds", "1"]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    rc, out, err = _cli(*argv)
    assert rc == 0, err[-3000:]
    assert "phase 1/3: search" in out and "phase 2/3: seed re-runs" in out and "phase 3/3: report" in out
    trial_lines = [ln for ln in out.splitlines() if "] trial " in ln]
    assert len(trial_lines) == 4, out  # 2 search trials + 2 seed re-runs (best of each loss)
    assert all("nll_oracle=" in ln and "left" in ln and "ETA" in ln for ln in trial_lines)
    assert "nll_oracle (lower is better)" in out
    assert "Configuration for experiment" not in out + err and "ExperimentalWarning" not in out + err
    assert (workdir / "reports" / "text-tiny" / "report.md").is_file()
