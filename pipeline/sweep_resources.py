"""How a sweep's trials fit the cluster, decided before anything starts.

A trial is ``sweep.workers_per_trial`` workers of ``sweep.cpus_per_worker`` CPUs and ``sweep.gpus_per_worker``
GPUs each (one worker: the trial trains in its own Tune process; more: the trial starts its own Ray Train
TorchTrainer, and its Tune process, which only waits on it, reserves memory and no CPU: a token 0.01 CPU
left a node 0.99 CPUs, and 2 workers of 1 CPU on two 1-CPU nodes never started). Ray places one worker on
one node, and a trial's workers may span nodes, so the arithmetic is per node: a node of C CPUs and G GPUs holds
``min(C // cpus, G // gpus)`` workers. Plain numbers in, a ``TrialPlan`` or one ``GanConfigError`` out
(tests/test_sweep_resources.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gan_core.errors import GanConfigError
from pipeline.train import WORKER_MEMORY

EPS = 1e-9
DRIVER_MEMORY = 2**28  # the Tune process of a multi-worker trial: Ray needs some non-zero resource to place it


@dataclass(frozen=True)
class TrialPlan:
    workers: int  # Ray Train workers per trial (1: in-process)
    cpus_per_worker: float
    gpus_per_worker: float
    concurrent: int  # trials at a time
    threads: int  # torch threads per worker

    def tune_resources(self) -> dict[str, float]:
        """What Tune reserves for the trial's own process."""
        if self.workers > 1:
            return {"cpu": 0, "memory": DRIVER_MEMORY}
        return {"cpu": self.cpus_per_worker, **({"gpu": self.gpus_per_worker} if self.gpus_per_worker else {})}

    def worker_resources(self) -> dict[str, float]:
        """Ray Train's resources_per_worker of a multi-worker trial."""
        return {"CPU": self.cpus_per_worker, **({"GPU": self.gpus_per_worker} if self.gpus_per_worker else {})}


def workers_on(node: dict[str, float], cpus: float, gpus: float) -> int:
    """How many workers of ``cpus`` CPUs and ``gpus`` GPUs one node holds."""
    fit = math.floor(node.get("CPU", 0.0) / cpus + EPS)
    if gpus > 0:
        fit = min(fit, math.floor(node.get("GPU", 0.0) / gpus + EPS))
    return max(fit, 0)


def _describe(node: dict[str, float]) -> str:
    return f"{node.get('CPU', 0):g} CPUs, {node.get('GPU', 0):g} GPUs"


def plan_trials(sw: Any, nodes: list[dict[str, float]]) -> TrialPlan:
    """The plan of ``sw`` (a SweepConfig) on the alive ``nodes`` (each a dict of CPU, GPU, memory)."""
    w, gpus = sw.workers_per_trial, sw.gpus_per_worker
    total = {k: sum(n.get(k, 0.0) for n in nodes) for k in ("CPU", "GPU", "memory")}
    if gpus > 0 and total["GPU"] <= 0:
        raise GanConfigError("sweep.gpus_per_worker", f"{gpus:g} GPU per worker, the cluster has no GPUs", ["0"])
    cpus = sw.cpus_per_worker
    if cpus is None:  # one worker: 1 CPU; several: as many trials as fit, then share the CPUs fairly (<= 1 each)
        if w == 1:
            cpus = 1.0
        else:
            fit = sw.max_concurrent or max(1, int(total["CPU"] // w))
            cpus = min(1.0, total["CPU"] / (fit * w))
    per_node = [workers_on(n, cpus, gpus) for n in nodes]
    if max(per_node, default=0) == 0:
        biggest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
        field = "sweep.gpus_per_worker" if gpus > 0 and biggest.get("GPU", 0.0) < gpus else "sweep.cpus_per_worker"
        allowed = (f"0 < gpus_per_worker <= {biggest.get('GPU', 0):g}" if field.endswith("gpus_per_worker")
                   else f"0 < cpus_per_worker <= {max(n.get('CPU', 0) for n in nodes):g}")
        raise GanConfigError(field, f"one worker needs {cpus:g} CPUs and {gpus:g} GPUs, more than any node has "
                             f"(the largest: {_describe(biggest)})", allowed)
    room = sum(per_node)
    if room < w:
        raise GanConfigError("sweep.workers_per_trial", f"a trial of {w} workers x ({cpus:g} CPUs, {gpus:g} GPUs) "
                             f"does not fit: the cluster's {len(nodes)} node(s) hold {room} such workers",
                             f"1..{room}")
    if total["memory"] and w * WORKER_MEMORY > total["memory"]:
        raise GanConfigError("sweep.workers_per_trial", f"a trial of {w} workers needs ~{w * WORKER_MEMORY / 2**30:.0f} "
                             f"GiB, the cluster has {total['memory'] / 2**30:.1f} GiB for tasks",
                             f"1..{max(1, int(total['memory'] // WORKER_MEMORY))}")
    concurrent = sw.max_concurrent or max(1, room // w)
    return TrialPlan(workers=w, cpus_per_worker=cpus, gpus_per_worker=gpus, concurrent=concurrent,
                     threads=max(1, int(cpus)))
