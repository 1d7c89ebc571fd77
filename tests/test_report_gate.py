"""A gated session (a multi-worker sweep trial's rank 0, pipeline.sessions.RayTrainSession with a gate) waits
after each report until Tune took it. Tune may pause or stop the trial during that wait (its processes are
killed), so everything up to the reported step must already be in MLflow when the wait begins."""

from pathlib import Path

import pytest

from gan_core.config import load_config, to_dict
from pipeline.runner import Job, run
from pipeline.sessions import LocalSession
from pipeline.tracking import prepare_experiment

TOY = Path(__file__).resolve().parents[1] / "configs" / "toy_ring.yaml"


class GatedSession(LocalSession):
    """As a Train worker: flushes MLflow after report; records what MLflow holds at each wait."""

    flush_before_report = False

    def __init__(self, client, run_id: str) -> None:
        super().__init__(None)
        self.client, self.run_id, self.seen = client, run_id, []

    def wait_until_taken(self) -> None:
        reported = int(self.reports[-1]["step"])
        logged = [m.step for m in self.client.get_metric_history(self.run_id, "d_loss")]
        self.seen.append((reported, logged))


@pytest.mark.timeout(120)
def test_each_report_is_in_mlflow_before_the_wait(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = prepare_experiment(uri, "gate", tmp_path)
    client = MlflowClient(uri)
    run_id = client.create_run(exp_id).info.run_id
    gan = to_dict(load_config(TOY))
    gan["data"]["n_samples"] = 2000
    gan["train"].update(steps=60, log_every=10, ckpt_every=20)
    gan["eval"].update(every=20, samples=200)
    session = GatedSession(client, run_id)
    run(Job(gan=gan, name="gate", tracking_uri=uri, run_id=run_id, log_model=False, quiet=True), session)
    assert [r for r, _ in session.seen] == [20, 40, 60]  # one wait per report, after it
    for reported, logged in session.seen:
        assert logged == list(range(10, reported + 1, 10)), (reported, logged)
