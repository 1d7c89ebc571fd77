"""Interrupts: Ctrl-C during `ganarena train` ends the MLflow run KILLED (never RUNNING), exit 130 and the one
line "interrupted", with its checkpoints kept so that a rerun of the name resumes it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
TOY = str(REPO / "configs" / "toy_ring.yaml")


@pytest.fixture(scope="module", autouse=True)
def _no_ambient_tracking_uri(no_ambient_tracking_uri):
    """MLflow must be found through --workdir only (see conftest)."""


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err.strip().splitlines()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_ends_the_run_killed_not_running(ray_local, tmp_path, capsys, monkeypatch) -> None:
    """Ctrl-C while Ray Train runs: exit 130, one line, and the MLflow run ends KILLED (a rerun resumes it)."""
    from mlflow.tracking import MlflowClient
    from ray.train.torch import TorchTrainer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(TorchTrainer, "fit", interrupted)
    workdir = tmp_path / "w"
    rc, err = _run(["train", TOY, "--name", "ctrl-c", "--workdir", str(workdir)], capsys)
    assert rc == 130 and err == ["interrupted"], (rc, err)
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["KILLED"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_real_ctrl_c_ends_the_run_killed_with_its_checkpoint(tmp_path) -> None:
    """SIGINT to the whole process group of a training `ganarena train` (what Ctrl-C in a terminal does):
    exit 130 with the one line "interrupted", the MLflow run KILLED (not RUNNING), its checkpoints kept for a
    rerun of the name to resume (test_ctrl_c_ends_the_run_killed_not_running covers the rerun's lookup),
    and nothing left running. Its own Ray instance, in a real process."""
    import os
    import signal
    import sqlite3

    workdir = tmp_path / "w"
    argv = [sys.executable, "-m", "pipeline.cli", "train", TOY, "--workdir", str(workdir), "--name", "ctrl-c",
            "--set", "train.steps=1000000", "--set", "train.ckpt_every=20", "--set", "eval.every=20",
            "--set", "eval.samples=200", "--set", "train.log_every=20"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={k: v for k, v in os.environ.items()
                                                         if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")})
    try:
        db = workdir / "mlflow.db"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:  # until a checkpoint's metrics are logged
            if db.is_file():
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    logged = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
                except sqlite3.Error:
                    logged = 0
                finally:
                    con.close()
                if logged:
                    break
            time.sleep(1)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        gone = time.monotonic() + 30  # Ray's own processes (same process group) stop with it
        while time.monotonic() < gone:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("processes of the interrupted run are still running 30 s after it exited")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert err.strip().splitlines()[-1] == "interrupted", err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    con = sqlite3.connect(f"file:{workdir / 'mlflow.db'}?mode=ro", uri=True)
    try:
        assert con.execute("SELECT status FROM runs").fetchall() == [("KILLED",)]
    finally:
        con.close()
    assert list((workdir / "ray").rglob("checkpoint_*")), "no checkpoint to resume from"
