"""Shared test settings: few threads (2-core CI), deterministic torch, one Ray instance per session."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def no_ambient_tracking_uri():
    """Hide a developer's MLFLOW_TRACKING_URI: the CLI must find MLflow through --workdir/--tracking-uri."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="session")
def ray_local():
    """ONE local Ray instance (2 CPUs) shared by every Ray test of the pytest session.

    ``ray.init`` costs ~5-15 s here; ``ganarena train``/``sweep`` called in-process find it
    initialised and join it. Shut down when the session ends. Yields the cluster's resources.
    Its workers run ``divergence_hook.install`` (shipped by value: workers cannot import tests/), so
    a sweep named ``...-nan<K>`` has search trial K diverge.
    """
    import divergence_hook
    import ray
    from ray import cloudpickle

    from pipeline.rayctl import init_ray

    cloudpickle.register_pickle_by_value(divergence_hook)
    resources = init_ray(num_cpus=2, runtime_env={"worker_process_setup_hook": divergence_hook.install})
    yield resources
    ray.shutdown()


# A tiny `ganarena sweep` (toy ring, 32-wide MLPs, 200 steps): 5 search trials over 2 losses x
# 2 penalties, trial 2 forced to NaN (its name, see divergence_hook.py), then 2 seeds of each loss's/penalty's best,
# each scored once more at the end with 1,000 samples (eval.final_samples). Shared by
# test_sweep.py and test_browser.py (the MLflow UI needs a finished sweep to show).
TINY_SWEEP = {"trials": 5, "seeds": 2, "steps": 200, "log_every": 50, "eval_every": 100, "nan_trial": 2,
              "losses": ["ns", "hinge"], "penalties": ["none", "r1"], "final_samples": 1000}


TINY_NAME = f"tiny-nan{TINY_SWEEP['nan_trial']}"


def tiny_sweep_args(config: str, workdir, name: str, trials: int = TINY_SWEEP["trials"]) -> list[str]:
    """argv (after the program name) of a tiny `ganarena sweep` writing to ``workdir``."""
    t = TINY_SWEEP
    sets = {"data.n_samples": 2000, "generator.width": 32, "generator.depth": 2, "discriminator.width": 32,
            "discriminator.depth": 2, "train.steps": t["steps"], "train.batch_size": 64,
            "train.log_every": t["log_every"], "eval.every": t["eval_every"], "eval.samples": 500,
            "sweep.losses": "[" + ",".join(t["losses"]) + "]", "sweep.penalties": "[" + ",".join(t["penalties"]) + "]",
            "sweep.grace_evals": 1, "eval.final_samples": TINY_SWEEP["final_samples"],
            "sweep.objectives": "[modes_hq,cost]"}  # multi-objective TPE: quality and CPU-seconds
    argv = ["sweep", config, "--workdir", str(workdir), "--name", name, "--trials", str(trials),
            "--seeds", str(t["seeds"])]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    return argv


@pytest.fixture(scope="session")
def tiny_sweep(ray_local, tmp_path_factory):
    """Run the tiny sweep once per session, in-process on the shared Ray; yields (workdir, name, rc, stdout)."""
    import contextlib
    import io
    import os
    from pathlib import Path

    from pipeline.cli import main

    workdir = tmp_path_factory.mktemp("sweep")
    config = str(Path(__file__).resolve().parents[1] / "configs" / "toy_ring.yaml")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # the URI must come from --workdir
        with contextlib.redirect_stdout(out):
            rc = main(tiny_sweep_args(config, workdir, TINY_NAME))
        assert "MLFLOW_TRACKING_URI" not in os.environ
    yield workdir, TINY_NAME, rc, out.getvalue()
