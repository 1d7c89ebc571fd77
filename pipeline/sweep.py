"""``ganarena sweep``: Ray Tune + Optuna search over losses/penalties, then seed re-runs, then a report.

Phase 1 (search): OptunaSearch with a define-by-run space (the penalty weight exists only when a
penalty is chosen; TPE multivariate+group for the branches) and ASHA stopping on the quality
metric. Phase 2 (fair comparison): the best configuration of each loss and of each penalty is
re-run with S seeds at the full budget. Every trial is an MLflow child run of one parent run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_core.config import to_dict
from gan_core.errors import GanConfigError
from gan_core.tasks import primary_metric
from pipeline import runs
from pipeline import sweep_phase as phase
from pipeline.experiment import Experiment
from pipeline.names import name_key
from pipeline.progress import SweepProgress
from pipeline.sweep_space import Space, apply_params, first_points, label_of
from pipeline.tracking import RunLogger, database_missing, prepare_experiment, resolve_tracking_uri


@dataclass
class SweepContext:
    """What every trial of a sweep shares (plain data: Tune ships it to each trial in its config)."""

    base: dict[str, Any]  # the gan config every trial's parameters are applied to
    uri: str  # MLflow tracking URI
    exp_id: str  # MLflow experiment of the sweep
    parent: str  # the sweep's parent run id
    sweep: str  # the sweep's name
    metric: str  # primary metric and its direction ("min" / "max")
    mode: str
    workers: int  # Ray Train workers per trial (1: the trial trains in-process)
    cpus_per_worker: float
    gpus_per_worker: float
    threads: int  # torch threads per worker
    storage: str  # Ray storage path (multi-worker trials' own TorchTrainer runs)
    search_steps: int | None = None  # search trials' budget (sweep.search_steps); None: train.steps
    verbose: bool = False


# Tune saves its experiment state every 10 s or more by default (auto): a driver killed then leaves it not
# knowing the trials created since, and --resume runs new trials in their place (deleting their first
# runs). Saving every second bounds that to the trials of the last second. The state grows with the trials
# (bench/sweep_scale.py: ~18 KB a trial; 300 trials, 5.5 MB), and rewriting it every second would become
# the driver's main work in a sweep of thousands: the period grows with the sweep, 1 s per 100 trials.
STATE_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
USER_STATE_PERIOD = os.environ.get(STATE_PERIOD_ENV)  # the user's own setting wins


def state_save_period(trials: int) -> float:
    """Seconds between saves of Tune's experiment state for a sweep of ``trials`` search trials."""
    return max(1.0, trials / 100)


def _trial(config: dict[str, Any], ctx: SweepContext) -> None:
    """One Tune trial: a child MLflow run training one configuration (in-process or via TorchTrainer).

    ``config``: Optuna's sampled params, or ``run`` (a PBT member's params / a seed re-run); ``ctx`` comes
    once through ``tune.with_parameters`` (Ray's object store), so Tune's experiment state, which it saves
    often and which holds each trial's config several times, does not carry the base config per trial
    (bench/sweep_scale.py: ~35 KB a trial with it)."""
    from ray import tune

    from pipeline.runner import Job, run
    from pipeline.sessions import TuneSession

    if not ctx.verbose:
        import logging

        logging.getLogger("ray.train").setLevel(logging.WARNING)
    params = config.get("run", {}).get("params") or dict(config)
    seed_index = config.get("run", {}).get("seed_index")
    schedule = config.get("run", {}).get("schedule") or []  # a PBT member's hyperparameters, replayed
    gan = apply_params(ctx.base, schedule[0][1] if schedule else params, seed_index)
    if seed_index is None:  # the final evaluation (e.g. Inception FID) is for the seed re-runs only
        gan["eval"].update(final_samples=None, final_features=None)
        gan["train"]["steps"] = ctx.search_steps or gan["train"]["steps"]  # sweep.search_steps: a cheaper search
    label = label_of(params) + (f" seed {seed_index}" if seed_index is not None else "")
    if len(schedule) > 1:
        label += f" (PBT schedule, {len(schedule) - 1} changes)"
    trial_id = tune.get_context().get_trial_id()
    client = runs.client(ctx.uri)
    existing = runs.find_run(client, ctx.exp_id, runs.child_name(ctx.sweep, trial_id))
    if existing is not None:
        done = _recorded_result(client, existing, ctx.metric, ctx.mode, gan["train"]["steps"])
        if done is not None:  # finished before the driver died, but Tune's saved state lags: do not train again
            tune.report(done)
            return
        run_id = existing.info.run_id
        runs.reopen(client, run_id)
    else:
        run_id = runs.open_child(client, ctx.exp_id, ctx.parent, ctx.sweep, trial_id, params, label,
                                 label_of(params), seed_index)
    job = Job(gan=gan, name=label, tracking_uri=ctx.uri, run_id=run_id, log_model=seed_index is not None,
              threads=ctx.threads, quiet=True, quiet_ray=not ctx.verbose, params=params, label=label_of(params),
              schedule=[[int(step), apply_params(ctx.base, p, seed_index)] for step, p in schedule[1:]])
    if ctx.workers > 1:
        from pipeline.trial_trainer import run_trainer

        run_trainer(job, ctx)
    else:
        run(job, TuneSession())


def _recorded_result(client: Any, run: Any, metric: str, mode: str, steps: int) -> dict[str, float] | None:
    """The final result of a trial MLflow already holds as finished (closed with a status, or evaluated at
    the last step), as Tune's report; None when the trial still has training to do."""
    status = run.data.tags.get(runs.STATUS)
    history = client.get_metric_history(run.info.run_id, metric)
    last = max((m.step for m in history), default=0)
    if status not in runs.FINAL and last < steps:
        return None
    result = {k: v for k, v in run.data.metrics.items() if math.isfinite(v)}
    result["step"] = float(last)
    if status == runs.DIVERGED:  # scored the worst value, as the runner reports it
        result.update({"diverged": 1.0, metric: -1e9 if mode == "max" else 1e9})
    return result


def trial_dirname(trial: Any) -> str:
    """Short trial folders (Tune's default spells out the whole config): trial_<id>_<number>."""
    return f"trial_{trial.trial_id}_{str(trial.experiment_tag).split('_', 1)[0]}"


def _tuner(path: Path, trainable: Any, resume: bool, make: Any) -> Any:
    from ray import tune

    if resume and tune.Tuner.can_restore(str(path)):
        return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=False,
                                  restart_errored=False)
    return make()


def sweep(exp: Experiment, name: str, workdir: Path, address: str | None = None, tracking_uri: str | None = None,
          storage_path: str | None = None, resume: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Run (or with ``resume`` finish) sweep ``name``; returns the ranking table, report dir, parent run id."""
    from pipeline.train import check_config

    ds = check_config(exp.gan)
    metric, mode = primary_metric(ds)
    sw = exp.sweep
    cost = sw.cost_objective()
    if cost is not None and sw.objectives[0] != metric:
        raise GanConfigError("sweep.objectives", f"{sw.objectives[0]!r} is not this data's primary metric",
                             [f"[{metric}, {sw.objectives[1]}]"])
    if sw.scheduler != "asha":
        from pipeline.pbt import evaluations

        evaluations(exp)  # a budget too short to perturb in is refused before anything starts
    uri = resolve_tracking_uri(tracking_uri, workdir)
    if resume and not _parent_exists(uri, name):  # checked before anything is created
        raise GanConfigError("--resume", f"no sweep named {name!r} to resume in {uri}")
    from pipeline.rayctl import init_ray, node_resources
    from pipeline.sweep_resources import plan_trials

    init_ray(address, verbose)
    nodes = node_resources()
    plan = plan_trials(sw, nodes)  # trials that cannot fit are refused before anything is written
    from pipeline.train import Placement, storage_for

    storage = storage_for(Placement(storage_path=storage_path), workdir, len(nodes))
    exp_id = prepare_experiment(uri, name, workdir, metric)
    client = runs.client(uri)
    parent = runs.find_run(client, exp_id, name, role="parent")
    if parent is not None and not resume:
        raise GanConfigError("--name", f"sweep {name!r} already exists (MLflow run {parent.info.run_id})",
                             ["--resume to finish it", "another --name"])
    if parent is None and resume:
        raise GanConfigError("--resume", f"no sweep named {name!r} to resume in {uri}")
    if parent is None:
        parent_id = runs.create_parent(client, exp_id, name, metric, mode, cost, sw.scheduler)
        RunLogger(uri, parent_id).params({f"sweep.{k}": v for k, v in dataclasses.asdict(sw).items()}
                                         | {"base.steps": exp.gan.train.steps, "base.data": exp.gan.data.name})
    else:
        parent_id = parent.info.run_id
        runs.reopen(client, parent_id)

    concurrent = plan.concurrent
    # A finished one-worker trial's process trains the next one. A multi-worker trial's process is cheap but
    # still tearing its TorchTrainer down when Tune has its last result: reused, the next trial failed at
    # once ("Trainable runner reuse requires reset_config() ... return True": Tune waits 2 s for the thread).
    reuse = plan.workers == 1
    base = to_dict(exp.gan)
    base["train"]["ckpt_every"] = base["eval"]["every"]  # every report carries the metric and a checkpoint
    ctx = SweepContext(base=base, uri=uri, exp_id=exp_id, parent=parent_id, sweep=name, metric=metric, mode=mode,
                       workers=plan.workers, cpus_per_worker=plan.cpus_per_worker,
                       gpus_per_worker=plan.gpus_per_worker, threads=plan.threads,
                       storage=storage, search_steps=sw.search_steps, verbose=verbose)
    os.environ[STATE_PERIOD_ENV] = USER_STATE_PERIOD or f"{state_save_period(sw.trials):g}"
    if not verbose:
        _quiet_search_libraries()
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(_trial, ctx=ctx), plan.tune_resources())
    progress = SweepProgress(metric, mode)
    search_steps = sw.search_steps or exp.gan.train.steps
    closer = phase.close_on_complete(uri, search_steps, progress)
    n_evals = math.ceil(search_steps / exp.gan.eval.every)

    def make_search() -> Any:
        from optuna.samplers import TPESampler
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch

        objectives = {"metric": metric, "mode": mode} if cost is None else {"metric": [metric, cost], "mode": [mode, "min"]}
        space = Space(sw, augmenting=bool(ctx.base["augment"]["policy"]))
        searcher = OptunaSearch(space=space, **objectives, points_to_evaluate=first_points(sw),
                                sampler=TPESampler(multivariate=True, group=True, seed=exp.gan.seed))
        asha = ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=max(n_evals, 1),
                             grace_period=min(sw.grace_evals, max(n_evals, 1)), reduction_factor=sw.reduction_factor)
        return tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, scheduler=asha,
                                                                  num_samples=sw.trials,
                                                                  max_concurrent_trials=concurrent,
                                                                  reuse_actors=reuse,
                                                                  trial_dirname_creator=trial_dirname),
                          run_config=_run_config(f"{name}-search", storage, verbose, closer))

    better = f"{metric} ({'higher' if mode == 'max' else 'lower'} is better)"
    if sw.scheduler == "asha":
        also = "" if cost is None else f" and {cost} (multi-objective TPE; ASHA on {metric})"
        progress.phase("search", sw.trials, f"{sw.trials} trials, {concurrent} at a time, Optuna TPE + ASHA on "
                       f"{better}{also}")
    else:
        make_search = _population_tuner(exp, ctx, trainable, concurrent, storage, verbose, closer)
        progress.phase("search", sw.trials, f"a population of {sw.trials}, {concurrent} at a time, "
                       f"{sw.scheduler.upper()} on {better}: the bottom {sw.quantile:.0%} clone the top every "
                       f"{sw.perturb_every} evaluations")
    search = _tuner(Path(storage) / name_key(f"{name}-search"), trainable, resume, make_search).fit()
    phase.stop_if_interrupted(client, search, sw.trials, exp_id, parent_id)
    search_rows = phase.finish_children(client, search, metric, search_steps)
    phase.raise_user_error(client, search, parent_id)
    phase.prune_checkpoints(search)

    reruns = seed_reruns(search_rows, metric, mode, sw.seeds)
    if sw.scheduler != "asha":
        from pipeline.pbt import schedule_of

        for r in reruns:  # a member's final values are not what trained it: replay its schedule
            row = next(x for x in search_rows if x["params"] == r["params"] and x["child"])
            r["schedule"] = schedule_of(client, client.get_run(row["child"]))
    from pipeline.report import write_report

    if reruns:
        def make_seeds() -> Any:
            return tune.Tuner(trainable, param_space={"run": tune.grid_search(reruns)},
                              tune_config=tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=reuse,
                                                          trial_dirname_creator=trial_dirname),
                              run_config=_run_config(f"{name}-seeds", storage, verbose,
                                                     phase.close_on_complete(uri, exp.gan.train.steps, progress)))

        each = "model" if sw.models else "loss and each penalty"
        progress.phase("seed re-runs", len(reruns), f"the best configuration of each {each}, "
                       f"{sw.seeds} seeds each, full budget")
        seeds = _tuner(Path(storage) / name_key(f"{name}-seeds"), trainable, resume, make_seeds).fit()
        phase.stop_if_interrupted(client, seeds, len(reruns), exp_id, parent_id)
        seed_rows = phase.finish_children(client, seeds, metric, exp.gan.train.steps)
        phase.raise_user_error(client, seeds, parent_id)
        phase.prune_checkpoints(seeds)
    else:
        why = "sweep.seeds is 0" if sw.seeds == 0 else "no search trial finished with a score"
        progress.phase("seed re-runs", 0, f"skipped: {why}")
        seed_rows = []
    phase.drop_orphans(client, exp_id, parent_id, {r["trial_id"] for r in search_rows + seed_rows})
    report_dir = workdir / "reports" / name_key(name)
    progress.phase("report", 0, f"{report_dir}")
    out = write_report(uri, exp_id, parent_id, report_dir)
    from pipeline.registry import register_champion

    champion = register_champion(uri, parent_id, name, out["ranking"], out["rows"], metric, mode)
    client.set_terminated(parent_id, "FINISHED")
    return {**out, "parent_run_id": parent_id, "champion": champion}


def _population_tuner(exp: Experiment, ctx: SweepContext, trainable: Any, concurrent: int, storage: str,
                      verbose: bool, closer: Any) -> Any:
    """``make`` of the search phase under sweep.scheduler pbt / pb2 (pipeline.pbt)."""
    from ray import tune

    from pipeline import pbt

    sw = exp.sweep
    members = pbt.population(sw, exp.gan.seed, bool(ctx.base["augment"]["policy"]))
    sched = pbt.scheduler(sw, members, ctx.metric, ctx.mode, exp.gan.seed, pbt.evaluations(exp))

    def make() -> Any:
        return tune.Tuner(trainable, param_space=pbt.param_space(members),
                          tune_config=tune.TuneConfig(scheduler=sched, num_samples=1, max_concurrent_trials=concurrent,
                                                      reuse_actors=ctx.workers == 1,
                                                      trial_dirname_creator=trial_dirname),
                          run_config=_run_config(f"{ctx.sweep}-search", storage, verbose, closer))

    return make


def _quiet_search_libraries() -> None:
    """Our progress lines instead of Tune's boxes and Optuna's notices (all back with --verbose).

    Tune's new output engine prints its "Configuration for experiment" box and "View detailed results"
    even at verbose=0; its classic reporter at verbose=0 prints nothing. Optuna warns that the TPE
    ``group`` option is experimental and logs every study it creates; PB2's GP fit warns of its bounds;
    PBT over multi-worker trials advises ``reuse_actors``, which such trials cannot use (see ``sweep``).
    """
    import warnings

    import optuna

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    from sklearn.exceptions import ConvergenceWarning  # PB2's GP fit on a handful of points

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message="Consider boosting PBT performance by enabling `reuse_actors`")


def _parent_exists(uri: str, name: str) -> bool:
    """Whether sweep ``name`` has a parent run, without creating a database or an experiment on the way."""
    if database_missing(uri):
        return False
    client = runs.client(uri)
    exp = client.get_experiment_by_name(name)
    return exp is not None and runs.find_run(client, exp.experiment_id, name, role="parent") is not None


def _run_config(name: str, storage: str, verbose: bool, closer: Any) -> Any:
    from ray import tune

    return tune.RunConfig(name=name_key(name), storage_path=storage, verbose=1 if verbose else 0, callbacks=[closer],
                          failure_config=tune.FailureConfig(max_failures=0),
                          # every checkpoint is kept while the phase runs: Tune's saved state may name an
                          # older one than the newest when the driver dies, and resuming needs it to exist;
                          # _prune_checkpoints keeps the last one per trial once the phase is over
                          checkpoint_config=tune.CheckpointConfig(num_to_keep=None))


def seed_reruns(rows: list[dict[str, Any]], metric: str, mode: str, seeds: int) -> list[dict[str, Any]]:
    """The best configuration of each loss and of each penalty (of each model, with ``sweep.models``), each
    with ``seeds`` seed indices."""
    ok = [r for r in rows if r["status"] in (runs.COMPLETED, runs.PRUNED) and r["score"] is not None
          and math.isfinite(r["score"])]
    sign = -1.0 if mode == "max" else 1.0
    best: dict[str, dict[str, Any]] = {}
    keys = ("model",) if any("model" in r["params"] for r in ok) else ("loss", "penalty")
    for key in keys:
        for r in sorted(ok, key=lambda r: sign * r["score"]):
            tag = f"{key}={r['params'][key]}"
            best.setdefault(tag, r)
    unique: dict[str, dict[str, Any]] = {}
    for r in best.values():
        unique.setdefault(label_of(r["params"]), r)
    return [{"params": copy.deepcopy(r["params"]), "seed_index": i} for r in unique.values() for i in range(seeds)]
