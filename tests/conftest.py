"""Shared test settings: few threads (2-core CI), deterministic torch, one Ray instance per session."""

import pytest
import torch

torch.set_num_threads(1)

# `make test` runs the suite in 2 pytest-xdist workers (``-n 2``): much of a serial run waits (Ray actors
# starting, Train's polling, subprocesses) or computes on one thread, so a second stream fills the idle
# core. A module is the unit of work (its module fixtures run once) and the modules sharing the session's
# tiny sweep run in one worker (it is trained once). xdist hands the units out in the order below:
# - the local cluster's module FIRST, beside the small single-process modules that follow it: its 8-trial
#   PostgreSQL sweep (142 s alone) ran past its 400 s limit in CI beside the config matrix;
# - then the small modules (< 30 s each, file order), then the long ones, longest first, so that neither
#   worker is left with a long one at the end.
# Measured on this 2-core machine, idle, whole suite: cluster beside the matrix 18:04 (CI failed); matrix
# and cluster in one worker 22:46; cluster last 24:40. Seconds: a serial idle run of 2026-12-07.
FIRST = ["test_cluster_local"]  # 289
LONGEST = ["test_config_matrix",  # 365
           "test_pbt",  # 195 (alone, with the multi-worker and resume tests of this stop)
           "test_pipeline_train",  # 124
           "test_sweep", "test_browser", "test_registry",  # 82, one unit (the tiny sweep)
           "test_learning",  # 80
           "test_user_errors",  # 44
           "test_fault_tolerance"]  # 37
SAME_WORKER = {"test_sweep": "tiny_sweep", "test_browser": "tiny_sweep", "test_registry": "tiny_sweep"}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")


def pytest_collection_modifyitems(config, items) -> None:
    """FIRST, the rest in file order, then LONGEST (a stable sort); xdist hands out units in this order."""
    rank = {m: -1 for m in FIRST} | {m: 1 + i for i, m in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), 0))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with a module (or SAME_WORKER's group) as the unit, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SAME_WORKER.get(_module(nodeid), _module(nodeid))

    config.option.loadscopereorder = False  # keep the order above, not "most tests first"
    return ModuleUnits(config, log)


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
