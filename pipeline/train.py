"""``ganarena train``: gan_core's loop as a Ray Train (V2) TorchTrainer, tracked in MLflow.

The driver validates everything it can before anything is written (config vs data vs models,
MLflow reachable, resources available), creates the MLflow experiment and run, then hands the
run id to the workers. A rerun with the same name resumes the same Ray run and the same MLflow run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_core.build import build_models
from gan_core.config import GanConfig, flatten, to_dict
from gan_core.data import build_dataset, check_shape
from gan_core.errors import GanConfigError
from gan_core.memory import check_count, machine_bytes
from gan_core.tasks import primary_metric
from pipeline import runs
from pipeline.names import name_key
from pipeline.runner import Job
from pipeline.tracking import prepare_experiment, resolve_tracking_uri, safe_params


@dataclass
class Placement:
    """How many workers, with what resources, where checkpoints go."""

    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float | None = None  # default: fit the workers on the cluster's CPUs
    storage_path: str | None = None  # default: <workdir>/ray (local); must be shared on multi-node clusters
    max_failures: int = 2


def check_config(cfg: GanConfig) -> Any:
    """Build the dataset and the models once on CPU so config/data mismatches fail before any run exists."""
    if cfg.data.name == "parquet":
        from gan_core.data.parquet import read_meta
        from pipeline.sessions import ShardInfo

        if not cfg.data.root:
            raise GanConfigError("data.root", "the parquet dataset needs the folder of shards")
        ds = ShardInfo(read_meta(cfg.data.root))
        check_shape(cfg.data, ds.name, ds.kind, ds.shape)
    else:
        ds = build_dataset(cfg.data, seed=cfg.seed)
    if cfg.data.conditional and ds.num_classes == 0:
        raise GanConfigError("data.conditional", f"dataset {ds.name!r} has no labels", ["false"])
    from gan_core.models import DataSpec

    spec = DataSpec(ds.shape, ds.num_classes, ds.kind)
    check_fits(cfg, spec)
    for key in ("samples", "final_samples"):
        check_count(f"eval.{key}", getattr(cfg.eval, key) or 0, 4 * math.prod(spec.shape),
                    f"samples of shape {tuple(spec.shape)}")
    build_models(cfg, spec)  # no optimizers: they import torch._dynamo (~1 s)
    from gan_core.tasks import preflight

    preflight(ds, cfg)  # an evaluation must not fail after minutes of training
    return ds


FIELD_OF = {"generator": "generator.width/depth", "discriminator": "discriminator.width/depth",
            "batch": "train.batch_size"}


def check_fits(cfg: GanConfig, spec: Any) -> None:
    """Refuse a config whose models and batch alone exceed this machine's memory, before anything is built."""
    from gan_core.build import training_memory

    need = training_memory(cfg, spec)
    have = machine_bytes()
    if sum(need.values()) > have:
        big = max(need, key=need.get)
        if need[big] >= 2**63:
            problem = f"the {big} is too large for torch to even describe (over 2^63 bytes)"
        else:
            parts = ", ".join(f"{k} {v / 2**30:,.1f}" for k, v in need.items())
            problem = (f"one training step needs at least {sum(need.values()) / 2**30:,.1f} GiB ({parts} GiB), "
                       f"this machine has {have / 2**30:.0f} GiB")
        raise GanConfigError(FIELD_OF[big], problem, "smaller models or batches")


def check_placement(p: Placement) -> None:
    """The checks that need no cluster, run before Ray is started or joined."""
    if p.workers < 1:
        raise GanConfigError("--workers", f"must be >= 1, got {p.workers}")
    if not (math.isfinite(p.gpus_per_worker) and p.gpus_per_worker >= 0):
        raise GanConfigError("--gpus-per-worker", f"must be a finite number >= 0, got {p.gpus_per_worker:g}")
    if p.cpus_per_worker is not None and not (math.isfinite(p.cpus_per_worker) and p.cpus_per_worker > 0):
        raise GanConfigError("--cpus-per-worker", f"must be a finite number > 0, got {p.cpus_per_worker:g}")
    if p.max_failures < -1:
        raise GanConfigError("--max-failures", f"must be >= 0 (or -1: retry forever), got {p.max_failures}")


WORKER_MEMORY = 2**30  # a Train worker with torch, MLflow and a small model: 0.9-1.1 GB resident (measured)


def size_workers(p: Placement, resources: dict[str, float]) -> tuple[float, int]:
    """CPUs per worker (fractional when workers outnumber CPUs: never deadlock) and torch threads each."""
    check_placement(p)
    gpus = resources.get("GPU", 0.0)
    if p.gpus_per_worker * p.workers > gpus:
        raise GanConfigError("--gpus-per-worker", f"{p.workers} workers x {p.gpus_per_worker} GPUs needs "
                             f"{p.workers * p.gpus_per_worker:g} GPUs, the cluster has {gpus:g}",
                             f"0..{gpus / p.workers:g} per worker")
    memory = resources.get("memory", 0.0)
    if memory and p.workers * WORKER_MEMORY > memory:
        raise GanConfigError("--workers", f"{p.workers} workers need ~{p.workers * WORKER_MEMORY / 2**30:.0f} GiB "
                             f"(each is a process of ~{WORKER_MEMORY / 2**30:.0f} GiB), the cluster has "
                             f"{memory / 2**30:.1f} GiB for tasks", f"1..{max(1, int(memory // WORKER_MEMORY))}")
    cpus = resources.get("CPU", 1.0)
    per = p.cpus_per_worker if p.cpus_per_worker is not None else min(1.0, cpus / p.workers)
    if per * p.workers > cpus + 1e-9:
        raise GanConfigError("--cpus-per-worker", f"{p.workers} x {per:g} CPUs exceeds the cluster's {cpus:g}")
    return per, max(1, int(per))


STORAGE_ENV = "GANARENA_STORAGE"  # a cluster-wide default for --storage-path (cluster/local.sh, KubeRay set it)


def storage_for(p: Placement, workdir: Path, nodes: int) -> str:
    """Ray storage_path: given, else $GANARENA_STORAGE, else <workdir>/ray on one node; multi-node clusters
    need storage every node can reach."""
    given = p.storage_path or os.environ.get(STORAGE_ENV) or None
    if given:
        return given if "://" in given else str(Path(given).expanduser().resolve())
    if nodes > 1:
        raise GanConfigError("--storage-path", f"the cluster has {nodes} nodes and Ray Train V2 needs checkpoint "
                             f"storage every node can reach (or set {STORAGE_ENV} on the cluster)", ["a shared filesystem path", "s3://bucket/prefix",
                                                              "gs://bucket/prefix"])
    return str((workdir / "ray").resolve())


def train(cfg: GanConfig, name: str, workdir: Path, placement: Placement, address: str | None = None,
          tracking_uri: str | None = None, experiment: str = "ganarena-train", verbose: bool = False,
          log_model: bool = True) -> dict[str, Any]:
    """Run (or resume) training ``name``; returns {'run_id', 'metrics', 'status', 'tracking_uri'}."""
    ds = check_config(cfg)
    check_placement(placement)
    if cfg.train.batch_size % placement.workers:  # each worker takes an equal share of every batch
        raise GanConfigError("train.batch_size", f"{cfg.train.batch_size} is not divisible by {placement.workers} "
                             "workers", f"a multiple of {placement.workers}, or another --workers")
    uri = resolve_tracking_uri(tracking_uri, workdir)
    from pipeline.rayctl import init_ray, node_resources

    resources = init_ray(address, verbose)
    from pipeline.trainer import make_trainer, start_autoscaling_coordinator

    start_autoscaling_coordinator()
    # Ray Data's read tasks need CPU beside the workers, or they wait forever (measured deadlock).
    reserve = 0.5 if cfg.data.name == "parquet" else 0.0
    per_cpu, threads = size_workers(placement, {**resources, "CPU": resources.get("CPU", 1.0) - reserve})
    storage = storage_for(placement, workdir, len(node_resources()))
    exp_id = prepare_experiment(uri, experiment, workdir, primary_metric(ds)[0])

    client = runs.client(uri)
    existing = runs.find_run(client, exp_id, name)
    if existing is not None and existing.info.status == "FINISHED":
        print(f"[ganarena] run {name!r} already finished (MLflow run {existing.info.run_id}); nothing to resume")
        return {"run_id": existing.info.run_id, "metrics": existing.data.metrics, "status": "FINISHED",
                "tracking_uri": uri}
    if existing is not None:
        _check_resumable(existing, cfg, name)
        run_id = existing.info.run_id
        runs.reopen(client, run_id)
        print(f"[ganarena] resuming {name!r} (MLflow run {run_id})")
    else:
        run_id = client.create_run(exp_id, run_name=name, tags=runs.name_tags(name)).info.run_id

    parquet_meta, datasets = None, None
    if cfg.data.name == "parquet":
        parquet_meta = ds.meta
        datasets = {"train": parquet_input(cfg.data.root, resources.get("object_store_memory", 0.0))}
    job = Job(gan=to_dict(cfg), name=name, tracking_uri=uri, run_id=run_id, parquet_meta=parquet_meta,
              log_model=log_model, threads=threads, tags={runs.KIND: "train"}, quiet_ray=not verbose)
    trainer = make_trainer(job, workers=placement.workers, cpus_per_worker=per_cpu,
                           gpus_per_worker=placement.gpus_per_worker,
                           run_name=name_key(name),  # a path component and a Ray metric tag
                           storage=storage, max_failures=placement.max_failures, keep_checkpoints=2,
                           datasets=datasets, verbose=verbose)
    try:
        result = trainer.fit()
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C: the run ends KILLED (not RUNNING); a rerun resumes it
        runs.end_if_running(client, run_id, "KILLED")
        raise KeyboardInterrupt from None
    except Exception as e:
        runs.end_if_running(client, run_id, "FAILED")
        from pipeline.rayctl import user_error

        mine = user_error(e)
        if mine is not None:  # the user's input, raised in a worker: one line, exit 2
            raise mine from None
        raise RuntimeError(f"training {name!r} failed: {type(e).__name__}: {str(e)[:2000]}") from e
    runs.end_if_running(client, run_id, "FAILED" if result.error else "FINISHED")
    status = client.get_run(run_id).info.status
    return {"run_id": run_id, "metrics": dict(result.metrics or {}), "status": status, "tracking_uri": uri,
            "checkpoint": result.checkpoint.path if result.checkpoint else None}


MATERIALIZE_SHARE = 0.2  # of the object store: Parquet data up to this size is read once, not once per epoch


def parquet_input(root: str, object_store_bytes: float) -> Any:
    """Ray Data over the Parquet shards of ``root``; materialized when it fits in a fifth of the object store.

    A streamed dataset re-reads and re-decodes its files every epoch, and each epoch's pipeline
    takes ~1 s to start (bench/data_path.py: 4.8x the DCGAN's consumption when streamed, ~250x
    materialized). Larger data (or remote storage) streams.
    """
    import ray.data

    ds = ray.data.read_parquet(str(Path(root).resolve()) if "://" not in root else root)
    local = Path(root)
    size = sum(f.stat().st_size for f in local.glob("shard-*.parquet")) if local.is_dir() else 0
    # in memory a block holds the decoded rows: assume up to 4x the compressed files
    if 0 < 4 * size <= MATERIALIZE_SHARE * object_store_bytes:
        ds = ds.materialize()
    return ds


def _check_resumable(run: Any, cfg: GanConfig, name: str) -> None:
    """A rerun of ``name`` resumes from its checkpoints: the data and models must be those it was started with.

    Caught here, in the driver, because a checkpoint of another shape would fail in every worker
    restart; the run's logged params are the record of what it was started with.
    """
    was = run.data.params
    for key, value in safe_params(flatten(to_dict(cfg))).items():
        if key.split(".", 1)[0] in ("data", "generator", "discriminator") and key in was and was[key] != value:
            raise GanConfigError(key, f"run {name!r} (MLflow run {run.info.run_id}) was started with "
                                 f"{key}={was[key]} and resuming it needs the same data and models, got {value}",
                                 [was[key], "another --name for a new run"])
