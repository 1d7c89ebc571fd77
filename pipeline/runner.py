"""The one training function behind every runner: a Ray Train worker, a Tune trial, a plain process.

It builds data and models from the config, resumes from the session's latest checkpoint, runs
gan_core's loop and, on rank 0, evaluates, logs to MLflow and reports checkpoints. Runners differ
only in their ``Session`` (pipeline.sessions): where checkpoints come from and where reports go.
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
from gan_core.tasks import run_evaluator, task_of
from pipeline.artifacts import save_samples
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


def run(job: Job, session) -> dict[str, float]:
    """Train per ``job`` inside ``session``; returns the last reported metrics (rank 0's)."""
    torch.set_num_threads(max(1, job.threads))
    cfg: GanConfig = from_dict(GanConfig, job.gan)
    rank, world = session.rank, session.world
    ds = build_dataset(cfg.data, seed=cfg.seed) if job.parquet_meta is None else session.parquet_dataset(job.parquet_meta)
    spec = spec_of(ds)
    device = session.device()
    trainer = build_trainer(cfg, spec, device=device, wrap=session.wrap(device), noise=ShardedNoise(rank, world))
    position, best = 0, None
    ckpt_dir = session.latest_checkpoint()
    if ckpt_dir is not None:
        payload = load_checkpoint(Path(ckpt_dir) / CKPT_FILE)
        position = restore(trainer, payload)
        best = payload["extra"].get("best")
    task = task_of(ds)
    if trainer.step == 0:
        task.pretrain(trainer, ds)  # e.g. text: MLE before the game
    torch.manual_seed(cfg.seed * 7919 + trainer.step)  # same noise on every rank (ShardedNoise)
    stream = session.stream(ds, cfg, position)

    lead = rank == 0
    log = RunLogger(job.tracking_uri, job.run_id) if lead and job.run_id else None
    primary, mode = task.primary_metric(ds)  # known without building the evaluator yet
    evaluator = None  # built at the first evaluation: its reference features (e.g. FD's) need not delay step 1
    if log is not None and trainer.step == 0:
        log.params(flatten(to_dict(cfg)))
        log.tags({"git_commit": git_commit(), "dataset": ds.name, "workers": world, **job.tags})
    nodes = session.node_ids()  # every rank takes part in the gather
    if log is not None:
        log.tags({"ganarena.worker_nodes": ",".join(nodes)})
    if log is not None and ckpt_dir is not None:  # visible in the UI: where this attempt picked up
        log.tags({"ganarena.resumed_from_step": trainer.step})
    t = cfg.train
    progress = _Progress(t.steps, t.batch_size, t.n_critic, job.quiet or not lead)
    last: dict[str, float] = {}
    quality = "-"

    def report(step: int, metrics: dict[str, float], checkpoint: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            cdir = None
            if checkpoint:
                cdir = Path(tmp)
                if lead:
                    path = save_checkpoint(cdir / CKPT_FILE, trainer, spec, stream.position, extra={"best": best})
                    if log is not None:
                        log.checkpoint(path, "latest.pt")
            # Tune ends a trial it stops (ASHA, max_t) inside this report call, so a Tune trial flushes
            # first; a Train worker flushes after Ray has registered the checkpoint, so MLflow never runs
            # ahead of the checkpoint a restarted worker resumes from. Either way a retry cannot log a
            # step twice (RunLogger skips steps already in the run).
            if log is not None and session.flush_before_report:
                log.flush()
            session.report({**metrics, "step": step}, cdir if lead else None)
            if log is not None and not session.flush_before_report:
                log.flush()

    def callback(tr, logged: dict[str, float] | None) -> bool:
        nonlocal best, quality, evaluator
        step = tr.step
        if logged is not None:
            logged["samples_per_s"] = progress.rate(step)
            if log is not None:
                log.metrics({k: v for k, v in logged.items() if math.isfinite(v)}, step)
            progress.line(step, logged, logged["samples_per_s"], quality)
        do_eval = step % cfg.eval.every == 0 or step == t.steps
        do_ckpt = step % t.ckpt_every == 0 or step == t.steps
        if not (do_eval or do_ckpt):
            return False
        metrics: dict[str, float] = {}
        if do_eval and lead:
            if evaluator is None:
                evaluator = run_evaluator(cfg)
                if evaluator.protocol["reference"] != "test split" and not job.quiet:
                    print(f"[ganarena] evaluating against the {evaluator.protocol['reference']}", flush=True)
                if log is not None:
                    log.tags({f"protocol.{k}": v for k, v in evaluator.protocol.items()})
            # Own RNG stream: only rank 0 evaluates, and drawing from the training RNG here would
            # desynchronise rank 0's noise from the other ranks' (2 workers would no longer == 1).
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(cfg.seed * 7919 + step + 1)
                metrics, fake = task.evaluate(evaluator, tr)
            score = metrics[evaluator.primary]
            improved = best is None or (score < best if evaluator.mode == "min" else score > best)
            if improved:
                best = score
                if log is not None:  # keep the best, not only the last: GAN quality often collapses
                    with tempfile.TemporaryDirectory() as tmp:
                        path = save_checkpoint(Path(tmp) / CKPT_FILE, tr, spec, stream.position, extra={"best": best})
                        log.checkpoint(path, "best.pt")
            metrics[f"best_{evaluator.primary}"] = best
            quality = f"{evaluator.primary}={score:.4g}"
            if log is not None:
                log.metrics(metrics, step)
                save_samples(log, fake, ds, step)
        last.update(metrics)
        report(step, metrics, do_ckpt)
        return False

    try:
        fit(trainer, stream, t.steps, t.log_every, callback)
    except DivergedError as e:
        if log is not None:
            log.drop_unflushed()
            log.tags({"ganarena.status": "diverged", "ganarena.reason": str(e)[:500]})
        if lead:  # a diverged trial scores the worst value, so searchers move away
            last[primary] = -1e9 if mode == "max" else 1e9
        last.update({"diverged": 1.0})
        session.report({**last, "diverged": 1.0, "step": trainer.step}, None)
        if log is not None:
            log.end("FAILED")
        return last
    if log is not None:
        if job.log_model:
            log.model(trainer.G_ema if trainer.G_ema is not None else trainer.G)
        log.tags({"ganarena.status": "completed"})
        log.end("FINISHED")
    return last
