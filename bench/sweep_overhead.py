"""Sweep overhead: N toy trials via `ganarena sweep` vs a plain sequential Optuna loop, back to back.

Both sides train the same kind of trial with the same function (``pipeline.runner.run``):
  * sweep: ``ganarena sweep`` in a subprocess (own local Ray, Tune + OptunaSearch, MLflow child
    runs, trials 1 CPU / 1 thread each, as many at once as the machine has cores). Only the SEARCH
    phase is timed (command start -> last search trial's MLflow end time): the command always adds
    seed re-runs of the best configurations afterwards (``--seeds 1``), and is interrupted with
    SIGINT once the search trials have ended unless ``--full``.
  * plain: optuna.create_study(TPESampler(multivariate=True, group=True, seed)) in this process,
    the sweep's own define-by-run space and first points, ``run(Job, LocalSession())`` with no
    MLflow, 1 torch thread, sequential. Timed from study creation (imports excluded).
  * floor: the same configurations split over as many plain loops as the machine has cores, run at
    once in fresh processes (no Ray, no MLflow): what side-by-side trials cost on this CPU by itself,
    which no orchestrator can beat.
ASHA never stops a trial here (grace period = the number of evaluations), so both sides train
every trial to the full budget, and the plain loop replays the sweep's own 16 configurations.

    .venv/bin/python -m bench.sweep_overhead [--trials 16] [--steps 2000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, clean_env, host, stats, write
from gan_core.losses import LOSSES
from gan_core.penalties import PENALTIES

CONFIG = "configs/toy_ring.yaml"


def overrides(steps: int) -> list[str]:
    evals = max(1, steps // 2)
    return [f"train.steps={steps}", f"eval.every={evals}", f"train.log_every={min(100, evals)}",
            "sweep.grace_evals=2"]


def _search_runs(uri: str, steps: int) -> list[tuple[float, float, float, dict]]:
    """(start, end, modes_hq, sampled params) of the search trials that logged their final evaluation.

    The end is the timestamp of the final step's metrics: Tune stops a trial at its last report,
    so the MLflow run itself is only closed later, by the driver.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("bench")
    if exp is None:
        return []
    out = []
    for r in client.search_runs([exp.experiment_id], "tags.`ganarena.phase` = 'search'", max_results=1000):
        final = [m for m in client.get_metric_history(r.info.run_id, "modes_hq") if m.step == steps]
        if final:
            out.append((r.info.start_time / 1000, final[0].timestamp / 1000, final[0].value,
                        json.loads(r.data.tags["ganarena.params"])))
    return sorted(out, key=lambda t: t[0])


def run_sweep(trials: int, steps: int, workdir: Path, full: bool = False) -> dict:
    """One `ganarena sweep` subprocess; search-phase timings read back from its MLflow child runs.

    Unless ``full``, the command is interrupted (SIGINT, as Ctrl-C) once all search trials have
    ended: the seed re-runs that follow are not part of this figure and would double its cost.
    """
    sets = [a for o in overrides(steps) for a in ("--set", o)]
    cmd = [str(REPO / ".venv" / "bin" / "ganarena"), "sweep", str(REPO / CONFIG), *sets, "--trials", str(trials),
           "--seeds", "1", "--workdir", str(workdir), "--name", "bench"]
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    while proc.poll() is None:
        time.sleep(3)
        # only once the driver has made the database (its Ray folder comes after): two processes creating a
        # fresh SQLite database at once crash
        if not full and (workdir / "ray").exists() and len(_search_runs(uri, steps)) >= trials:
            proc.send_signal(signal.SIGINT)
            break
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    wall = time.time() - t0
    search = _search_runs(uri, steps)
    if len(search) != trials:
        raise RuntimeError(f"expected {trials} finished search trials, got {len(search)} "
                           f"(exit {proc.returncode}):\n{(err or '')[-3000:]}")
    return {"search_wall_s": max(e for _, e, _, _ in search) - t0, "command_wall_s": wall if full else None,
            "start_to_first_trial_s": min(s for s, _, _, _ in search) - t0,
            "trial_durations_s": [e - s for s, e, _, _ in search], "best_modes_hq": max(v for _, _, v, _ in search),
            "configs": [p for _, _, _, p in search]}


def run_plain(trials: int, steps: int, configs: list[dict]) -> dict:
    """Sequential Optuna loop over the same space and trial function, in this process, no MLflow.

    The study is given the sweep's own configurations (``enqueue_trial``, in the sweep's start order):
    both sides train the same 16 trials, so the ratio is not confounded by what each search picked
    (e.g. wgan-gp trials cost ~1.5x a no-penalty trial).
    """
    import optuna

    from gan_core.config import to_dict
    from pipeline.experiment import load_experiment
    from pipeline.runner import Job, run
    from pipeline.sessions import LocalSession
    from pipeline.sweep_space import Space, apply_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = load_experiment(REPO / CONFIG, [*overrides(steps), f"sweep.trials={trials}", "sweep.seeds=1"])
    base = to_dict(exp.gan)
    base["train"]["ckpt_every"] = base["eval"]["every"]  # as the sweep does
    space, durations = Space(exp.sweep, augmenting=bool(base["augment"]["policy"])), []

    def objective(trial: optuna.Trial) -> float:
        space(trial)
        job = Job(gan=apply_params(base, trial.params), name=f"t{trial.number}", threads=1, quiet=True,
                  log_model=False)
        t = time.perf_counter()
        last = run(job, LocalSession())
        durations.append(time.perf_counter() - t)
        return last["modes_hq"]

    t0 = time.perf_counter()
    sampler = optuna.samplers.TPESampler(multivariate=True, group=True, seed=exp.gan.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for point in configs:
        study.enqueue_trial(point)
    study.optimize(objective, n_trials=trials)
    assert [t.params for t in study.trials] == configs, "the plain loop must replay the sweep's trials"
    return {"wall_s": time.perf_counter() - t0, "trial_durations_s": durations, "best_modes_hq": study.best_value}


def run_plain_parallel(steps: int, configs: list[dict], slots: int) -> dict:
    """The floor no orchestrator can beat: ``slots`` plain loops at once (no Ray, no MLflow), each a fresh
    process given every ``slots``-th configuration; timed from their start (imports included, as the
    sweep's command is). Shows what running trials side by side costs on this CPU by itself."""
    code = ("import json, sys, warnings\nwarnings.filterwarnings('ignore')\nsys.path.insert(0, sys.argv[1])\n"
            "from bench.sweep_overhead import run_plain\ncfgs = json.loads(sys.argv[2])\n"
            "r = run_plain(len(cfgs), int(sys.argv[3]), cfgs)\nprint(json.dumps(r['trial_durations_s']))\n")
    t0 = time.time()
    procs = [subprocess.Popen([sys.executable, "-c", code, str(REPO), json.dumps(configs[i::slots]), str(steps)],
                              cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for i in range(slots)]
    durations = [d for p in procs for d in json.loads(p.communicate()[0].strip().splitlines()[-1])]
    if any(p.returncode for p in procs):
        raise RuntimeError("a parallel plain loop failed")
    return {"wall_s": time.time() - t0, "trial_durations_s": durations}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000, help="G steps per trial (the demo's budget)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="let each sweep finish its seed re-runs and report")
    args = ap.parse_args()
    start = host()  # load and code at the start; write() adds the end load
    import warnings

    warnings.filterwarnings("ignore", module="optuna")
    slots = start.get("cpus", 2)  # trials run at once, 1 CPU each
    sweeps, plains, floors = [], [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="ganarena-bench-sweep-") as tmp:
            sweeps.append(run_sweep(args.trials, args.steps, Path(tmp), args.full))
        plains.append(run_plain(args.trials, args.steps, sweeps[-1]["configs"]))
        floors.append(run_plain_parallel(args.steps, sweeps[-1]["configs"], slots))
        s, p, f = sweeps[-1], plains[-1], floors[-1]
        print(f"#{i}: sweep search {s['search_wall_s']:.1f} s (first trial after {s['start_to_first_trial_s']:.0f} s), "
              f"plain Optuna {p['wall_s']:.1f} s, ratio {s['search_wall_s'] / p['wall_s']:.3f}; {slots} plain loops "
              f"at once {f['wall_s']:.1f} s, ratio {f['wall_s'] / p['wall_s']:.3f}", flush=True)
    ratios = [s["search_wall_s"] / p["wall_s"] for s, p in zip(sweeps, plains, strict=True)]
    floor = [f["wall_s"] / p["wall_s"] for f, p in zip(floors, plains, strict=True)]
    overhead = [(slots * (s["search_wall_s"] - s["start_to_first_trial_s"]) - sum(p["trial_durations_s"])) / args.trials
                for s, p in zip(sweeps, plains, strict=True)]
    in_sweep = [statistics.mean(s["trial_durations_s"]) - statistics.mean(p["trial_durations_s"])
                for s, p in zip(sweeps, plains, strict=True)]
    result = {
        "host": start,
        "protocol": (f"{args.trials} trials of {CONFIG} (MLP 3x128, batch 256, {args.steps} G steps, 2 evals of "
                     f"2500 samples) over the sweep's default space ({len(LOSSES)} losses x {len(PENALTIES)} penalties + "
                     f"weight), the same {args.trials} configurations on both sides; "
                     f"sweep = `ganarena sweep --seeds 1` subprocess, search phase only, trials 1 CPU/1 thread, "
                     f"concurrent up to the core count, MLflow on; plain = sequential optuna TPE "
                     f"(multivariate, group) + pipeline.runner.run + LocalSession, 1 thread, no MLflow, "
                     f"imports excluded; pairs back to back, {args.repeats} repeats"),
        "trials": args.trials, "steps": args.steps,
        "ratio_sweep_over_plain": stats(ratios),
        "ratio_parallel_plain_over_plain": stats(floor),
        "parallel_plain_definition": (f"{slots} plain loops at once, fresh processes, every {slots}-th configuration "
                                      f"each, no Ray, no MLflow, wall from their start (imports included): the "
                                      f"floor of any orchestrator on this CPU"),
        "parallel_plain_trial_minus_plain_trial_s": stats(
            [statistics.mean(f["trial_durations_s"]) - statistics.mean(p["trial_durations_s"])
             for f, p in zip(floors, plains, strict=True)]),
        "per_trial_overhead_s": stats(overhead),
        "per_trial_overhead_definition": ("(trial slots x (search wall - start-up) - sum of the plain loop's trial "
                                          "times) / trials"),
        "in_sweep_trial_minus_plain_trial_s": stats(in_sweep),
        "sweep_search_wall_s": stats([s["search_wall_s"] for s in sweeps]),
        "sweep_start_to_first_trial_s": stats([s["start_to_first_trial_s"] for s in sweeps]),
        "plain_wall_s": stats([p["wall_s"] for p in plains]),
        "runs": {"sweep": sweeps, "plain": plains, "parallel_plain": floors},
    }
    print(f"ratio {stats(ratios)['median']:.3f} (target <= 0.6; {slots} plain loops at once: "
          f"{stats(floor)['median']:.3f}); per-trial overhead "
          f"{stats(overhead)['median']:.2f} s; wrote {write('sweep_overhead', result)}")


if __name__ == "__main__":
    main()
