"""An experiment file = a gan_core GanConfig plus an optional ``sweep:`` section, validated once.

The sweep section says what Ray Tune + Optuna may vary; everything else is the gan_core config the
trials start from (any field of it can be pinned by leaving it out of the search space).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_core.augment import OPS
from gan_core.config import GanConfig, apply_overrides, from_dict, read_yaml
from gan_core.errors import GanConfigError
from gan_core.losses import LOSSES
from gan_core.penalties import PENALTIES

# sweep.objectives' second entry -> the metric each run logs (pipeline.cost)
COSTS = {"cost": "cost_cpu_s", "cost_cpu_s": "cost_cpu_s", "cost_wall_s": "cost_wall_s",
         "cost_gpu_s": "cost_gpu_s", "samples_seen": "samples_seen"}


@dataclass
class ModelSpec:
    """A "model" in Lucic et al.'s sense: a loss with the penalty (or weight clipping) it is known for, e.g.
    ``{name: wgan-gp, loss: wgan, penalty: wgan-gp}`` or ``{name: wgan, loss: wgan, weight_clip: 0.01}``."""

    name: str
    loss: str
    penalty: str = "none"
    weight_clip: float | None = None


@dataclass
class SweepConfig:
    """Search space and budget of ``ganarena sweep`` (Lucic et al. / Kurach et al. ranges by default)."""

    losses: list[str] = field(default_factory=lambda: list(LOSSES))
    penalties: list[str] = field(default_factory=lambda: list(PENALTIES))
    # Instead of losses x penalties: named models searched as one choice, each re-run with seeds
    models: list[ModelSpec] | None = None
    penalty_weight: tuple[float, float] = (0.1, 100.0)  # log-uniform; exists only when a penalty is chosen
    lr: tuple[float, float] | None = None  # log-uniform range for lr_g and lr_d; null pins the config's
    beta1: list[float] | None = None  # choices for Adam beta1 of both players; null pins the config's
    n_critic: list[int] | None = None  # choices; null pins the config's
    augment: list[str] | None = None  # policy choices, e.g. [none, "translation,cutout"]; null pins the config's
    ada_target: tuple[float, float] | None = None  # uniform range of augment.target, sampled when a policy is on
    lecam_weight: tuple[float, float] | None = None  # log-uniform range of lecam.weight; null pins the config's
    trials: int = 12  # search trials
    seeds: int = 3  # re-runs of each loss's (and penalty's) best configuration (0: search only)
    search_steps: int | None = None  # search trials train this many steps (seed re-runs: train.steps); null: same
    workers_per_trial: int = 1  # >1 runs each trial as its own Ray Train TorchTrainer
    # per worker (pipeline.sweep_resources); null: 1 for one-worker trials, else the cluster's CPUs shared out
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0  # a fraction (< 1) shares a GPU; more than 1 must be whole
    max_concurrent: int | None = None  # default: as many trials as the cluster's nodes hold
    grace_evals: int = 2  # ASHA: evaluations before a trial may be stopped
    reduction_factor: int = 2
    # [<primary metric>, <cost>]: Optuna searches both (multi-objective TPE); ASHA stays on the primary
    objectives: list[str] | None = None
    # asha: Optuna TPE proposes, ASHA stops the weak. pbt / pb2: a population of `trials` trains side by side;
    # every `perturb_every` evaluations the worst `quantile` clone the best (checkpoint and all) and perturb
    # lr_g, lr_d, the penalty weight, n_critic, the augmentation target and the LeCam weight (pipeline.pbt)
    scheduler: str = "asha"
    perturb_every: int = 2
    quantile: float = 0.25

    SCHEDULERS = ("asha", "pbt", "pb2")

    def validate(self) -> None:
        if self.models is not None:
            self._validate_models()
        if self.objectives is not None:
            self._validate_objectives()
        for name in self.losses:
            if name not in LOSSES:
                raise GanConfigError("sweep.losses", f"unknown loss {name!r}", LOSSES)
        for name in self.penalties:
            if name not in PENALTIES:
                raise GanConfigError("sweep.penalties", f"unknown penalty {name!r}", PENALTIES)
        if not self.losses or not self.penalties:
            raise GanConfigError("sweep.losses/penalties", "must not be empty")
        lo, hi = self.penalty_weight
        if not 0 < lo <= hi:
            raise GanConfigError("sweep.penalty_weight", f"need 0 < low <= high, got [{lo}, {hi}]")
        if self.lr is not None and not 0 < self.lr[0] <= self.lr[1] < 1:
            raise GanConfigError("sweep.lr", f"need 0 < low <= high < 1, got {list(self.lr)}")
        if self.n_critic is not None and (not self.n_critic or min(self.n_critic) < 1):
            raise GanConfigError("sweep.n_critic", "choices must be integers >= 1")
        if self.beta1 is not None and (not self.beta1 or not all(0 <= b < 1 for b in self.beta1)):
            raise GanConfigError("sweep.beta1", "choices must be in [0, 1)")
        for choice in self.augment or []:
            ops = [] if choice == "none" else choice.split(",")
            bad = [op for op in ops if op not in OPS] or ([choice] if len(set(ops)) != len(ops) else [])
            if bad:
                raise GanConfigError("sweep.augment", f"choice {choice!r}: ops must be distinct, comma-separated",
                                     ["none", *OPS])
        if self.augment is not None and not self.augment:
            raise GanConfigError("sweep.augment", "must list at least one choice or be null", ["none", *OPS])
        if self.ada_target is not None and not -1 < self.ada_target[0] <= self.ada_target[1] < 1:
            raise GanConfigError("sweep.ada_target", f"need -1 < low <= high < 1, got {list(self.ada_target)}")
        if self.lecam_weight is not None and not 0 < self.lecam_weight[0] <= self.lecam_weight[1]:
            raise GanConfigError("sweep.lecam_weight", f"need 0 < low <= high, got {list(self.lecam_weight)}")
        for name in ("trials", "workers_per_trial", "grace_evals", "reduction_factor"):
            if getattr(self, name) < 1:
                raise GanConfigError(f"sweep.{name}", f"must be >= 1, got {getattr(self, name)}")
        if self.seeds < 0:
            raise GanConfigError("sweep.seeds", f"must be >= 0 (0: search only), got {self.seeds}")
        if self.search_steps is not None and self.search_steps < 1:
            raise GanConfigError("sweep.search_steps", f"must be >= 1 or null, got {self.search_steps}")
        if self.cpus_per_worker is not None and not (math.isfinite(self.cpus_per_worker) and self.cpus_per_worker > 0):
            raise GanConfigError("sweep.cpus_per_worker", f"must be a finite number > 0 or null, got {self.cpus_per_worker}")
        g = self.gpus_per_worker
        if not (math.isfinite(g) and g >= 0) or (g > 1 and g != int(g)):
            raise GanConfigError("sweep.gpus_per_worker", f"must be 0, a fraction below 1 or a whole number, got {g}",
                                 ["0", "0.5", "1", "2"])
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise GanConfigError("sweep.max_concurrent", "must be >= 1 or null")
        if self.scheduler != "asha":
            self._validate_population()

    def _validate_population(self) -> None:
        """pbt / pb2: what a population-based search needs (pipeline.pbt says why for each)."""
        if self.scheduler not in self.SCHEDULERS:
            raise GanConfigError("sweep.scheduler", f"unknown scheduler {self.scheduler!r}", self.SCHEDULERS)
        if self.trials < 2:
            raise GanConfigError("sweep.trials", f"{self.scheduler} needs a population of >= 2 trials, got {self.trials}")
        if self.perturb_every < 1:
            raise GanConfigError("sweep.perturb_every", f"must be >= 1 evaluation, got {self.perturb_every}")
        if not 0 < self.quantile <= 0.5:
            raise GanConfigError("sweep.quantile", f"need 0 < quantile <= 0.5, got {self.quantile}")
        if self.objectives is not None:
            raise GanConfigError("sweep.objectives", f"{self.scheduler} ranks its population on one metric",
                                 ["null (scheduler pbt/pb2)", "scheduler: asha (multi-objective TPE)"])
        ints = self.n_critic is not None and self.scheduler == "pbt"  # PB2's model is over continuous values
        if self.lr is None and self.lecam_weight is None and self.ada_target is None and not ints \
                and all(p == "none" for p in self.penalties_used()):
            raise GanConfigError("sweep.lr", f"{self.scheduler} has nothing to perturb: set a range "
                                 "(sweep.lr, penalty_weight with a penalty, ada_target, lecam_weight) or, for pbt, "
                                 "n_critic choices",
                                 ["[1.0e-4, 1.0e-3]"])

    def penalties_used(self) -> list[str]:
        return [m.penalty for m in self.models] if self.models else list(self.penalties)


    def _validate_models(self) -> None:
        if not self.models:
            raise GanConfigError("sweep.models", "must list at least one model or be null")
        if self.losses != list(LOSSES) or self.penalties != list(PENALTIES):
            raise GanConfigError("sweep.models", "set sweep.models or sweep.losses/penalties, not both")
        seen = set()
        for i, m in enumerate(self.models):
            where = f"sweep.models[{i}]"
            if not m.name or not all(c.isalnum() or c in "-_." for c in m.name) or len(m.name) > 40:
                raise GanConfigError(f"{where}.name", f"got {m.name!r}: 1-40 letters, digits, '-', '_' or '.'")
            if m.name in seen:
                raise GanConfigError(f"{where}.name", f"{m.name!r} is listed twice")
            seen.add(m.name)
            if m.loss not in LOSSES:
                raise GanConfigError(f"{where}.loss", f"unknown loss {m.loss!r}", LOSSES)
            if m.penalty not in PENALTIES:
                raise GanConfigError(f"{where}.penalty", f"unknown penalty {m.penalty!r}", PENALTIES)
            if m.weight_clip is not None and not m.weight_clip > 0:
                raise GanConfigError(f"{where}.weight_clip", f"must be > 0 or null, got {m.weight_clip}")

    def _validate_objectives(self) -> None:
        objs = self.objectives or []
        costs = [o for o in objs if o in COSTS]
        if len(objs) != 2 or len(costs) != 1 or objs[0] in COSTS:
            raise GanConfigError("sweep.objectives", f"got {objs}: the primary metric, then one cost",
                                 [f"[fd, {c}]" for c in COSTS])

    def cost_objective(self) -> str | None:
        """The cost metric searched beside the primary one (``cost`` means CPU-seconds), or None."""
        return None if self.objectives is None else COSTS[self.objectives[1]]

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models or [] if m.name == name)


@dataclass
class Experiment:
    """The validated contents of an experiment file."""

    gan: GanConfig
    sweep: SweepConfig
    source: str


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Read, override (``--set a.b=v``; ``sweep.*`` keys too) and validate an experiment file."""
    data: dict[str, Any] = read_yaml(path)
    apply_overrides(data, overrides or [])
    sweep_data = data.pop("sweep", None)
    gan = from_dict(GanConfig, data)
    gan.validate()
    if gan.data.root and "://" not in gan.data.root:  # trials and workers run in other directories
        gan.data.root = str(Path(gan.data.root).expanduser().resolve())
    if gan.eval.feature_weights and "://" not in gan.eval.feature_weights:
        gan.eval.feature_weights = str(Path(gan.eval.feature_weights).expanduser().resolve())
    sweep = from_dict(SweepConfig, sweep_data, "sweep")
    sweep.validate()
    return Experiment(gan, sweep, str(path))
