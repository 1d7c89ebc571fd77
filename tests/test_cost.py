"""What a run costs (pipeline.cost): CPU-seconds as the process measures them, carried across a resume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gan_core.config import load_config, to_dict
from pipeline.cost import KEYS, Cost
from pipeline.runner import Job, run
from pipeline.sessions import LocalSession

TOY = Path(__file__).resolve().parents[1] / "configs" / "toy_ring.yaml"


def _job(steps: int) -> Job:
    gan = to_dict(load_config(TOY))
    gan["train"].update(steps=steps, log_every=50, ckpt_every=100)
    gan["eval"].update(every=100, samples=300)
    return Job(gan=gan, name="cost", quiet=True)


def test_cost_sums_the_workers_and_carries_a_checkpoint() -> None:
    cost = Cost()
    cost.resume({"cost_cpu_s": 10.0, "cost_wall_s": 20.0, "cost_gpu_s": 40.0}, gpus=2)
    t = time.process_time()
    while time.process_time() - t < 0.05:  # burn a little CPU
        pass
    spent = cost.now(lambda mine: 3 * mine, samples_seen=640)  # three workers, each as busy as this one
    assert set(spent) == set(KEYS) and spent["samples_seen"] == 640
    assert spent["cost_cpu_s"] - 10.0 >= 3 * 0.05 * 0.99
    assert cost.others == pytest.approx(2 * (spent["cost_cpu_s"] - 10.0) / 3, rel=1e-2)
    assert spent["cost_gpu_s"] == pytest.approx(40.0 + 2 * (spent["cost_wall_s"] - 20.0))
    later = cost.local(samples_seen=640)  # no collective: the others' CPU as of the last now()
    assert later["cost_cpu_s"] >= spent["cost_cpu_s"] and later["cost_wall_s"] >= spent["cost_wall_s"]


@pytest.mark.timeout(120)
def test_recorded_cpu_is_what_the_process_measured_and_survives_a_resume(tmp_path) -> None:
    cpu0 = time.process_time()
    first = run(_job(200), LocalSession(tmp_path))
    measured = time.process_time() - cpu0
    assert first["cost_cpu_s"] == pytest.approx(measured, rel=0.10)
    assert first["samples_seen"] == 200 * 256  # toy_ring: batch 256, one D step per G step
    assert first["cost_gpu_s"] == 0.0

    cpu1 = time.process_time()
    second = run(_job(400), LocalSession(tmp_path))  # resumes at step 200 from the checkpoint
    measured2 = time.process_time() - cpu1
    assert second["samples_seen"] == 400 * 256
    assert second["cost_cpu_s"] - first["cost_cpu_s"] == pytest.approx(measured2, rel=0.10)
    assert second["cost_wall_s"] > first["cost_wall_s"]
