"""A multi-worker sweep trial: its own TorchTrainer (Train V2), whose reports reach Tune with their checkpoints.

Ray's ``TuneReportCallback`` hands Tune the metrics and only the *path* of each checkpoint, so Tune holds no
checkpoint of such a trial and a population-based scheduler has nothing to clone. Here the Train controller's
callback puts every report (rank 0's metrics and the Checkpoint object) on a queue, and the trial's own
thread passes each to ``ray.tune.report(metrics, checkpoint=...)``: Tune keeps the trial's checkpoints as for
a one-worker trial. Rank 0 then waits until that ``tune.report`` has returned (Tune took the result and
asked for the next): otherwise the workers run on ahead of Tune's decisions, and a member PBT paused at step
100 to clone into had already trained to its end (a test saw no clone in 2 of 3 runs beside another test).

A trial that Tune starts with a checkpoint (a PBT exploit: the donor's; a paused or restored trial: its own)
launches a Train run of its own name for that checkpoint, handed to the workers in ``train_loop_config``
(``resume_from_checkpoint`` is gone in Train V2). A fixed name would make Train restore that run's latest
checkpoint instead, i.e. the recipient's own weights rather than the donor's.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from pipeline.names import name_key


def train_run_name(sweep: str, trial_id: str, start_from: Any) -> str:
    """The Train run of a trial: one per checkpoint it starts from (its path, hashed), none: the trial's own."""
    if start_from is None:
        return name_key(f"{sweep}-{trial_id}")
    return name_key(f"{sweep}-{trial_id}-{hashlib.sha1(str(start_from.path).encode()).hexdigest()[:8]}")


def run_trainer(job: Any, ctx: Any) -> None:
    """Train ``job`` with ``ctx.workers`` Ray Train workers; every report goes on to Tune with its checkpoint."""
    from ray import tune
    from ray.train.v2.api.callback import UserCallback
    from ray.util.queue import Queue

    from pipeline.trainer import make_trainer

    reports: Queue = Queue(actor_options={"num_cpus": 0})
    taken: Queue = Queue(actor_options={"num_cpus": 0})  # rank 0 waits on it after each report

    class ToTune(UserCallback):  # runs in the Train controller actor
        def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
            reports.put((metrics[0], checkpoint))

    start_from = tune.get_checkpoint()
    trainer = make_trainer(job, workers=ctx.workers, cpus_per_worker=ctx.cpus_per_worker,
                           gpus_per_worker=ctx.gpus_per_worker, start_from=start_from, gate=taken,
                           storage=ctx.storage,
                           run_name=train_run_name(ctx.sweep, tune.get_context().get_trial_id(), start_from),
                           callbacks=[ToTune()])
    failure: list[Exception] = []

    def fit() -> None:
        try:
            trainer.fit()
        except Exception as e:  # noqa: BLE001 - any: raised in the trial's thread, after the reports before it
            failure.append(e)
        finally:
            reports.put(None)

    thread = threading.Thread(target=fit, name="trial-trainer", daemon=True)
    thread.start()
    while (item := reports.get()) is not None:
        metrics, checkpoint = item
        tune.report(metrics, checkpoint=checkpoint)  # returns when Tune asks for the next result
        taken.put(True)
    thread.join()
    if failure:
        raise failure[0]
