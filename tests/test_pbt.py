"""Population-based search (pipeline.pbt): the population, the perturbation, the clone, the schedule replay."""

import copy
import json

import pytest
import torch
from test_checkpoint import CFG, DATA, SPEC, _state

from gan_core import BatchStream, build_trainer, fit, load_config
from gan_core.checkpoint import load_checkpoint, restore, save_checkpoint
from gan_core.errors import GanConfigError
from pipeline import pbt, runs
from pipeline.experiment import ModelSpec, SweepConfig


def _sweep(**kw) -> SweepConfig:
    sw = SweepConfig(**{"scheduler": "pbt", "trials": 6, "lr": (1e-4, 1e-3), **kw})
    sw.validate()
    return sw


def test_population_has_every_model_in_turn_and_values_in_range() -> None:
    models = [ModelSpec("ns", "ns"), ModelSpec("wgan-gp", "wgan", "wgan-gp"), ModelSpec("wgan", "wgan", weight_clip=0.01)]
    sw = _sweep(models=models, n_critic=[1, 2, 5])
    members = pbt.population(sw, seed=0, augmenting=False)
    assert [m["model"] for m in members] == ["ns", "wgan-gp", "wgan"] * 2
    assert members[2]["weight_clip"] == 0.01 and members[1]["penalty"] == "wgan-gp"
    for m in members:
        assert 1e-4 <= m["lr_g"] <= 1e-3 and 1e-4 <= m["lr_d"] <= 1e-3 and 0.1 <= m["penalty_weight"] <= 100
        assert m["n_critic"] in (1, 2, 5) and "ada_target" not in m
    assert len({m["lr_g"] for m in members}) == 6 and members[0]["lr_g"] != members[0]["lr_d"]
    assert pbt.population(sw, seed=0, augmenting=False) == members  # the experiment's seed decides it
    assert pbt.population(sw, seed=1, augmenting=False) != members
    assert pbt.mutable(sw, members) == ["lr_g", "lr_d", "penalty_weight", "n_critic"]
    pb2 = _sweep(models=models, n_critic=[1, 2, 5], scheduler="pb2")
    assert pbt.mutable(pb2, members) == ["lr_g", "lr_d", "penalty_weight"]  # PB2's GP is over continuous values


def test_losses_x_penalties_population_and_augmentation_target() -> None:
    sw = _sweep(losses=["ns", "hinge"], penalties=["none", "r1"], trials=4, ada_target=(0.4, 0.8),
                augment=["none", "translation"])
    members = pbt.population(sw, seed=0, augmenting=False)
    assert sorted((m["loss"], m["penalty"]) for m in members) == [("hinge", "none"), ("hinge", "r1"),
                                                                 ("ns", "none"), ("ns", "r1")]
    for m in members:  # a target only where a policy is on (apply_params refuses one without)
        assert ("ada_target" in m) == (m["augment"] != "none")
    assert "ada_target" not in pbt.mutable(sw, members) or all("ada_target" in m for m in members)


def test_explore_is_clamped_into_the_sweeps_ranges() -> None:
    sw = _sweep(penalty_weight=(1.0, 10.0))
    clamp = pbt.Clamp(sw)
    cfg = {"run": {"params": {"lr_g": 5e-3, "lr_d": 1e-5, "penalty_weight": 3.0, "loss": "ns"}}}
    out = clamp(copy.deepcopy(cfg))["run"]["params"]
    assert out == {"lr_g": 1e-3, "lr_d": 1e-4, "penalty_weight": 3.0, "loss": "ns"}


def test_pbt_perturbs_what_the_sweep_searches(ray_local) -> None:
    """Tune's own explore over our space: values change by 0.8/1.2 or are resampled, then clamped."""
    from ray.tune.schedulers.pbt import _explore

    sw = _sweep(n_critic=[1, 2, 5])
    members = pbt.population(sw, seed=0, augmenting=False)
    sched = pbt.scheduler(sw, members, "fd", "min", seed=0, evals=4)
    cfg = {"run": {"params": members[0]}}
    seen = set()
    for _ in range(50):
        new, _ = _explore(cfg, sched._hyperparam_mutations, pbt.RESAMPLE_PROBABILITY, pbt.PERTURBATION_FACTORS,
                          sched._custom_explore_fn)
        p = new["run"]["params"]
        assert 1e-4 <= p["lr_g"] <= 1e-3 and p["n_critic"] in (1, 2, 5) and p["loss"] == members[0]["loss"]
        seen.add(round(p["lr_g"] / members[0]["lr_g"], 6))
    assert {0.8, 1.2} & seen and len(seen) > 2  # perturbed both ways, and sometimes resampled


def test_a_clone_continues_the_donors_state_bit_for_bit_with_its_own_hyperparameters(tmp_path) -> None:
    """Exploit through the resume checkpoint: the donor's state with the same values continues exactly as
    the donor; with perturbed values the optimisers take the recipient's (not the saved) learning rates."""
    donor_cfg = load_config(CFG)
    donor = build_trainer(donor_cfg, SPEC)
    stream = BatchStream(DATA, 32, seed=1)
    fit(donor, stream, until_step=4)
    path = save_checkpoint(tmp_path / "donor.pt", donor, SPEC, stream.position, extra={"run_id": "donor"})
    fit(donor, stream, until_step=8)

    same = build_trainer(load_config(CFG), SPEC)
    pos = restore(same, load_checkpoint(path))
    fit(same, BatchStream(DATA, 32, seed=1, position=pos), until_step=8)
    a, b = _state(donor), _state(same)
    assert all(torch.equal(a[k], b[k]) for k in a)

    perturbed = copy.deepcopy(CFG)
    perturbed["optim"] = {"lr_g": 3e-4, "lr_d": 7e-4}
    perturbed["penalty"] = {**CFG["penalty"], "weight": 4.0}
    perturbed["train"] = {**CFG["train"], "n_critic": 3}
    clone = build_trainer(load_config(perturbed), SPEC)
    restore(clone, load_checkpoint(path))
    assert [g["lr"] for g in clone.opt_g.param_groups] == [3e-4] and clone.opt_d.param_groups[0]["lr"] == 7e-4
    assert clone.penalty_weight == 4.0 and clone.step == 4
    assert torch.equal(clone.opt_d.state_dict()["state"][0]["exp_avg"],
                       load_checkpoint(path)["trainer"]["opt_d"]["state"][0]["exp_avg"])  # the donor's moments
    fit(clone, BatchStream(DATA, 32, seed=1, position=pos), until_step=6)
    assert clone.d_steps == 4 * 2 + 2 * 3  # n_critic 3 after the clone


def test_retune_refuses_a_different_model_or_loss() -> None:
    tr = build_trainer(load_config(CFG), SPEC)
    other = copy.deepcopy(CFG)
    other["loss"] = {"name": "hinge"}
    with pytest.raises(ValueError, match="hyperparameters only"):
        tr.retune(load_config(other))
    wider = copy.deepcopy(CFG)
    wider["generator"] = {**CFG["generator"], "width": 32}
    with pytest.raises(ValueError, match="hyperparameters only"):
        tr.retune(load_config(wider))


class _Run:
    def __init__(self, tags):
        self.data = type("D", (), {"tags": tags})()


class _Client:
    def __init__(self, runs_by_id):
        self.runs = runs_by_id

    def get_run(self, run_id):
        return self.runs[run_id]


def _clone_tag(step, donor, trial, params):
    return {f"{runs.CLONE}{step:07d}": json.dumps({"from_run": donor, "from_trial": trial, "step": step,
                                                   "params": params})}


def test_schedule_follows_the_weights_lineage() -> None:
    """C took B's weights at 200, B had taken A's at 100: C's schedule is A's start, B's values at 100, C's at 200.
    A later clone of A (at 300) does not enter B's past."""
    pa, pb, pc, pa2 = ({"lr_g": v, "loss": "ns", "penalty": "none"} for v in (1.0, 2.0, 3.0, 4.0))
    a = _Run({runs.PARAMS: json.dumps(pa2), runs.PARAMS_START: json.dumps(pa),
              **_clone_tag(300, "c", "tc", pa2)})
    b = _Run({runs.PARAMS: json.dumps(pb), runs.PARAMS_START: json.dumps({"lr_g": 9.0}), **_clone_tag(100, "a", "ta", pb)})
    c = _Run({runs.PARAMS: json.dumps(pc), runs.PARAMS_START: json.dumps({"lr_g": 8.0}), **_clone_tag(200, "b", "tb", pc)})
    client = _Client({"a": a, "b": b, "c": c})
    assert pbt.schedule_of(client, c) == [[0, pa], [100, pb], [200, pc]]
    assert pbt.schedule_of(client, _Run({runs.PARAMS: json.dumps(pa)})) == [[0, pa]]


@pytest.mark.parametrize("kw, field", [
    ({"scheduler": "bohb"}, "sweep.scheduler"),
    ({"trials": 1}, "sweep.trials"),
    ({"perturb_every": 0}, "sweep.perturb_every"),
    ({"quantile": 0.7}, "sweep.quantile"),
    ({"objectives": ["fd", "cost"]}, "sweep.objectives"),
    ({"lr": None, "penalties": ["none"]}, "sweep.lr"),
    ({"lr": None, "penalties": ["none"], "n_critic": [1, 2], "scheduler": "pb2"}, "sweep.lr"),
])
def test_population_settings_that_cannot_work_are_one_clear_error(kw, field) -> None:
    with pytest.raises(GanConfigError) as e:
        _sweep(**kw)
    assert e.value.field == field


def test_pbt_with_n_critic_alone_is_allowed() -> None:
    sw = _sweep(lr=None, penalties=["none"], n_critic=[1, 2])
    assert pbt.mutable(sw, pbt.population(sw, 0, False)) == ["n_critic"]


# A tiny PBT sweep on the shared Ray: 4 members (ns / hinge x none / r1), 400 steps, an evaluation every 100,
# a perturbation after each of the first three (the bottom quarter clones the top), then 1 seed re-run of
# the best member's schedule.
PBT_SETS = {"sweep.scheduler": "pbt", "sweep.perturb_every": 1, "sweep.quantile": 0.25, "sweep.lr": "[1.0e-4,3.0e-3]",
            "sweep.losses": "[ns,hinge]", "sweep.penalties": "[none,r1]", "train.steps": 400, "eval.every": 100,
            "eval.samples": 500, "train.log_every": 50, "generator.width": 32, "discriminator.width": 32,
            "data.n_samples": 2000}


def _pbt_argv(workdir, name: str, trials: int, seeds: int, sets: dict) -> list[str]:
    """`ganarena sweep` of configs/toy_ring.yaml with ``sets`` as --set overrides."""
    from pathlib import Path

    argv = ["sweep", str(Path(__file__).resolve().parents[1] / "configs" / "toy_ring.yaml"), "--workdir", str(workdir),
            "--name", name, "--trials", str(trials), "--seeds", str(seeds)]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    return argv


def _sweep_in_process(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process (it joins the shared Ray); its exit status and what it printed."""
    import contextlib
    import io

    from pipeline.cli import main

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        with contextlib.redirect_stdout(out):
            rc = main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def pbt_sweep(ray_local, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pbt")
    rc, out = _sweep_in_process(_pbt_argv(workdir, "pbt-tiny", 4, 1, PBT_SETS))
    yield workdir, rc, out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_pbt_sweep_clones_perturbs_and_keeps_each_history_whole(pbt_sweep) -> None:
    from pipeline.tracking import resolve_tracking_uri

    workdir, rc, out = pbt_sweep
    assert rc == 0, out
    c = runs.client(resolve_tracking_uri(None, workdir))
    exp = c.get_experiment_by_name("pbt-tiny")
    parent = runs.find_run(c, exp.experiment_id, "pbt-tiny", role="parent")
    assert parent.data.tags[runs.SCHEDULER] == "pbt" and parent.info.status == "FINISHED"
    kids = runs.children(c, exp.experiment_id, parent.info.run_id)
    search = [r for r in kids if r.data.tags[runs.PHASE] == "search"]
    assert len(search) == 4 and all(r.info.status != "RUNNING" for r in kids)
    trial_ids = {r.data.tags[runs.TRIAL_ID] for r in search}
    events = [(r, e) for r in search for e in runs.clones(r)]
    assert events, "no member was cloned in 3 perturbations"
    for r, e in events:
        assert e["step"] in (100, 200, 300) and e["from_trial"] in trial_ids - {r.data.tags[runs.TRIAL_ID]}
        assert 1e-4 <= e["params"]["lr_g"] <= 3e-3 and 1e-4 <= e["params"]["lr_d"] <= 3e-3
    for r in search:
        rid = r.info.run_id
        # every step exactly once, before and after a clone: evaluations and the training log
        assert [m.step for m in c.get_metric_history(rid, "modes_hq")] == [100, 200, 300, 400]
        assert [m.step for m in c.get_metric_history(rid, "d_loss")] == list(range(50, 401, 50))
        cost = [m.value for m in sorted(c.get_metric_history(rid, "cost_cpu_s"), key=lambda m: m.step)]
        assert cost == sorted(cost) and cost[0] > 0  # its own cost goes on (the donor's is not taken over)
        lr = {m.step: m.value for m in c.get_metric_history(rid, "lr_g")}
        mine = runs.clones(r)
        for e in mine:  # the perturbed rate is in effect from the clone on
            assert lr[e["step"] + 50] == pytest.approx(e["params"]["lr_g"])
        if mine:
            assert json.loads(r.data.tags[runs.PARAMS]) == mine[-1]["params"]
            assert r.data.tags["loss"] == mine[-1]["params"]["loss"]
    report = (workdir / "reports" / "pbt-tiny" / "report.md").read_text()
    assert "## Population-based training" in report and f"4 members, {len(events)} clones" in report


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_pbt_seed_rerun_replays_the_best_members_schedule(pbt_sweep) -> None:
    """The seed re-run of the best member follows its lineage's values, switched at the clone steps."""
    from pipeline.tracking import resolve_tracking_uri

    workdir, _, _ = pbt_sweep
    c = runs.client(resolve_tracking_uri(None, workdir))
    exp = c.get_experiment_by_name("pbt-tiny")
    parent = runs.find_run(c, exp.experiment_id, "pbt-tiny", role="parent")
    kids = runs.children(c, exp.experiment_id, parent.info.run_id)
    seeds = [r for r in kids if r.data.tags[runs.PHASE] == "seed"]
    assert seeds and all(r.data.tags[runs.STATUS] == "completed" for r in seeds)
    for seed_run in seeds:
        params = json.loads(seed_run.data.tags[runs.PARAMS])
        best = next(r for r in kids if r.data.tags[runs.PHASE] == "search" and json.loads(r.data.tags[runs.PARAMS]) == params)
        schedule = pbt.schedule_of(c, best)
        lr = {m.step: m.value for m in c.get_metric_history(seed_run.info.run_id, "lr_g")}
        for i, (step, p) in enumerate(schedule):
            end = schedule[i + 1][0] if i + 1 < len(schedule) else 400
            assert all(lr[s] == pytest.approx(p["lr_g"]) for s in lr if step < s <= end), (step, p, lr)
        assert ("PBT schedule" in seed_run.data.tags["mlflow.runName"]) == (len(schedule) > 1)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_pbt_clones_a_multi_worker_trial_through_its_train_checkpoints(ray_local, tmp_path) -> None:
    """Two members of 2 Ray Train workers each (half a CPU each: both fit the shared 2-CPU Ray), 200 steps,
    one perturbation at step 100: the bottom member continues from the top one's checkpoint. Each report
    reaches Tune with its checkpoint (pipeline.trial_trainer), so the clone is possible at all; the runner
    records it only when the checkpoint it restored is another run's, so a clone tag proves the recipient's
    2 workers started from the donor's weights."""
    from pipeline.tracking import resolve_tracking_uri

    sets = {**PBT_SETS, "sweep.quantile": 0.5, "sweep.losses": "[ns,hinge]", "sweep.penalties": "[none]",
            "sweep.workers_per_trial": 2, "sweep.cpus_per_worker": 0.5, "train.steps": 200}
    rc, out = _sweep_in_process(_pbt_argv(tmp_path, "pbt-2w", 2, 0, sets))
    assert rc == 0, out
    c = runs.client(resolve_tracking_uri(None, tmp_path))
    exp = c.get_experiment_by_name("pbt-2w")
    parent = runs.find_run(c, exp.experiment_id, "pbt-2w", role="parent")
    search = [r for r in runs.children(c, exp.experiment_id, parent.info.run_id) if r.data.tags[runs.PHASE] == "search"]
    assert len(search) == 2 and all(r.info.status == "FINISHED" for r in search)
    events = [(r, e) for r in search for e in runs.clones(r)]
    assert len(events) == 1, [runs.clones(r) for r in search]  # one perturbation, quantile 0.5 of 2: one clone
    recipient, event = events[0]
    donor = next(r for r in search if r is not recipient)
    assert event["step"] == 100 and event["from_run"] == donor.info.run_id
    for r in search:
        assert len(r.data.tags[runs.WORKER_NODES].split(",")) == 2  # both attempts trained with 2 workers
        assert [m.step for m in c.get_metric_history(r.info.run_id, "modes_hq")] == [100, 200]
        assert [m.step for m in c.get_metric_history(r.info.run_id, "d_loss")] == [50, 100, 150, 200]
    lr = {m.step: m.value for m in c.get_metric_history(recipient.info.run_id, "lr_g")}
    assert lr[150] == pytest.approx(event["params"]["lr_g"]) and recipient.data.tags["loss"] == donor.data.tags["loss"]


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_pbt_sweep_resumes_after_its_driver_is_killed(ray_local, tmp_path) -> None:
    """SIGKILL a real PBT `ganarena sweep` once a clone happened and before the population finished; `--resume`
    finishes it in the same runs: 4 members, every evaluation and log step once, every clone once, report."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import ray

    from pipeline.tracking import resolve_tracking_uri

    repo = Path(__file__).resolve().parents[1]
    name = "pbt-resume"
    argv = _pbt_argv(tmp_path, name, 4, 0, {**PBT_SETS, "train.steps": 600})
    address = ["--address", ray.get_runtime_context().gcs_address]  # the subprocess joins the shared instance
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"PYTHONUNBUFFERED": "1"}
    log = tmp_path / "first.log"
    uri = resolve_tracking_uri(None, tmp_path)

    def members() -> list:
        if not (tmp_path / "ray" / f"{name}-search").exists():  # the database exists once Tune's folder does
            return []
        c = runs.client(uri)
        exp = c.get_experiment_by_name(name)
        return [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get(runs.PHASE) == "search"]

    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *argv, *address], cwd=repo, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not any(runs.clones(r) for r in members()):
            assert proc.poll() is None, f"the sweep ended before a clone:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no clone in time:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    c = runs.client(uri)
    before = members()
    assert not all(600 in [m.step for m in c.get_metric_history(r.info.run_id, "modes_hq")] for r in before), \
        "killed too late: the population had finished"
    time.sleep(2)  # the killed driver's trial actors are being torn down

    rc, out = _sweep_in_process([*argv, "--resume"])  # finds the shared instance initialised and joins it
    assert rc == 0, out
    exp = c.get_experiment_by_name(name)
    parent = runs.find_run(c, exp.experiment_id, name, role="parent")
    assert parent.info.status == "FINISHED"
    search = [r for r in runs.children(c, exp.experiment_id, parent.info.run_id) if r.data.tags[runs.PHASE] == "search"]
    ids = [r.data.tags[runs.TRIAL_ID] for r in search]
    assert len(set(ids)) == 4 and {r.data.tags[runs.TRIAL_ID] for r in before} <= set(ids)  # the same members
    assert all(r.info.status == "FINISHED" for r in search)
    clones = 0
    for r in search:
        assert [m.step for m in c.get_metric_history(r.info.run_id, "modes_hq")] == [100, 200, 300, 400, 500, 600]
        assert [m.step for m in c.get_metric_history(r.info.run_id, "d_loss")] == list(range(50, 601, 50))
        steps = [e["step"] for e in runs.clones(r)]
        assert all(s in (100, 200, 300, 400, 500) for s in steps), steps
        clones += len(steps)
    report = (tmp_path / "reports" / name / "report.md").read_text()
    assert f"4 members, {clones} clones" in report
