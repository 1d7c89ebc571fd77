"""Tune's PBT and PB2, less one thing: no perturbation at a member's last report (see pipeline.pbt).

At its last evaluation a member is done: cloning a checkpoint into it then would leave it nothing to train,
and a member that ends before the others would hand the rest a checkpoint from their future (steps they
never logged). Module-level classes, so Tune can pickle them in its experiment state.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2


class _KeepsLastReport:
    last: int  # the training_iteration of a member's last report (its evaluations)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if result.get("training_iteration", 0) >= self.last:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]


class PBT(_KeepsLastReport, PopulationBasedTraining):
    def __init__(self, last: int, **kw: Any):
        super().__init__(**kw)
        self.last = last


class PB2Scheduler(_KeepsLastReport, PB2):
    def __init__(self, last: int, **kw: Any):
        super().__init__(**kw)
        self.last = last
