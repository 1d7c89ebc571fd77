"""`ganarena sweep` end to end: Ray Tune + Optuna search, seed re-runs, MLflow nested runs, the report, resume.

The tiny sweep (``tiny_sweep`` in conftest.py: toy ring, 32-wide MLPs, 200 steps, 5 search trials over
{ns, hinge} x {none, r1}, trial 2 forced to NaN, 2 seeds) runs once in-process on the session's
shared Ray instance; what it recorded is read back with MlflowClient and pyarrow. The resume test
interrupts a real `ganarena sweep` subprocess joined to that same Ray instance (one Ray on the
machine: several local instances break Ray Train's placement-group cleanup, see docs/architecture.md).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_SWEEP, tiny_sweep_args

from pipeline.cli import main
from pipeline.sweep_space import label_of

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOY = str(REPO / "configs" / "toy_ring.yaml")
STATUS = {"completed": "FINISHED", "pruned": "KILLED", "diverged": "FAILED"}  # ganarena.status -> MLflow status
SEED_NAME = re.compile(r"^(?P<config>[a-z-]+\+[a-z0-9-]+(\(w=[0-9.e+-]+\))?) seed (?P<i>\d+)$")


def _client(workdir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def _runs(workdir: Path, name: str) -> tuple[object, list, list]:
    """(parent, children, every run) of sweep ``name``; children found by their MLflow parent tag."""
    c = _client(workdir)
    exp = c.get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name!r}"
    runs = c.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("ganarena.role") == "parent"]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return parents[0], kids, runs


def _params_of(run) -> dict:
    """The sampled search parameters of a child, as the sweep's label function takes them; they agree with
    the training config the run logged and with the sampled values the run keeps as a JSON tag."""
    p = run.data.params
    params = {"loss": p["loss.name"], "penalty": p["penalty.name"]}
    if params["penalty"] != "none":
        params["penalty_weight"] = float(p["penalty.weight"])
    assert json.loads(run.data.tags["ganarena.params"]) == params
    return params


def _steps(client, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def _assert_no_duplicate_steps(client, runs: list) -> None:
    for r in runs:
        for key in r.data.metrics:
            steps = _steps(client, r.info.run_id, key)
            assert len(steps) == len(set(steps)), f"{r.info.run_name}: {key} logged twice at a step: {sorted(steps)}"


@pytest.fixture(scope="module")
def swept(tiny_sweep):
    workdir, name, rc, out = tiny_sweep
    assert rc == 0, out[-3000:]
    parent, kids, runs = _runs(workdir, name)
    return workdir, name, out, parent, kids, runs


# ----------------------------------------------------------------------------- MLflow: parent and children


@pytest.mark.timeout(420)
def test_one_parent_and_a_child_per_trial(swept) -> None:
    _, name, out, parent, kids, runs = swept
    assert len(runs) == 1 + len(kids)  # nothing in the experiment but the sweep's own runs
    assert parent.info.status == "FINISHED" and parent.info.run_name == f"sweep {name}"
    assert parent.data.params["sweep.trials"] == str(TINY_SWEEP["trials"])
    assert parent.data.params["sweep.seeds"] == str(TINY_SWEEP["seeds"])
    search = [r for r in kids if r.data.tags["ganarena.phase"] == "search"]
    seeds = [r for r in kids if r.data.tags["ganarena.phase"] == "seed"]
    assert len(search) == TINY_SWEEP["trials"]
    configs = {r.data.tags["ganarena.config_label"] for r in seeds}
    # the best of each loss and of each penalty, each re-run with every seed
    assert 1 <= len(configs) <= len(TINY_SWEEP["losses"]) + len(TINY_SWEEP["penalties"])
    assert len(seeds) == len(configs) * TINY_SWEEP["seeds"] and len(kids) == len(search) + len(seeds)
    trial_ids = [r.data.tags["ganarena.trial_id"] for r in kids]
    assert len(set(trial_ids)) == len(trial_ids)  # one MLflow run per Tune trial
    for r in kids:
        status = r.data.tags["ganarena.status"]
        assert status in STATUS, (r.info.run_name, status)
        assert r.info.status == STATUS[status], (r.info.run_name, r.info.status, status)
    assert "RUNNING" not in {r.info.status for r in runs}
    # the ranking table is printed
    assert "| rank | configuration |" in out and "report.md" in out


@pytest.mark.timeout(60)
def test_children_carry_their_sampled_params(swept) -> None:
    _, _, _, _, kids, _ = swept
    lo, hi = 0.1, 100.0  # SweepConfig's default log-uniform range
    for r in kids:
        p, t = r.data.params, r.data.tags
        assert p["loss.name"] in TINY_SWEEP["losses"] and p["penalty.name"] in TINY_SWEEP["penalties"]
        assert (t["loss"], t["penalty"]) == (p["loss.name"], p["penalty.name"])  # filterable tags == params
        weight = float(p["penalty.weight"])
        if p["penalty.name"] == "none":
            assert weight == 0.0  # the penalty is off: no weight was sampled
        else:
            assert lo <= weight <= hi
        if p["loss.name"] == "hinge":
            assert float(p["loss.label_smoothing"]) == 0.0  # smoothing applies to the (non-)saturating losses only
        assert t["ganarena.config_label"] == label_of(_params_of(r))
        assert p["train.steps"] == str(TINY_SWEEP["steps"]) and p["data.name"] == "ring8"


@pytest.mark.timeout(60)
def test_run_names_read_well(swept) -> None:
    """Search trials are named by their configuration, seed re-runs e.g. `ns+r1(w=3.2) seed 1`."""
    _, _, _, _, kids, _ = swept
    for r in kids:
        label = r.data.tags["ganarena.config_label"]
        if r.data.tags["ganarena.phase"] == "search":
            assert r.info.run_name == label
        else:
            m = SEED_NAME.match(r.info.run_name)
            assert m and m["config"] == label and m["i"] == r.data.tags["ganarena.seed_index"], r.info.run_name
    by_config: dict[str, list[int]] = {}
    for r in kids:
        if r.data.tags["ganarena.phase"] == "seed":
            by_config.setdefault(r.data.tags["ganarena.config_label"], []).append(int(r.data.tags["ganarena.seed_index"]))
    assert all(sorted(v) == list(range(TINY_SWEEP["seeds"])) for v in by_config.values()), by_config
    # and each re-run really used another seed
    seeds_used = [r.data.params["seed"] for r in kids if r.data.tags["ganarena.phase"] == "seed"]
    assert len(set(seeds_used)) == TINY_SWEEP["seeds"]


@pytest.mark.timeout(60)
def test_metric_keys_are_comparable_and_logged_once(swept) -> None:
    """Every trial that trained logs the same metric keys (seed re-runs also their final evaluation's), at the
    same steps, each step once."""
    workdir, _, _, _, kids, _ = swept
    c = _client(workdir)
    trained = [r for r in kids if r.data.tags["ganarena.status"] != "diverged"]
    keys = {frozenset(k for k in r.data.metrics if not k.startswith("final_")) for r in trained}
    assert len(keys) == 1, keys
    finals = {frozenset(k for k in r.data.metrics if k.startswith("final_")) for r in trained
              if r.data.tags["ganarena.phase"] == "seed"}
    assert finals == {frozenset({"final_modes", "final_hq_fraction", "final_reverse_kl", "final_modes_hq"})}, finals
    assert {"d_loss", "g_loss", "modes_hq", "best_modes_hq"} <= set(next(iter(keys)))
    s, log, ev = TINY_SWEEP["steps"], TINY_SWEEP["log_every"], TINY_SWEEP["eval_every"]
    for r in trained:
        last = s if r.data.tags["ganarena.status"] == "completed" else max(_steps(c, r.info.run_id, "modes_hq"))
        assert _steps(c, r.info.run_id, "d_loss") == list(range(log, last + 1, log)), r.info.run_name
        # the last evaluation is in MLflow too (it is written before Tune may stop the trial)
        assert _steps(c, r.info.run_id, "modes_hq") == list(range(ev, last + 1, ev)), r.info.run_name
    _assert_no_duplicate_steps(c, kids)


@pytest.mark.timeout(60)
def test_forced_nan_trial_is_diverged_and_the_rest_finish(swept) -> None:
    workdir, name, _, _, kids, _ = swept
    search = [r for r in kids if r.data.tags["ganarena.phase"] == "search"]
    # search trial k is the Tune trial whose directory is trial_<id>_<k> (pipeline.sweep.trial_dirname)
    dirs = [d.name for d in (workdir / "ray" / f"{name}-search").iterdir() if d.is_dir()]
    nth = {r.data.tags["ganarena.trial_id"]: r for r in search}
    (forced,) = [nth[tid] for tid in nth if f"trial_{tid}_{TINY_SWEEP['nan_trial']}" in dirs]
    diverged = [r for r in kids if r.data.tags["ganarena.status"] == "diverged"]
    assert [r.info.run_id for r in diverged] == [forced.info.run_id]
    assert forced.info.status == "FAILED"
    reason = forced.data.tags["ganarena.reason"]
    assert "non-finite" in reason and f"step {TINY_SWEEP['log_every']}" in reason and "d_loss" in reason, reason
    assert "modes_hq" not in forced.data.metrics  # stopped at once, before any evaluation
    others = [r for r in search if r is not forced]
    assert {r.data.tags["ganarena.status"] for r in others} <= {"completed", "pruned"}
    assert any(r.data.tags["ganarena.status"] == "completed" for r in others)
    # a diverged configuration is never chosen for the seed re-runs
    seed_configs = {r.data.tags["ganarena.config_label"] for r in kids if r.data.tags["ganarena.phase"] == "seed"}
    assert forced.data.tags["ganarena.config_label"] not in seed_configs


@pytest.mark.timeout(60)
def test_seed_reruns_are_the_best_of_each_loss_and_penalty(swept) -> None:
    workdir, _, _, _, kids, _ = swept
    c = _client(workdir)
    search = [r for r in kids if r.data.tags["ganarena.phase"] == "search"
              and r.data.tags["ganarena.status"] != "diverged"]
    seeds = [r for r in kids if r.data.tags["ganarena.phase"] == "seed"]
    chosen = {r.data.tags["ganarena.config_label"] for r in seeds}
    for key in ("loss", "penalty"):
        for value in {r.data.tags[key] for r in search}:
            group = [r for r in search if r.data.tags[key] == value]
            best = max(r.data.metrics["modes_hq"] for r in group)  # each trial's last evaluation
            assert any(r.data.tags["ganarena.config_label"] in chosen and r.data.metrics["modes_hq"] == best
                       for r in group), (key, value, best, chosen)
    for r in seeds:
        assert r.data.tags["ganarena.status"] == "completed" and r.info.status == "FINISHED"
        assert _steps(c, r.info.run_id, "modes_hq")[-1] == TINY_SWEEP["steps"]  # the full budget
        assert len(r.outputs.model_outputs) == 1  # the generator is logged for seed re-runs
        # the final evaluation (eval.final_samples) scores seed re-runs only, once, at the last step
        assert _steps(c, r.info.run_id, "final_modes_hq") == [TINY_SWEEP["steps"]]
        assert r.data.tags["final_protocol.n_fake"] == str(TINY_SWEEP["final_samples"])
    assert not any(k.startswith("final_") for r in search for k in r.data.metrics)


# ----------------------------------------------------------------------------- the report


@pytest.mark.timeout(60)
def test_parquet_and_report_agree_with_mlflow(swept) -> None:
    import pyarrow.parquet as pq

    workdir, name, _, parent, kids, _ = swept
    out = workdir / "reports" / name
    table = pq.read_table(out / "trials.parquet").to_pylist()
    assert len(table) == len(kids)
    by_id = {r.info.run_id: r for r in kids}
    assert {row["run_id"] for row in table} == set(by_id)
    for row in table:
        run = by_id[row["run_id"]]
        assert row["status"] == run.data.tags["ganarena.status"]
        assert row["name"] == run.info.run_name and row["phase"] == run.data.tags["ganarena.phase"]
        assert row["loss"] == run.data.params["loss.name"] and row["penalty"] == run.data.params["penalty.name"]
        want = run.data.metrics.get("modes_hq", math.nan)
        assert row["modes_hq"] == want or (math.isnan(row["modes_hq"]) and math.isnan(want)), row["name"]

    md = (out / "report.md").read_text()
    assert (out / "report.html").exists()
    ranked = re.findall(r"^\| \d+ \| (.+?) \| .+? \| (\d+) \|", md, flags=re.MULTILINE)
    seed_configs = {r.data.tags["ganarena.config_label"] for r in kids if r.data.tags["ganarena.phase"] == "seed"}
    assert {cfg for cfg, _ in ranked} == seed_configs
    assert all(int(n) == TINY_SWEEP["seeds"] for _, n in ranked)
    (diverged,) = [r for r in kids if r.data.tags["ganarena.status"] == "diverged"]
    assert f"- {diverged.info.run_name}: {diverged.data.tags['ganarena.reason']}" in md
    final = md.split("## Final evaluation", 1)[1].split("## Protocol", 1)[0]  # its own ranking, same configs
    assert {cfg for cfg, _ in re.findall(r"^\| \d+ \| (.+?) \| .+? \| (\d+) \|", final, flags=re.MULTILINE)} == seed_configs
    assert f"- n_fake: {TINY_SWEEP['final_samples']}" in final
    n_search = sum(r.data.tags["ganarena.phase"] == "search" for r in kids)
    counts = dict(re.findall(r"(search/\w+|seed/\w+): (\d+)", md))
    assert sum(int(v) for k, v in counts.items() if k.startswith("search/")) == n_search
    assert counts["search/diverged"] == "1"
    # what each run cost: in the table per trial, and summed in the report's cost section
    trained = [row for row in table if row["status"] != "diverged"]
    assert all(row["cost_cpu_s"] > 0 and row["cost_wall_s"] > 0 and row["samples_seen"] > 0 for row in trained)
    costed = [row for row in table if math.isfinite(row.get("cost_cpu_s") or math.nan)]
    cost = md.split("## Cost", 1)[1].split("## Plots", 1)[0]
    hours = float(re.search(r"(\d+) runs: ([0-9.e+-]+) CPU-hours", cost).group(2))
    assert re.search(r"(\d+) runs:", cost).group(1) == str(len(costed))
    assert hours == pytest.approx(sum(row["cost_cpu_s"] for row in costed) / 3600, rel=6e-3)
    assert cost.count("| seed |") == len(seed_configs) and cost.count("| search |") == 1
    # sweep.objectives [modes_hq, cost]: the reported front is exactly the non-dominated completed search trials
    full = [(row["modes_hq"], row["cost_cpu_s"]) for row in table if row["phase"] == "search"
            and row["status"] == "completed"]
    listed = re.findall(r"^\| .+? \| ([0-9.e+-]+) \| ([0-9,.e+-]+) \|$", md.split("## Quality vs cost", 1)[1],
                        flags=re.MULTILINE)
    on = [(float(q), float(c.replace(",", ""))) for q, c in listed]
    assert on and (out / "pareto.png").exists()
    def beaten(p):
        return any(q >= p[0] and c <= p[1] and (q, c) != p for q, c in full)
    want = sorted((q, c) for q, c in full if not beaten((q, c)))
    assert [q for q, _ in sorted(on, key=lambda p: p[1])] == pytest.approx([q for q, _ in sorted(want, key=lambda p: p[1])], rel=1e-3)
    assert _client(workdir).get_run(parent.info.run_id).data.tags["ganarena.cost_objective"] == "cost_cpu_s"
    # logged to the parent run, which names the winner
    logged = {a.path for a in _client(workdir).list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.md", "report/trials.parquet", "report/report.html"} <= logged
    best = _client(workdir).get_run(parent.info.run_id).data.tags["ganarena.best_config"]
    assert best == ranked[0][0]


# ----------------------------------------------------------------------------- names: exists / unknown


@pytest.mark.timeout(120)
def test_rerunning_an_existing_name_without_resume_exits_2(swept, capsys) -> None:
    workdir, name, _, _, _, runs = swept
    capsys.readouterr()
    assert main(tiny_sweep_args(TOY, workdir, name)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--resume" in err[0], err
    assert len(_runs(workdir, name)[2]) == len(runs)  # no run added


@pytest.mark.timeout(120)
def test_resuming_an_unknown_name_exits_2_and_writes_nothing(swept, tmp_path, capsys) -> None:
    workdir, _, _, _, _, _ = swept
    capsys.readouterr()
    assert main([*tiny_sweep_args(TOY, workdir, "no-such-sweep"), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "no-such-sweep" in err[0], err
    assert _client(workdir).get_experiment_by_name("no-such-sweep") is None
    # in a fresh folder: no database either
    assert main([*tiny_sweep_args(TOY, tmp_path / "w", "tiny"), "--resume"]) == 2
    assert not (tmp_path / "w").exists()


# ----------------------------------------------------------------------------- resume


@pytest.mark.timeout(480)
def test_resume_after_killing_the_driver(ray_local, tmp_path) -> None:
    """SIGKILL a real `ganarena sweep` mid-search once 2 trials trained to the end; `--resume` finishes the
    sweep in the same MLflow runs without re-running those two."""
    import ray

    workdir, name = tmp_path / "w", "resume-me"
    steps = TINY_SWEEP["steps"]
    argv = [*tiny_sweep_args(TOY, workdir, name, trials=4),
            "--address", ray.get_runtime_context().gcs_address]  # the shared instance: one Ray on the machine
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = tmp_path / "first.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *argv], cwd=REPO, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, f"`ganarena sweep` ended before the interruption:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no finished trial in time:\n{log.read_text()[-3000:]}"
            # only once the driver has created the database (its Tune folder comes after): two processes
            # creating a fresh SQLite database at once crash
            if (workdir / "ray" / f"{name}-search").exists():
                c = _client(workdir)
                done = [r for r in _runs(workdir, name)[1]
                        if steps in _steps(c, r.info.run_id, "modes_hq")]  # trained and evaluated to the end
                if len(done) >= 2:
                    break
            time.sleep(0.5)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)  # the driver dies at once: no chance to tidy up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    parent, kids, _ = _runs(workdir, name)
    assert parent.info.status == "RUNNING"  # killed mid-sweep
    assert not [r for r in kids if r.data.tags["ganarena.phase"] == "seed"], "killed too late: seeds started"
    c = _client(workdir)
    before = {r.info.run_id: r for r in kids}
    done = {rid: r for rid, r in before.items() if steps in _steps(c, rid, "modes_hq")}
    logged = {rid: [(m.step, m.timestamp) for m in c.get_metric_history(rid, "d_loss")] for rid in done}
    time.sleep(2)  # the killed driver's trial actors are being torn down; their CPUs come back

    assert main([*argv[:-2], "--resume"]) == 0  # in-process: joins the same shared Ray instance

    parent2, kids, runs = _runs(workdir, name)
    assert parent2.info.run_id == parent.info.run_id and parent2.info.status == "FINISHED"
    search = [r for r in kids if r.data.tags["ganarena.phase"] == "search"]
    seeds = [r for r in kids if r.data.tags["ganarena.phase"] == "seed"]
    configs = {r.data.tags["ganarena.config_label"] for r in seeds}
    assert len(search) == 4 and len(seeds) == len(configs) * TINY_SWEEP["seeds"]
    trial_ids = [r.data.tags["ganarena.trial_id"] for r in kids]
    assert len(set(trial_ids)) == len(trial_ids), sorted(trial_ids)  # no trial got a second run
    after = {r.info.run_id: r for r in kids}
    # every run of the first attempt is kept and continued, except trials Tune had not yet saved when the
    # driver died: Tune creates them afresh, and their first runs are deleted (orphans), never left RUNNING.
    # Tune saves its state every second (the sweep sets TUNE_GLOBAL_CHECKPOINT_S=1), so only a trial started
    # in the last second or so before the kill can be unknown (a tiny trial here trains to the end in 0.5 s)
    missing = set(before) - set(after)
    ages = {rid: round(killed_at - before[rid].info.start_time / 1000, 2) for rid in missing}
    assert all(age < 3.0 for age in ages.values()), ages
    assert all(c.get_run(rid).info.lifecycle_stage == "deleted" for rid in missing)
    assert set(done) - missing, "no finished trial was kept: the checks below would check nothing"
    for rid, r in done.items():  # finished trials Tune knew were not re-run
        if rid in missing:
            continue
        assert after[rid].info.start_time == r.info.start_time
        if r.info.status == "FINISHED":
            assert after[rid].info.end_time == r.info.end_time
        # even when Tune's saved state lags (it may restore such a trial from an older checkpoint), the
        # trial finds itself finished in MLflow and trains nothing: no attempt resumed it
        assert "ganarena.resumed_from_step" not in after[rid].data.tags
        assert [(m.step, m.timestamp) for m in c.get_metric_history(rid, "d_loss")] == logged[rid]
        assert after[rid].data.tags["ganarena.status"] in ("completed", "pruned")
    assert "RUNNING" not in {r.info.status for r in runs}
    for r in kids:
        assert r.info.status == STATUS[r.data.tags["ganarena.status"]], r.info.run_name
    _assert_no_duplicate_steps(c, kids)
    assert (workdir / "reports" / name / "report.md").exists()


def test_a_trial_finished_in_mlflow_is_not_trained_again(tmp_path) -> None:
    """The resume rule on a real MLflow database: a run evaluated at the last step, or closed with a status,
    yields its recorded result (Tune's state may lag behind MLflow); a run part-way through yields None."""
    from mlflow.tracking import MlflowClient

    from pipeline.sweep import _recorded_result

    c = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = c.create_experiment("lag")

    def run_with(steps: list[int], tags: dict[str, str]):
        rid = c.create_run(exp, tags=tags).info.run_id
        for s in steps:
            c.log_metric(rid, "modes_hq", s / 100, step=s)
        return c.get_run(rid)

    assert _recorded_result(c, run_with([100], {}), "modes_hq", "max", 200) is None  # still training
    done = _recorded_result(c, run_with([100, 200], {}), "modes_hq", "max", 200)  # killed before its end tag
    assert done == {"modes_hq": 2.0, "step": 200.0}
    pruned = _recorded_result(c, run_with([100], {"ganarena.status": "pruned"}), "modes_hq", "max", 200)
    assert pruned == {"modes_hq": 1.0, "step": 100.0}  # step < steps: the sweep labels it pruned again
    bad = _recorded_result(c, run_with([], {"ganarena.status": "diverged"}), "fd", "min", 200)
    assert bad == {"step": 0.0, "diverged": 1.0, "fd": 1e9}  # the worst score, as a diverging trial reports
    interrupted = run_with([100], {"ganarena.status": "interrupted"})  # Ctrl-C: --resume must finish it
    assert _recorded_result(c, interrupted, "modes_hq", "max", 200) is None


def test_each_trial_keeps_only_its_last_checkpoint(swept) -> None:
    """Checkpoints are all kept while a phase runs (resume may need an older one), pruned to the last after."""
    workdir, name, *_ = swept
    for phase in ("search", "seeds"):
        trials = sorted((workdir / "ray" / f"{name}-{phase}").glob("trial_*"))
        assert trials, f"no {phase} trial folders"
        kept = {t.name: [c.name for c in t.glob("checkpoint_*")] for t in trials}
        assert all(len(c) <= 1 for c in kept.values()), kept
        assert sum(len(c) for c in kept.values()) >= len(trials) - 1, kept  # the diverged trial has none


def test_the_divergence_hook_picks_one_search_trial_by_the_sweep_name() -> None:
    """The tests' own NaN injection (divergence_hook.py): search trial K of a sweep named ...-nan<K>, nothing else."""
    from divergence_hook import forced_trial

    assert forced_trial("tiny-nan2-search", "/w/ray/tiny-nan2-search/trial_ab12_2", "ab12")
    assert not forced_trial("tiny-nan2-search", "/w/ray/tiny-nan2-search/trial_ab12_3", "ab12")
    assert not forced_trial("tiny-nan2-search", "/w/ray/tiny-nan2-search/trial_ab12_12", "ab12")
    assert not forced_trial("tiny-nan2-seeds", "/w/ray/tiny-nan2-seeds/trial_cd34_2", "cd34")
    assert not forced_trial("resume-me-search", "/w/ray/resume-me-search/trial_ab12_2", "ab12")


def test_tunes_saved_state_does_not_carry_the_base_config_per_trial(swept) -> None:
    """The sweep's constants (base config, MLflow ids) reach trials once, through tune.with_parameters: Tune's
    experiment state, saved every second, holds each trial's config several times (~35 KB a trial before)."""
    workdir, name, *_ = swept
    for phase in ("search", "seeds"):
        (state,) = (workdir / "ray" / f"{name}-{phase}").glob("experiment_state*.json")
        trials = json.loads(state.read_text())["trial_data"]
        text = state.read_text()
        assert trials and b"SweepContext".hex() not in text, phase  # Tune stores objects as pickles in hex
        assert len(text) / len(trials) < 25_000, (phase, len(text) / len(trials))


def test_the_state_save_period_grows_with_the_sweep() -> None:
    from pipeline.sweep import state_save_period

    assert [state_save_period(n) for n in (4, 100, 300, 10_000)] == [1.0, 1.0, 3.0, 100.0]
