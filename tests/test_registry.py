"""The sweep's winner in the MLflow Model Registry (pipeline.registry), on the tiny sweep of conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def swept(tiny_sweep):
    workdir, name, rc, out = tiny_sweep
    assert rc == 0, out[-3000:]
    c = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = c.get_experiment_by_name(name)
    runs = c.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("ganarena.role") == "parent"]
    kids = [r for r in runs if r.data.tags.get("ganarena.role") == "child"]
    return workdir, name, out, parent, kids, c


@pytest.mark.timeout(240)
def test_the_winner_is_registered_as_champion_and_samples_offline(swept, tmp_path) -> None:
    from pipeline.names import name_key

    workdir, name, out, parent, kids, c = swept
    model = f"{name_key(name)}-generator"
    assert f"models:/{model}@champion" in out
    version = c.get_model_version_by_alias(model, "champion")
    tags = version.tags
    best_config = c.get_run(parent.info.run_id).data.tags["ganarena.best_config"]
    assert tags["config"] == best_config and tags["sweep"] == name
    source = next(r for r in kids if r.info.run_id == tags["source_run"])  # the winner's best seed run
    assert source.data.tags["ganarena.phase"] == "seed" and source.data.tags["ganarena.config_label"] == best_config
    same = [r for r in kids if r.data.tags["ganarena.config_label"] == best_config
            and r.data.tags["ganarena.phase"] == "seed" and r.data.tags["ganarena.status"] == "completed"]
    assert source.data.metrics["best_modes_hq"] == max(r.data.metrics["best_modes_hq"] for r in same)
    assert tags["protocol.metric"] == source.data.tags["protocol.metric"]
    # a fresh process, offline: the pyfunc returns samples for latent vectors, per its signature
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    code = ("import json, sys, numpy as np, mlflow\n"
            f"mlflow.set_tracking_uri({uri!r})\n"
            f"m = mlflow.pyfunc.load_model('models:/{model}@champion')\n"
            "z = np.random.default_rng(1).standard_normal((5, m.metadata.signature.inputs.inputs[0].shape[1]))\n"
            "out = m.predict({'z': z.astype(np.float32)})\n"
            "print(json.dumps({'shape': list(out.shape), 'finite': bool(np.isfinite(out).all()),"
            " 'inputs': m.metadata.signature.inputs.input_names()}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
    env.update(NO_PROXY="*", HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")  # no network
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got == {"shape": [5, 2], "finite": True, "inputs": ["z"]}
    # and ganarena sample reads the registered model
    from pipeline.cli import main

    grid = tmp_path / "grid.png"
    assert main(["sample", f"models:/{model}@champion", "--n", "64", "--out", str(grid), "--workdir", str(workdir)]) == 0
    assert grid.stat().st_size > 1000
    assert main(["sample", f"models:/{model}@nobody", "--out", str(tmp_path / "x.png"),
                 "--workdir", str(workdir)]) == 2
    assert not (tmp_path / "x.png").exists()
