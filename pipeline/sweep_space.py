"""The sweep's search space as an Optuna define-by-run function, and how sampled params apply to a config."""

from __future__ import annotations

import copy
from typing import Any

from gan_core.losses import LOSSES
from pipeline.experiment import SweepConfig


class Space:
    """Define-by-run space: the penalty weight is sampled only when a penalty is chosen.

    Returns a named model's loss, penalty and clipping as constants of the trial's config (the sweep's
    own constants reach trials through ``tune.with_parameters``, not in every trial's config). A class,
    not a closure, because Tune pickles the searcher to resume. ``augmenting``: whether the base config
    augments (when ``sweep.augment`` does not choose).
    """

    def __init__(self, sw: SweepConfig, augmenting: bool):
        self.sw, self.augmenting = sw, augmenting

    def __call__(self, trial: Any) -> dict[str, Any]:
        sw = self.sw
        constants: dict[str, Any] = {}
        if sw.models:  # one choice among named models; their loss and penalty come with them
            m = sw.model(trial.suggest_categorical("model", [m.name for m in sw.models]))
            constants = {"loss": m.loss, "penalty": m.penalty, "weight_clip": m.weight_clip}
            penalty = m.penalty
        else:
            trial.suggest_categorical("loss", sw.losses)
            penalty = trial.suggest_categorical("penalty", sw.penalties)
        if penalty != "none":
            trial.suggest_float("penalty_weight", sw.penalty_weight[0], sw.penalty_weight[1], log=True)
        if sw.lr is not None:
            trial.suggest_float("lr_g", sw.lr[0], sw.lr[1], log=True)
            trial.suggest_float("lr_d", sw.lr[0], sw.lr[1], log=True)
        if sw.beta1 is not None:
            trial.suggest_categorical("beta1", sw.beta1)
        if sw.n_critic is not None:
            trial.suggest_categorical("n_critic", sw.n_critic)
        if sw.augment is not None:
            augmenting = trial.suggest_categorical("augment", sw.augment) != "none"
        else:
            augmenting = self.augmenting
        if sw.ada_target is not None and augmenting:
            trial.suggest_float("ada_target", sw.ada_target[0], sw.ada_target[1])
        if sw.lecam_weight is not None:
            trial.suggest_float("lecam_weight", sw.lecam_weight[0], sw.lecam_weight[1], log=True)
        return constants


def apply_params(base: dict[str, Any], params: dict[str, Any], seed_index: int | None = None) -> dict[str, Any]:
    """A copy of the base config dict with the sampled params (and a seed re-run's seed) applied."""
    gan = copy.deepcopy(base)
    gan["loss"]["name"] = params["loss"]
    if not LOSSES[params["loss"]].logistic:  # label smoothing is refused for the other losses
        gan["loss"]["label_smoothing"] = 0.0
    if params["penalty"] != base["penalty"]["name"]:  # the base penalty's own parameters are not this one's
        gan["penalty"]["params"] = {}
    gan["penalty"]["name"] = params["penalty"]
    gan["penalty"]["weight"] = float(params.get("penalty_weight", 0.0)) if params["penalty"] != "none" else 0.0
    if "model" in params:  # a named model brings its weight clipping (or none)
        gan["loss"]["weight_clip"] = params.get("weight_clip")
    for key in ("lr_g", "lr_d"):
        if key in params:
            gan["optim"][key] = float(params[key])
    if "beta1" in params:
        for key in ("betas_g", "betas_d"):
            gan["optim"][key] = [float(params["beta1"]), gan["optim"][key][1]]
    if "n_critic" in params:
        gan["train"]["n_critic"] = int(params["n_critic"])
    if "augment" in params:
        gan["augment"]["policy"] = [] if params["augment"] == "none" else params["augment"].split(",")
        if not gan["augment"]["policy"]:  # p / target without a policy are refused by validation
            gan["augment"].update(p=1.0, target=None)
    if "ada_target" in params:
        gan["augment"]["target"] = float(params["ada_target"])
    if "lecam_weight" in params:
        gan["lecam"]["weight"] = float(params["lecam_weight"])
    if seed_index is not None:
        gan["seed"] = int(base["seed"]) + 1 + int(seed_index)
    return gan


def label_of(params: dict[str, Any]) -> str:
    """A readable name for a configuration, e.g. ``ns+r1(w=3.2)``, ``wgan+none lr=2e-4`` or (a named
    model) ``wgan-gp(w=10)``."""
    text = params["model"] if "model" in params else f"{params['loss']}+{params['penalty']}"
    if params["penalty"] != "none" and "penalty_weight" in params:
        text += f"(w={params['penalty_weight']:.2g})"
    extras = [f"{k}={params[k]:.2g}" for k in ("lr_g", "lr_d") if k in params]
    extras += [f"{k}={params[k]}" for k in ("beta1", "n_critic", "augment") if k in params]
    extras += [f"{k}={params[k]:.2g}" for k in ("ada_target", "lecam_weight") if k in params]
    return text + (" " + " ".join(extras) if extras else "")


def first_points(sw: SweepConfig) -> list[dict[str, Any]]:
    """One starting point per loss (penalties rotated) or per model, penalty weight at the range's geometric
    middle, so every loss (model) is tried even when the search budget is small."""
    mid = (sw.penalty_weight[0] * sw.penalty_weight[1]) ** 0.5
    if sw.models:
        return [{"model": m.name, **({"penalty_weight": mid} if m.penalty != "none" else {})}
                for m in sw.models][: sw.trials]
    points = []
    for i, loss in enumerate(sw.losses):
        penalty = sw.penalties[i % len(sw.penalties)]
        point: dict[str, Any] = {"loss": loss, "penalty": penalty}
        if penalty != "none":
            point["penalty_weight"] = mid
        points.append(point)
    return points[: sw.trials]
