"""The one training recipe behind every runner: a Ray Train worker, a Tune trial, a plain process.

``Recipe`` builds data and models from the config, resumes from the session's latest checkpoint, runs
gan_core's loop and, on rank 0, evaluates, logs to MLflow and reports checkpoints; ``run(job, session)``
is the whole of it. Runners differ only in their ``Session`` (pipeline.sessions): where checkpoints
come from and where reports go.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_core.build import build_trainer, spec_of
from gan_core.checkpoint import load_checkpoint, restore, save_checkpoint
from gan_core.config import GanConfig, flatten, from_dict, to_dict
from gan_core.data import build_dataset
from gan_core.loop import DivergedError, fit
from gan_core.noise import ShardedNoise
from gan_core.tasks import TEST_SPLIT, final_evaluator, run_evaluator, task_of
from pipeline import runs
from pipeline.artifacts import save_samples
from pipeline.cost import Cost
from pipeline.tracking import RunLogger, git_commit

CKPT_FILE = "state.pt"


@dataclass
class Job:
    """Everything a worker or trial needs (plain data, so Ray can ship it)."""

    gan: dict[str, Any]
    name: str
    tracking_uri: str | None = None
    run_id: str | None = None
    parquet_meta: dict[str, Any] | None = None  # set when data comes from Ray Data Parquet shards
    log_model: bool = True
    threads: int = 1
    quiet: bool = False  # no progress lines
    quiet_ray: bool = False  # Ray's own per-report INFO lines off (unless --verbose)
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None  # a sweep trial's parameters (recorded when a PBT clone changes them)
    label: str = ""  # ... and their one-line label
    # a replayed PBT schedule: [step, gan config dict] pairs, each config in effect after that step
    schedule: list[list[Any]] = field(default_factory=list)


class _Progress:
    """Samples/s over the last logging window and a compact console line."""

    def __init__(self, total: int, batch: int, n_critic: int, quiet: bool):
        self.total, self.batch, self.n_critic, self.quiet = total, batch, n_critic, quiet
        self.t0 = self.t_last = time.perf_counter()
        self.step_last: int | None = None

    def rate(self, step: int) -> float:
        now = time.perf_counter()
        if self.step_last is None:
            self.step_last, self.t_last = step, now
            return float("nan")
        sps = (step - self.step_last) * self.batch * self.n_critic / max(now - self.t_last, 1e-9)
        self.step_last, self.t_last = step, now
        return sps

    def line(self, step: int, m: dict[str, float], sps: float, quality: str) -> None:
        if self.quiet:
            return
        known = math.isfinite(sps) and sps > 0
        speed = f"{sps:,.0f} samples/s ETA {(self.total - step) * self.batch * self.n_critic / sps:.0f}s" if known \
            else "samples/s and ETA from the next line on"
        print(f"[ganarena] step {step}/{self.total} d={m['d_loss']:.3f} g={m['g_loss']:.3f} "
              f"pen={m['penalty']:.3g} {quality} {speed}", flush=True)


class Recipe:
    """One run, step by step (torchtune's recipe shape): ``setup`` builds data and models and resumes from
    the session's latest checkpoint, ``train`` runs gan_core's loop with ``on_step`` as its callback
    (logging, then ``evaluate`` and ``report`` at their steps), and the run ends in ``finish`` or, when
    the losses become NaN, in ``diverged``. Only rank 0 (``lead``) evaluates and logs."""

    def __init__(self, job: Job, session: Any):
        self.job, self.session = job, session
        self.cfg: GanConfig = from_dict(GanConfig, job.gan)
        self.lead = session.rank == 0
        self.best: float | None = None  # the primary metric's best value so far (kept in checkpoints)
        self.evaluator: Any = None  # built at the first evaluation: its reference features need not delay step 1
        self.quality = "-"  # the last evaluation, for the console line
        self.last: dict[str, float] = {}  # the last reported metrics, returned at the end
        self.cost = Cost()  # counted from here: building data and models is part of a run's cost
        self.carried_cost: dict[str, float] | None = None  # the cost a resumed checkpoint recorded
        self.spent: dict[str, float] = {}  # the cost at the latest report (kept in checkpoints)
        self.origin: str | None = None  # the MLflow run whose checkpoint this one resumed (PBT: another trial's)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        job, session, cfg = self.job, self.session, self.cfg
        torch.set_num_threads(max(1, job.threads))
        self.ds = build_dataset(cfg.data, seed=cfg.seed) if job.parquet_meta is None else \
            session.parquet_dataset(job.parquet_meta)
        self.spec = spec_of(self.ds)
        self.device = session.device()
        self.trainer = build_trainer(cfg, self.spec, device=self.device, wrap=session.wrap(self.device),
                                     noise=ShardedNoise(session.rank, session.world))
        position, ckpt_dir = self.resume()
        self.follow_schedule()
        self.cost.resume(self.carried_cost, session.world if self.device.type == "cuda" else 0)
        self.task = task_of(self.ds)
        if self.trainer.step == 0:
            self.task.pretrain(self.trainer, self.ds)  # e.g. text: MLE before the game
        torch.manual_seed(cfg.seed * 7919 + self.trainer.step)  # same noise on every rank (ShardedNoise)
        self.stream = session.stream(self.ds, cfg, position)
        self.log = RunLogger(job.tracking_uri, job.run_id) if self.lead and job.run_id else None
        self.primary, self.mode = self.task.primary_metric(self.ds)  # known without building the evaluator
        self.tag_run(ckpt_dir)
        t = cfg.train
        self.progress = _Progress(t.steps, t.batch_size, t.n_critic, job.quiet or not self.lead)

    def resume(self) -> tuple[int, str | None]:
        """Load the session's latest checkpoint, if any; returns (stream position, checkpoint dir)."""
        ckpt_dir = self.session.latest_checkpoint()
        if ckpt_dir is None:
            return 0, None
        payload = load_checkpoint(Path(ckpt_dir) / CKPT_FILE)
        self.best = payload["extra"].get("best")
        self.carried_cost = payload["extra"].get("cost")
        self.origin = payload["extra"].get("run_id")
        return restore(self.trainer, payload), ckpt_dir

    def cloned(self) -> bool:
        """Whether the checkpoint resumed is another run's (a PBT exploit), not this run's own."""
        return bool(self.origin and self.job.run_id and self.origin != self.job.run_id)

    def follow_schedule(self) -> None:
        """A replayed PBT schedule: the hyperparameters of the latest entry at or before the current step."""
        due = [gan for step, gan in self.job.schedule if step <= self.trainer.step]
        if due:
            self.trainer.retune(from_dict(GanConfig, due[-1]))

    def tag_run(self, ckpt_dir: str | None) -> None:
        log = self.log
        if log is not None and self.trainer.step == 0:
            log.params(flatten(to_dict(self.cfg)))
            log.tags({"git_commit": git_commit(), "dataset": self.ds.name, "workers": self.session.world,
                      **self.job.tags})
        nodes = self.session.node_ids()  # every rank takes part in the gather
        if log is not None:
            log.tags({runs.WORKER_NODES: ",".join(nodes)})
        if log is not None and ckpt_dir is not None:  # visible in the UI: where this attempt picked up
            log.tags({runs.RESUMED_FROM: self.trainer.step})
        if log is not None and self.cloned():
            # the lineage, and this run's own cost so far (the checkpoint's is the donor's)
            runs.record_clone(log.client, self.job.run_id, self.origin, self.trainer.step, self.job.params or {},
                              self.job.label)
            own = log.client.get_run(self.job.run_id).data.metrics
            self.cost.resume({k: own.get(k, 0.0) for k in ("cost_cpu_s", "cost_wall_s", "cost_gpu_s")},
                             self.cost.gpus)

    # ------------------------------------------------------------------ train
    def train(self) -> dict[str, float]:
        try:
            fit(self.trainer, self.stream, self.cfg.train.steps, self.cfg.train.log_every, self.on_step)
        except DivergedError as e:
            return self.diverged(e)
        return self.finish()

    def on_step(self, tr: Any, logged: dict[str, float] | None) -> bool:
        """gan_core.fit's callback: log every ``log_every`` steps, evaluate and checkpoint at theirs."""
        step, t = tr.step, self.cfg.train
        if logged is not None:
            logged["samples_per_s"] = self.progress.rate(step)
            # the learning rates in effect (they change under PBT and in a replayed schedule)
            logged["lr_g"], logged["lr_d"] = tr.opt_g.param_groups[0]["lr"], tr.opt_d.param_groups[0]["lr"]
            if self.log is not None:
                self.log.metrics({k: v for k, v in logged.items() if math.isfinite(v)}, step)
            self.progress.line(step, logged, logged["samples_per_s"], self.quality)
        if any(at == step for at, _ in self.job.schedule):  # after this step's log: it trained with the old values
            self.follow_schedule()
        do_eval = step % self.cfg.eval.every == 0 or step == t.steps
        do_ckpt = step % t.ckpt_every == 0 or step == t.steps
        if not (do_eval or do_ckpt):
            return False
        metrics = self.evaluate(step) if do_eval and self.lead else {}
        self.last.update(metrics)
        self.report(step, metrics, do_ckpt)
        return False

    def evaluate(self, step: int) -> dict[str, float]:
        """Rank 0: score the generator per the eval section, keep the best checkpoint, log samples."""
        cfg, log = self.cfg, self.log
        if self.evaluator is None:
            self.evaluator = run_evaluator(cfg)
            if self.evaluator.protocol["eval_split"] != TEST_SPLIT and not self.job.quiet:
                print(f"[ganarena] evaluating against the {self.evaluator.protocol['eval_split']}", flush=True)
            if log is not None:
                log.tags({f"protocol.{k}": v for k, v in self.evaluator.protocol.items()})
        ev = self.evaluator
        # Own RNG stream: only rank 0 evaluates, and drawing from the training RNG here would
        # desynchronise rank 0's noise from the other ranks' (2 workers would no longer == 1).
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(cfg.seed * 7919 + step + 1)
            metrics, fake = self.task.evaluate(ev, self.trainer)
        score = metrics[ev.primary]
        if self.best is None or (score < self.best if ev.mode == "min" else score > self.best):
            self.best = score
            if log is not None:  # keep the best, not only the last: GAN quality often collapses
                with tempfile.TemporaryDirectory() as tmp:
                    log.checkpoint(self.save(Path(tmp)), "best.pt")
        metrics[f"best_{ev.primary}"] = self.best
        self.quality = f"{ev.primary}={score:.4g}"
        if log is not None:
            log.metrics(metrics, step)
            save_samples(log, fake, self.ds, step)
        return metrics

    def save(self, folder: Path) -> Path:
        return save_checkpoint(folder / CKPT_FILE, self.trainer, self.spec, self.stream.position,
                               extra={"best": self.best, "cost": self.spent, "run_id": self.job.run_id})

    def report(self, step: int, metrics: dict[str, float], checkpoint: bool) -> None:
        """Hand this step's metrics (and, at checkpoint steps, rank 0's checkpoint) to the session."""
        log, session = self.log, self.session
        self.spent = self.spend()
        if log is not None and not (step == self.cfg.train.steps and self.cfg.eval.has_final()):
            log.metrics(self.spent, step)  # with a final evaluation, finish logs the last step's cost
        with tempfile.TemporaryDirectory() as tmp:
            cdir = None
            if checkpoint:
                cdir = Path(tmp)
                if self.lead:
                    path = self.save(cdir)
                    if log is not None:
                        log.checkpoint(path, "latest.pt")
            # Tune ends a trial it stops (ASHA, max_t) inside this report call, so a Tune trial flushes
            # first; a Train worker flushes after Ray has registered the checkpoint, so MLflow never runs
            # ahead of the checkpoint a restarted worker resumes from. Either way a retry cannot log a
            # step twice (RunLogger skips steps already in the run).
            if log is not None and session.flush_before_report:
                log.flush()
            session.report({**metrics, **self.spent, "step": step}, cdir if self.lead else None)
            if log is not None and not session.flush_before_report:
                log.flush()
            session.wait_until_taken()  # a multi-worker sweep trial: until Tune took this report

    # ------------------------------------------------------------------ the end
    def diverged(self, e: DivergedError) -> dict[str, float]:
        """NaN/inf losses: the run ends FAILED, and a searcher sees the worst score so it moves away."""
        log, last = self.log, self.last
        self.spent = self.cost.local(self.trainer.d_steps * self.cfg.train.batch_size)  # a searcher weighs it too
        if log is not None:
            log.drop_unflushed()
            log.tags({runs.STATUS: runs.DIVERGED, runs.REASON: str(e)[:500]})
            log.metrics(self.spent, self.trainer.step)
        if self.lead:
            last[self.primary] = -1e9 if self.mode == "max" else 1e9
        last.update({**self.spent, "diverged": 1.0})
        self.session.report({**last, "diverged": 1.0, "step": self.trainer.step}, None)
        if log is not None:
            log.end("FAILED")
        return last

    def final_evaluation(self) -> dict[str, float]:
        """``eval.final_samples`` / ``eval.final_features``: the final (EMA) generator scored once more, logged
        as ``final_<metric>`` at the last step with its protocol as ``final_protocol.*`` tags."""
        ev = final_evaluator(self.cfg)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.seed * 7919 + self.trainer.step + 2)
            metrics, _ = self.task.evaluate(ev, self.trainer)
        final = {f"final_{k}": v for k, v in metrics.items()}
        if self.log is not None:
            self.log.tags({f"final_protocol.{k}": v for k, v in ev.protocol.items()})
            self.log.metrics(final, self.trainer.step)
            self.log.flush()
        if not self.job.quiet:
            print(f"[ganarena] final evaluation: {ev.describe(metrics)}", flush=True)
        return final

    def spend(self) -> dict[str, float]:
        """The run's cost so far (every rank calls it together: CPU-seconds are summed over the workers)."""
        return self.cost.now(self.session.total, self.trainer.d_steps * self.cfg.train.batch_size)

    def finish(self) -> dict[str, float]:
        log = self.log
        if self.cfg.eval.has_final():
            self.spend()  # the workers' CPU, gathered before rank 0 alone runs the final evaluation
            if self.lead:
                self.last.update(self.final_evaluation())
            self.spent = self.cost.local(self.trainer.d_steps * self.cfg.train.batch_size)  # evaluation included
            if log is not None:
                log.metrics(self.spent, self.trainer.step)
                log.flush()
        self.last.update(self.spent)
        if log is not None:
            if self.job.log_model:
                tr = self.trainer
                log.model(tr.G_ema if tr.G_ema is not None else tr.G)
            log.tags({runs.STATUS: runs.COMPLETED})
            log.end("FINISHED")
        return self.last


def run(job: Job, session: Any) -> dict[str, float]:
    """Train per ``job`` inside ``session``; returns the last reported metrics (rank 0's)."""
    recipe = Recipe(job, session)
    recipe.setup()
    return recipe.train()
