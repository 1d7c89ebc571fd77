"""Tune's PBT and PB2, less two faults: a perturbation at a member's last report, and a resumed sweep that waits
forever (see pipeline.pbt).

At its last evaluation a member is done: cloning a checkpoint into it then would leave it nothing to train,
and a member that ends before the others would hand the rest a checkpoint from their future (steps they
never logged).

``sweep --resume``: Tune restores the population but builds the scheduler as it was constructed (tuner.pkl
holds it unfitted), so every member's state says time 0 and the synchronous boundary is the first one. Once
the members report at their true times, none is behind the boundary, so none is chosen to run and nothing
ever reports again. Here a member added with a result takes its time and score from it, and when no member
runs and none is behind the boundary, the boundary moves to the one they were heading for: the latest
member's time if some lag behind it (they catch up, then all perturb), else one interval past it.

Module-level classes, so Tune can pickle them in its experiment state.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2


class _PopulationFixes:
    last: int  # the training_iteration of a member's last report (its evaluations)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if result.get("training_iteration", 0) >= self.last:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)
        result = trial.last_result or {}
        if self._time_attr in result and self._metric in result:
            state = self._trial_state[trial]
            state.last_train_time = state.last_perturbation_time = result[self._time_attr]
            state.last_score = self._metric_op * result[self._metric]
            state.last_result = result

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        trial = super().choose_trial_to_run(tune_controller)
        if trial is not None or not self._synch:
            return trial
        live = [t for t in tune_controller.get_trials() if t.status in (Trial.PENDING, Trial.PAUSED, Trial.RUNNING)]
        times = [self._trial_state[t].last_train_time for t in live]
        if not live or any(t.status == Trial.RUNNING for t in live) or min(times) < self._next_perturbation_sync:
            return None
        self._next_perturbation_sync = max(times) if min(times) < max(times) else (
            max(times) + self._perturbation_interval)
        return super().choose_trial_to_run(tune_controller)


class PBT(_PopulationFixes, PopulationBasedTraining):
    def __init__(self, last: int, **kw: Any):
        super().__init__(**kw)
        self.last = last


class PB2Scheduler(_PopulationFixes, PB2):
    def __init__(self, last: int, **kw: Any):
        super().__init__(**kw)
        self.last = last
