"""The one Ray Train (V2) TorchTrainer: `ganarena train` and multi-worker sweep trials both build it here.

Its workers run ``_worker_loop`` (gan_core's loop through pipeline.runner). Two changes to Ray's TorchTrainer:
- Ctrl-C in the driver asks the controller to abort and raises KeyboardInterrupt there (see ``_on_sigint``);
- no DatasetManager actor when the run has no Ray Data input (every data set but parquet shards): Train
  starts one per run regardless, a process of ~1.5 CPU-s that nothing would call.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any


def _worker_loop(config: dict[str, Any]) -> None:
    """train_loop_per_worker: the shared runner inside a Ray Train worker."""
    from pipeline.runner import Job, run
    from pipeline.sessions import RayTrainSession

    job = Job(**config["job"])
    if job.quiet_ray:
        import logging

        # Ray logs every report ("Reporting training result N: TrainingReport(...)") at INFO through a
        # logger named by its file path, outside ray.train's LoggingConfig
        from ray.train.v2._internal.execution import context

        logging.getLogger(context.__file__).setLevel(logging.WARNING)
    run(job, RayTrainSession(config.get("start_from"), config.get("gate")))


def make_trainer(job: Any, *, workers: int, cpus_per_worker: float, gpus_per_worker: float, run_name: str,
                 storage: str, start_from: Any = None, gate: Any = None, max_failures: int = 0,
                 keep_checkpoints: int | None = None, callbacks: list | None = None, datasets: dict | None = None,
                 verbose: bool = False) -> Any:
    """A TorchTrainer training ``job`` (a pipeline.runner.Job) as Ray Train run ``run_name`` under ``storage``.

    ``start_from``: a Checkpoint the workers begin from (Train V2 has no ``resume_from_checkpoint``);
    ``gate``: a queue rank 0 waits on after each report (pipeline.sessions.RayTrainSession);
    ``keep_checkpoints``: Train keeps this many (None: all, for a sweep trial whose reports Tune copies).
    """
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    class GanTrainer(TorchTrainer):
        def _register_sigint_handler(self, controller: Any) -> None:  # Ray Train 2.60's hook, main thread only
            import signal

            signal.signal(signal.SIGINT, _on_sigint(controller))

        def _create_default_callbacks(self) -> list:
            from ray.train.v2._internal.callbacks.datasets import DatasetsCallback

            found = super()._create_default_callbacks()
            return found if self.datasets else [cb for cb in found if not isinstance(cb, DatasetsCallback)]

    gpu = gpus_per_worker > 0
    return GanTrainer(
        _worker_loop,
        train_loop_config={"job": dataclasses.asdict(job), "start_from": start_from, "gate": gate},
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers, use_gpu=gpu,
            resources_per_worker={"CPU": cpus_per_worker, **({"GPU": gpus_per_worker} if gpu else {})}),
        run_config=ray.train.RunConfig(
            name=run_name, storage_path=storage, callbacks=callbacks,
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep_checkpoints),
            logging_config=ray.train.LoggingConfig(log_level="INFO" if verbose else "WARNING")),
        datasets=datasets,
    )


def start_autoscaling_coordinator() -> None:
    """Start Ray Train's autoscaling coordinator (a detached actor, one per Ray instance) now, without waiting.

    Train's controller creates it on first use and waits 5 s for its answer; on a fresh local instance of a
    busy machine the new process took longer, and Ray printed "Failed to send resource request ... safe to
    ignore" with a traceback on the user's console (a `make test` run, 2026-12-08). Started here, it has the
    driver's MLflow set-up and the controller's start-up as a head start (`ganarena train` calls it
    right after joining Ray).
    """
    from ray.data._internal.cluster_autoscaler.default_autoscaling_coordinator import (
        get_or_create_autoscaling_coordinator,
    )

    get_or_create_autoscaling_coordinator()


def _on_sigint(controller: Any) -> Any:
    """Ctrl-C: request the controller's abort, then raise KeyboardInterrupt in the driver.

    Ray Train's own handler aborts the controller and then lets ``fit`` return, or calls ``sys.exit(0)``
    when Ray's processes went down with the same Ctrl-C (they share the terminal's process group): the
    process then exited 1 with its MLflow run left RUNNING. Here `ganarena train` gets the interrupt and
    ends the run KILLED (exit 130, "interrupted"); a rerun resumes it.
    """

    def handler(signum: int, frame: Any) -> None:
        with contextlib.suppress(Exception):  # Ray may already be going down with the same Ctrl-C
            controller.abort.remote()
        raise KeyboardInterrupt

    return handler
