"""Population-based search (``sweep.scheduler: pbt | pb2``): the population, what is perturbed, the lineage.

PBT (Jaderberg et al. 2017; Ray Tune's ``PopulationBasedTraining``, synchronous): the ``sweep.trials`` members
train side by side; every ``sweep.perturb_every`` evaluations, each member in the bottom ``sweep.quantile`` of
the population (by the primary metric) *exploits* one in the top quantile: it continues from that member's
latest checkpoint (models, optimiser moments, EMA, augmentation p, LeCam anchors, RNG and data position: the
bit-exact checkpoint a resume uses) with that member's configuration, and *explores*: each mutable value is
multiplied by 0.8 or 1.2, or with probability 0.25 resampled from its range (a choice such as n_critic moves to
a neighbouring one), then clamped into the sweep's range. PB2 (Parker-Holder et al. 2020) chooses the new
continuous values with a time-varying GP bandit instead of at random (scikit-learn's GP, as Ray implements it).

Mutable: lr_g, lr_d, penalty_weight, n_critic (pbt only), ada_target, lecam_weight -- those the sweep searches.
Loss, penalty and model travel with the weights they trained (a clone takes its donor's). Synchronous mode
clones at the step both members reached, so a run's metric history goes on with no step logged twice or
skipped; the clone is recorded on the recipient's MLflow run (``pipeline.runs.record_clone``).

The population starts with the models (or loss/penalty pairs) in turn, so each is present; the other values
are drawn from the sweep's ranges with the experiment's seed. Seed re-runs replay the best member's schedule:
the hyperparameters along its weights' lineage, switched at the steps they changed (``schedule_of``).
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

from gan_core.errors import GanConfigError
from pipeline import runs
from pipeline.experiment import Experiment, SweepConfig
from pipeline.sweep_space import label_of

PERTURBATION_FACTORS = (1.2, 0.8)
RESAMPLE_PROBABILITY = 0.25


def _ranges(sw: SweepConfig) -> dict[str, tuple[float, float, bool]]:
    """The continuous values a member carries: name -> (low, high, log scale)."""
    out: dict[str, tuple[float, float, bool]] = {}
    if sw.lr is not None:
        out["lr_g"] = out["lr_d"] = (sw.lr[0], sw.lr[1], True)
    if any(p != "none" for p in sw.penalties_used()):
        out["penalty_weight"] = (sw.penalty_weight[0], sw.penalty_weight[1], True)
    if sw.ada_target is not None:
        out["ada_target"] = (sw.ada_target[0], sw.ada_target[1], False)
    if sw.lecam_weight is not None:
        out["lecam_weight"] = (sw.lecam_weight[0], sw.lecam_weight[1], True)
    return out


def population(sw: SweepConfig, seed: int, augmenting: bool) -> list[dict[str, Any]]:
    """The starting members' parameters: models (or loss x penalty pairs) in turn, values drawn from the ranges.

    Every member carries every mutable key (a member without a penalty carries an unused penalty_weight: a
    clone of a penalised donor needs one); an ada_target only where augmentation is on (``augmenting``: the
    base config's policy, when the sweep does not choose one)."""
    rng = random.Random(seed)
    if sw.models:
        kinds = [{"model": m.name, "loss": m.loss, "penalty": m.penalty, "weight_clip": m.weight_clip}
                 for m in sw.models]
    else:
        kinds = [{"loss": loss, "penalty": pen} for loss, pen in itertools.product(sw.losses, sw.penalties)]
        rng.shuffle(kinds)
    members = []
    for i in range(sw.trials):
        p = dict(kinds[i % len(kinds)])
        for key, (lo, hi, log) in _ranges(sw).items():
            p[key] = math.exp(rng.uniform(math.log(lo), math.log(hi))) if log else rng.uniform(lo, hi)
        for key, choices in (("beta1", sw.beta1), ("n_critic", sw.n_critic), ("augment", sw.augment)):
            if choices is not None:
                p[key] = rng.choice(list(choices))
        if p.get("augment", "on" if augmenting else "none") == "none":
            p.pop("ada_target", None)
        members.append(p)
    return members


def mutable(sw: SweepConfig, members: list[dict[str, Any]]) -> list[str]:
    """The keys PBT/PB2 perturb: continuous ranges every member has, and (pbt) n_critic."""
    keys = [k for k in _ranges(sw) if all(k in m for m in members)]
    return keys + (["n_critic"] if sw.n_critic is not None and sw.scheduler == "pbt" else [])


class Clamp:
    """PBT's explore then this: every perturbed value back inside the sweep's range (a class: Tune pickles it)."""

    def __init__(self, sw: SweepConfig):
        self.ranges = _ranges(sw)

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        params = config["run"]["params"]
        for key, (lo, hi, _) in self.ranges.items():
            if key in params:
                params[key] = min(max(float(params[key]), lo), hi)
        return config


def evaluations(exp: Experiment) -> int:
    """How many times a member reports (evaluates); refuses a budget with no perturbation before the last."""
    sw = exp.sweep
    evals = math.ceil((sw.search_steps or exp.gan.train.steps) / exp.gan.eval.every)
    if evals <= sw.perturb_every:
        raise GanConfigError("sweep.perturb_every", f"{sw.scheduler} perturbs every {sw.perturb_every} evaluations "
                             f"but a member evaluates only {evals} times (eval.every {exp.gan.eval.every})",
                             [f"1..{max(1, evals - 1)}", "more steps or a smaller eval.every"])
    return evals


def scheduler(sw: SweepConfig, members: list[dict[str, Any]], metric: str, mode: str, seed: int, evals: int) -> Any:
    """Tune's PopulationBasedTraining (or PB2) over ``config["run"]["params"]``, synchronous, never perturbing a
    member's last (``evals``-th) report."""
    from ray import tune

    from pipeline.pbt_schedulers import PBT, PB2Scheduler

    keys = mutable(sw, members)
    ranges = _ranges(sw)
    common = {"last": evals, "time_attr": "training_iteration", "metric": metric, "mode": mode,
              "perturbation_interval": sw.perturb_every, "quantile_fraction": sw.quantile, "synch": True,
              "custom_explore_fn": Clamp(sw)}
    random.seed(seed)  # PBT's explore draws from the module-level random generator
    if sw.scheduler == "pb2":
        bounds = {k: [ranges[k][0], ranges[k][1]] for k in keys if k in ranges}
        return PB2Scheduler(hyperparam_bounds={"run": {"params": bounds}}, **common)

    def domain(key: str) -> Any:
        if key == "n_critic":
            return sorted(sw.n_critic or [])
        lo, hi, log = ranges[key]
        return tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)

    return PBT(hyperparam_mutations={"run": {"params": {k: domain(k) for k in keys}}},
               resample_probability=RESAMPLE_PROBABILITY, perturbation_factors=PERTURBATION_FACTORS, **common)


def param_space(members: list[dict[str, Any]]) -> dict[str, Any]:
    """Tune's param space: one trial per member (``run.params``)."""
    from ray import tune

    return {"run": {"params": tune.grid_search(members)}}


# ---------------------------------------------------------------------------- lineage
def schedule_of(client: Any, run: Any, until: float = math.inf) -> list[list[Any]]:
    """The hyperparameters that trained ``run``'s weights up to step ``until``: [[step, params], ...], the
    first at step 0, each in effect after its step. A clone at step S continues the donor's weights, so
    before S the schedule is the donor's own (recursively)."""
    events = [e for e in runs.clones(run) if e["step"] < until]
    if not events:
        return [[0, runs.start_params(run)]]
    last = events[-1]
    before = schedule_of(client, client.get_run(last["from_run"]), last["step"] + 1)
    return [*[[s, p] for s, p in before if s < last["step"]], [last["step"], last["params"]]]


def lineage_markdown(client: Any, rows: list[dict[str, Any]], metric: str, mode: str) -> list[str]:
    """The report's PBT section: every clone (who, when, what changed) and the final population."""
    search = [r for r in rows if r["phase"] == "search"]
    events = []
    for r in search:
        for e in runs.clones(client.get_run(r["run_id"])):
            events.append((e["step"], r["trial_id"], e))
    if not search:
        return []
    sign = -1.0 if mode == "max" else 1.0
    final = sorted(search, key=lambda r: sign * r.get(metric, math.nan) if math.isfinite(r.get(metric, math.nan))
                   else math.inf)
    lines = ["## Population-based training", "",
             (f"{len(search)} members, {len(events)} clones (the recipient continued from the donor's checkpoint "
              "with perturbed values)."), "",
             f"| final rank | trial | started as | at the end | {metric} | clones received |",
             "|---:|---|---|---|---:|---:|"]
    for i, r in enumerate(final, 1):
        n = sum(1 for _, trial, _ in events if trial == r["trial_id"])
        lines.append(f"| {i} | {r['trial_id']} | {r['name']} | {r['config']} | {r.get(metric, math.nan):.4g} | {n} |")
    if events:
        lines += ["", "| step | trial | cloned from trial | values after explore |", "|---:|---|---|---|"]
        for step, trial, e in sorted(events, key=lambda t: (t[0], t[1])):
            lines.append(f"| {step} | {trial} | {e['from_trial']} | {label_of(e['params'])} |")
    return [*lines, ""]
