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
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core.data import build_dataset
from gan_core.tasks import primary_metric
from pipeline.cli import main
from pipeline.experiment import load_experiment

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
STEPS = 4
TINY = {"train.steps": STEPS, "train.log_every": 2, "eval.every": STEPS, "train.ckpt_every": STEPS,
        "eval.samples": 100, "train.batch_size": 32}
# Two configs at a time: the shared local Ray has 2 CPUs and each run's one worker takes 1. Much of a
# short run is waiting (actor start-up, Train's polling, MLflow), so two overlap well on 2 cores.
AT_ONCE = 2
MATRIX_TIMEOUT_S = 1200


def _overrides(cfg) -> list[str]:
    sets = dict(TINY)
    if cfg.data.name in ("ring8", "grid25"):
        sets["data.n_samples"] = 2000  # sampled data: a small training set builds in a second
    if cfg.data.name in ("oracle", "oracle-npz"):
        sets["data.n_samples"] = 256  # a 5,000-word oracle samples ~300 sequences a second, in each process
    if cfg.train.mle_pretrain_steps:
        sets["train.mle_pretrain_steps"] = 2
    if cfg.eval.has_final():  # the final evaluation runs, in the run's own small network (Inception on the
        sets["eval.final_samples"] = 20  # 10,000 test images is ~40 CPU-min: test_inception/test_user_errors)
        sets["eval.final_features"] = "null"
    out: list[str] = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def _missing_data(cfg) -> str | None:
    from gan_core.data.idx import DEFAULT_ROOT

    root = cfg.data.root or DEFAULT_ROOT.get(cfg.data.name)  # fashionmnist: Debian's dataset-fashion-mnist
    if root and "://" not in root and not Path(root).exists():
        return root
    return None


class _PerThread(io.TextIOBase):
    """sys.stdout/err stand-in: each thread that registered a buffer writes there, any other to ``real``."""

    def __init__(self, real):
        self.real, self.local = real, threading.local()

    def write(self, text: str) -> int:
        return getattr(self.local, "buf", self.real).write(text)

    def flush(self) -> None:
        getattr(self.local, "buf", self.real).flush()


def _cli(*argv: str) -> tuple[int, str, str]:
    """``ganarena ARGV`` in this process; its stdout and stderr (this thread's only, if routed)."""
    out, err = io.StringIO(), io.StringIO()
    if isinstance(sys.stdout, _PerThread):
        sys.stdout.local.buf, sys.stderr.local.buf = out, err
        try:
            rc = main(list(argv))
        finally:
            del sys.stdout.local.buf, sys.stderr.local.buf
    else:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def _user_run(path: Path, workdir: Path) -> dict:
    """What a user does with a config: `ganarena train` it, then `sample` and `evaluate` the run."""
    result: dict = {"workdir": workdir}
    try:
        sets = _overrides(load_experiment(path).gan)
        result["train"] = _cli("train", str(path), "--workdir", str(workdir), "--name", path.stem, *sets)
        if result["train"][0] != 0:
            return result
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
        exps = [e.experiment_id for e in client.search_experiments()]
        (run,) = client.search_runs(exps, f"tags.`ganarena.name` = '{path.stem}'")
        result["run_id"] = run.info.run_id
        tiny = load_experiment(path, [s for s in sets if s != "--set"]).gan
        ds = build_dataset(tiny.data, seed=tiny.seed)
        kind = result["kind"] = ds.kind
        result["metric"] = primary_metric(ds)[0]
        result["sample_file"] = workdir / f"{path.stem}-samples.{'txt' if kind == 'text' else 'png'}"
        result["sample"] = _cli("sample", run.info.run_id, "--n", "16", "--out", str(result["sample_file"]),
                                "--workdir", str(workdir))
        result["evaluate"] = _cli("evaluate", run.info.run_id, "--n", "100", "--workdir", str(workdir))
    except Exception:  # noqa: BLE001 - reported by that config's test
        result["error"] = traceback.format_exc()
    return result


@pytest.fixture(scope="module")
def matrix_env(ray_local, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("GANARENA_STORAGE", raising=False)
        yield tmp_path_factory.mktemp("matrix")


@pytest.fixture(scope="module")
def matrix(matrix_env) -> dict[str, dict]:
    """Every config whose data is on this machine, run as a user would, AT_ONCE at a time, all in one
    workdir (one MLflow database, as with the default workdir; a fresh database costs ~2 s of migrations)."""
    runnable = [p for p in CONFIGS if _missing_data(load_experiment(p).gan) is None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", _PerThread(sys.stdout))
        mp.setattr(sys, "stderr", _PerThread(sys.stderr))
        with ThreadPoolExecutor(AT_ONCE) as pool:
            futures = {p.stem: pool.submit(_user_run, p, matrix_env / "work") for p in runnable}
            return {stem: f.result() for stem, f in futures.items()}


@pytest.mark.timeout(MATRIX_TIMEOUT_S)  # the first test waits for the whole matrix
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_trains_samples_and_evaluates(matrix, path: Path) -> None:
    cfg = load_experiment(path).gan
    missing = _missing_data(cfg)
    if missing:
        pytest.skip(f"{path.name}: its data {missing} is not on this machine")
    result = matrix[path.stem]
    assert "error" not in result, result["error"]
    workdir = result["workdir"]
    rc, out, err = result["train"]
    assert rc == 0, err[-3000:]
    assert f"{path.stem}: FINISHED" in out
    metric, kind = result["metric"], result["kind"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, metric)
    assert [m.step for m in history] == [STEPS] and math.isfinite(history[0].value), history
    if cfg.eval.has_final():
        assert [m.step for m in client.get_metric_history(run.info.run_id, f"final_{metric}")] == [STEPS]
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert {"checkpoints/best.pt", "checkpoints/latest.pt"} <= arts

    rc, out, err = result["sample"]
    assert rc == 0, err[-3000:]
    out_file = result["sample_file"]
    if kind == "text":
        lines = out_file.read_text().splitlines()
        assert len(lines) == 16 and all(line.strip() for line in lines)
    else:
        with Image.open(out_file) as im:
            # 8 tiles a row (8x8 digits enlarged to 32 px); a conditional grid has one class per row: 16 of 10
            # classes are 2 a row
            assert im.size[0] >= (2 if cfg.data.conditional else 8) * 28, im.size
            assert np.asarray(im).std() > 0

    rc, out, err = result["evaluate"]
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
    sets = {**TINY, "train.steps": 6, "eval.every": 3, "train.ckpt_every": 3, "data.n_samples": 1000,
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


@pytest.mark.timeout(300)
def test_tiny_study_sweep_over_named_models(matrix_env) -> None:
    """The study config through `ganarena sweep`: named models (sweep.models) reach the trials with their loss,
    penalty and clipping, each model's best is re-run, and the re-runs get their final evaluation."""
    config = REPO / "configs" / "study_fashion.yaml"
    missing = _missing_data(load_experiment(config).gan)
    if missing:
        pytest.skip(f"{config.name}: its data {missing} is not on this machine")
    workdir = matrix_env / "study-sweep"
    sets = {**TINY, "train.steps": 4, "sweep.search_steps": 2, "eval.every": 2, "train.ckpt_every": 2,
            "eval.final_samples": 20, "eval.final_features": "null", "sweep.grace_evals": 1}
    argv = ["sweep", str(config), "--workdir", str(workdir), "--name", "study-tiny", "--trials", "2", "--seeds", "1"]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    rc, out, err = _cli(*argv)
    assert rc == 0, err[-3000:]
    assert "the best configuration of each model" in out
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    kids = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
            if r.data.tags.get("ganarena.role") == "child"]
    by_phase = {p: sorted(r.data.tags["ganarena.config_label"].split()[0].split("(")[0] for r in kids
                          if r.data.tags["ganarena.phase"] == p) for p in ("search", "seed")}
    assert by_phase == {"search": ["mm", "ns"], "seed": ["mm", "ns"]}, by_phase  # the first two models
    for r in kids:
        assert (r.data.params["loss.name"], r.data.params["loss.weight_clip"]) in {("minimax", "None"), ("ns", "None")}
        seed = r.data.tags["ganarena.phase"] == "seed"
        if seed:
            assert "final_fd" in r.data.metrics
        # sweep.search_steps: the search trains 2 steps, the seed re-runs the full 4
        assert max(m.step for m in client.get_metric_history(r.info.run_id, "fd")) == (4 if seed else 2)
        assert r.data.params["train.steps"] == ("4" if seed else "2")
        assert r.data.tags["ganarena.status"] == "completed"
    assert "## Final evaluation" in (workdir / "reports" / "study-tiny" / "report.md").read_text()
