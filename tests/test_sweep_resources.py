"""Trial resources against the cluster (pipeline.sweep_resources): pure arithmetic over per-node CPUs/GPUs."""

from __future__ import annotations

import pytest

from gan_core.errors import GanConfigError
from pipeline.experiment import SweepConfig
from pipeline.sweep_resources import plan_trials, workers_on

GiB = 2.0**30


def node(cpu: float, gpu: float = 0.0, mem: float = 16 * GiB) -> dict[str, float]:
    return {"CPU": cpu, "GPU": gpu, "memory": mem}


def plan(nodes, **sweep):
    sw = SweepConfig(**sweep)
    sw.validate()
    return plan_trials(sw, nodes)


def refused(nodes, field: str, *words: str, **sweep) -> None:
    with pytest.raises(GanConfigError) as e:
        plan(nodes, **sweep)
    assert e.value.field == field, str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_a_node_holds_as_many_workers_as_its_scarcest_resource_allows() -> None:
    assert workers_on(node(8, 2), 1, 0) == 8
    assert workers_on(node(8, 2), 1, 1) == 2
    assert workers_on(node(8, 2), 1, 0.5) == 4
    assert workers_on(node(8, 2), 3, 0.25) == 2  # CPUs are scarcer
    assert workers_on(node(0.75), 0.25, 0) == 3  # no floating-point loss at the boundary
    assert workers_on(node(8, 0), 1, 1) == 0


def test_one_worker_trials_take_one_cpu_each_by_default() -> None:
    p = plan([node(2)])
    assert (p.concurrent, p.cpus_per_worker, p.threads, p.tune_resources()) == (2, 1.0, 1, {"cpu": 1.0})
    p = plan([node(2), node(2)], cpus_per_worker=0.25)  # the cluster test: 8 trials at once over 2 nodes
    assert (p.concurrent, p.tune_resources()) == (16, {"cpu": 0.25})
    assert plan([node(8)], cpus_per_worker=3).concurrent == 2  # 2 of 3 CPUs on 8; the rest is left idle
    assert plan([node(16)], cpus_per_worker=4).threads == 4


def test_multi_worker_trials_span_nodes_and_share_cpus_fairly_by_default() -> None:
    p = plan([node(2), node(2)], workers_per_trial=2)
    assert (p.concurrent, p.cpus_per_worker, p.tune_resources(), p.worker_resources()) == \
        (2, 1.0, {"cpu": 0, "memory": 2**28}, {"CPU": 1.0})
    p = plan([node(2)], workers_per_trial=4)  # more workers than CPUs: fractions, never a deadlock
    assert (p.concurrent, p.cpus_per_worker) == (1, 0.5)
    p = plan([node(2), node(2)], workers_per_trial=2, cpus_per_worker=2)  # one worker per node
    assert p.concurrent == 1
    assert plan([node(4)], workers_per_trial=2, max_concurrent=1).cpus_per_worker == 1.0


def test_gpus_bound_the_trials_at_once() -> None:
    nodes = [node(16, 1), node(16, 1)]
    p = plan(nodes, workers_per_trial=2, gpus_per_worker=1)
    assert (p.concurrent, p.worker_resources()) == (1, {"CPU": 1.0, "GPU": 1})
    assert plan(nodes, workers_per_trial=2, gpus_per_worker=0.5).concurrent == 2
    p = plan([node(8, 4)], gpus_per_worker=1)
    assert (p.concurrent, p.tune_resources()) == (4, {"cpu": 1.0, "gpu": 1})
    assert plan([node(8, 4)], gpus_per_worker=2).concurrent == 2


def test_max_concurrent_is_the_users_choice() -> None:
    assert plan([node(8)], max_concurrent=3).concurrent == 3


def test_no_gpu_on_the_cluster_is_refused_with_the_field() -> None:
    refused([node(2), node(2)], "sweep.gpus_per_worker", "no GPUs", gpus_per_worker=1)


def test_a_worker_larger_than_every_node_is_refused() -> None:
    refused([node(2), node(4)], "sweep.cpus_per_worker", "largest: 4 CPUs", "<= 4", cpus_per_worker=6)
    refused([node(8, 1), node(8, 2)], "sweep.gpus_per_worker", "largest: 8 CPUs, 2 GPUs", "<= 2",
            gpus_per_worker=3)


def test_a_trial_larger_than_the_cluster_is_refused() -> None:
    refused([node(2), node(2)], "sweep.workers_per_trial", "hold 4", "1..4", workers_per_trial=5, cpus_per_worker=1)
    refused([node(4, 1), node(4, 1)], "sweep.workers_per_trial", "hold 2", workers_per_trial=3, gpus_per_worker=1)
    refused([node(64, mem=2 * GiB)], "sweep.workers_per_trial", "GiB", workers_per_trial=4, cpus_per_worker=1)


@pytest.mark.parametrize("field,value", [("cpus_per_worker", 0), ("cpus_per_worker", -1),
                                         ("cpus_per_worker", float("inf")), ("gpus_per_worker", -0.5),
                                         ("gpus_per_worker", 1.5), ("gpus_per_worker", float("nan"))])
def test_impossible_values_are_refused_before_the_cluster_is_asked(field: str, value: float) -> None:
    with pytest.raises(GanConfigError) as e:
        SweepConfig(**{field: value}).validate()
    assert e.value.field == f"sweep.{field}"
