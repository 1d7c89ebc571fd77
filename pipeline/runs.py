"""The MLflow bookkeeping of ganarena runs, in one place: the tags we write, the statuses a run ends
with, how a run is found, and the life of a sweep's child runs (created or resumed, then closed).

Every filter string is built here, from ``literal``: a value is either a name's key (pipeline.names),
an MLflow id or one of the fixed words below, so none can break out of its quotes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.names import name_key

# ---------------------------------------------------------------------------- tags
NAME = "ganarena.name"  # a run's or sweep's name as typed (shown)
KEY = "ganarena.key"  # its key (pipeline.names.name_key): what name filters match
ROLE = "ganarena.role"  # a sweep's runs: "parent" or "child"
KIND = "ganarena.kind"  # "train" for `ganarena train`
SWEEP = "ganarena.sweep"  # a child's sweep name
PHASE = "ganarena.phase"  # a child's phase: "search" or "seed"
TRIAL_ID = "ganarena.trial_id"  # a child's Tune trial id
CONFIG_LABEL = "ganarena.config_label"  # a child's configuration, one line (pipeline.sweep_space.label_of)
PARAMS = "ganarena.params"  # a child's sampled parameters, JSON
SEED_INDEX = "ganarena.seed_index"  # a seed re-run's index
STATUS = "ganarena.status"  # how a run ended: one of STATUSES
REASON = "ganarena.reason"  # why it diverged or failed, one line
METRIC = "ganarena.metric"  # a sweep's primary metric
MODE = "ganarena.mode"  # its direction: "min" or "max"
SCHEDULER = "ganarena.scheduler"  # a sweep's search scheduler (sweep.scheduler: asha, pbt, pb2)
COST_OBJECTIVE = "ganarena.cost_objective"  # a multi-objective sweep's cost metric (sweep.objectives)
BEST_CONFIG = "ganarena.best_config"  # a sweep's winner, set by its report
WORKER_NODES = "ganarena.worker_nodes"  # the Ray nodes a run's workers ran on
RESUMED_FROM = "ganarena.resumed_from_step"  # where the latest attempt picked up
CLONE = "ganarena.clone."  # + 7-digit step: a PBT trial took another's checkpoint there (JSON, see record_clone)
PARAMS_START = "ganarena.params_start"  # a PBT trial's parameters before its first clone, JSON
PARENT = "mlflow.parentRunId"  # MLflow's own: nests children under the parent in the UI

# ---------------------------------------------------------------------------- statuses
COMPLETED, PRUNED, DIVERGED, ERROR, INTERRUPTED = "completed", "pruned", "diverged", "error", "interrupted"
# ganarena.status -> the MLflow run status it ends with
STATUSES = {COMPLETED: "FINISHED", PRUNED: "KILLED", DIVERGED: "FAILED", ERROR: "FAILED", INTERRUPTED: "KILLED"}
FINAL = (COMPLETED, PRUNED, DIVERGED)  # a trial with one of these is not trained again on --resume

_SAFE = re.compile(r"[A-Za-z0-9_.~%-]*")  # keys, ids, and the fixed words of this module


def literal(value: str) -> str:
    """``value`` quoted for an MLflow filter. Only keys, ids and fixed words get here; anything else
    (a quote, a backslash, a raw user name) is a bug, refused rather than escaped by guesswork."""
    if not _SAFE.fullmatch(value):
        raise ValueError(f"not a safe MLflow filter literal: {value!r} (filter on the name's key)")
    return f"'{value}'"


def tag_is(tag: str, value: str) -> str:
    return f"tags.`{tag}` = {literal(value)}"


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def all_experiments(c: Any) -> list[str]:
    return [e.experiment_id for e in c.search_experiments()]


# ---------------------------------------------------------------------------- finding runs
def name_tags(name: str) -> dict[str, str]:
    """The tags that name a run: as typed (shown), and its key (searched)."""
    return {NAME: name, KEY: name_key(name)}


def name_filters(name: str) -> list[str]:
    """Filters for runs named ``name``, to try in order: its key tag, then (for a name that is its own key)
    the name tag of runs logged before keys existed."""
    key = name_key(name)
    return [tag_is(KEY, key)] + ([tag_is(NAME, key)] if key == name else [])


def newest(c: Any, experiments: list[str], filters: list[str]) -> Any | None:
    """The newest run matching the first of ``filters`` that matches any."""
    for flt in filters if experiments else []:
        runs = c.search_runs(experiments, flt, max_results=1, order_by=["attributes.start_time DESC"])
        if runs:
            return runs[0]
    return None


def find_run(c: Any, experiment_id: str, name: str, role: str | None = None) -> Any | None:
    """The newest run named ``name`` in the experiment (with ``role``: only a sweep's parent or child)."""
    extra = f" and {tag_is(ROLE, role)}" if role else ""
    return newest(c, [experiment_id], [f + extra for f in name_filters(name)])


def find_by_id_or_name(c: Any, source: str, role: str | None = None) -> Any | None:
    """The run with id ``source``, else the newest run named ``source`` in any experiment (its name tags;
    for a name that is its own key, also MLflow's run name)."""
    from mlflow.exceptions import MlflowException

    if re.fullmatch(r"[0-9a-f]{32}", source):
        try:
            return c.get_run(source)
        except MlflowException:
            pass
    extra = f" and {tag_is(ROLE, role)}" if role else ""
    plain = [f"attributes.run_name = {literal(source)}"] if name_key(source) == source else []
    return newest(c, all_experiments(c), [f + extra for f in name_filters(source) + plain])


PAGE = 1000  # runs per MLflow search request; a sweep's children are read page after page


def children(c: Any, experiment_id: str, parent_id: str, running: bool = False,
             max_results: int | None = None) -> list[Any]:
    """The child runs of a sweep's parent, all of them (``max_results``: at most that many; ``running``: only
    those still RUNNING). Paged: one request for 5,000 once cut a larger sweep's report short silently."""
    flt = f"tags.{PARENT} = {literal(parent_id)}" + (" and attributes.status = 'RUNNING'" if running else "")
    out: list[Any] = []
    token = None
    while max_results is None or len(out) < max_results:
        page = c.search_runs([experiment_id], flt, page_token=token,
                             max_results=PAGE if max_results is None else min(PAGE, max_results - len(out)))
        out += page
        token = page.token
        if not token:
            break
    return out


def child_by_trial(c: Any, trial_id: str) -> Any | None:
    runs = c.search_runs(all_experiments(c), tag_is(TRIAL_ID, trial_id), max_results=1)
    return runs[0] if runs else None


# ---------------------------------------------------------------------------- lifecycles
def create_parent(c: Any, experiment_id: str, name: str, metric: str, mode: str, cost: str | None = None,
                  scheduler: str = "asha") -> str:
    tags = {**name_tags(name), ROLE: "parent", METRIC: metric, MODE: mode, SCHEDULER: scheduler}
    if cost is not None:
        tags[COST_OBJECTIVE] = cost
    return c.create_run(experiment_id, run_name=f"sweep {name}", tags=tags).info.run_id


def child_name(sweep: str, trial_id: str) -> str:
    return f"{sweep}/{trial_id}"


def open_child(c: Any, experiment_id: str, parent_id: str, sweep: str, trial_id: str, params: dict[str, Any],
               label: str, config_label: str, seed_index: int | None) -> str:
    """A new child run of trial ``trial_id`` under the sweep's parent; returns its id."""
    tags = {**name_tags(child_name(sweep, trial_id)), ROLE: "child", PARENT: parent_id,
            PHASE: "seed" if seed_index is not None else "search", TRIAL_ID: trial_id, SWEEP: sweep,
            "loss": params["loss"], "penalty": params["penalty"], CONFIG_LABEL: config_label,
            PARAMS: json.dumps(params, sort_keys=True)}
    if seed_index is not None:
        tags[SEED_INDEX] = str(seed_index)
    return c.create_run(experiment_id, run_name=label, tags=tags).info.run_id


def reopen(c: Any, run_id: str) -> None:
    """A run picked up again (a resumed train run or trial, a resumed sweep's parent) is RUNNING again."""
    c.update_run(run_id, status="RUNNING")


def close(c: Any, run: Any, status: str, reason: str | None = None) -> None:
    """Tag ``run`` with its ganarena status (and reason) and end it with the matching MLflow status if it
    is still RUNNING."""
    c.set_tag(run.info.run_id, STATUS, status)
    if reason is not None:
        c.set_tag(run.info.run_id, REASON, str(reason)[:500])
    if run.info.status == "RUNNING" or c.get_run(run.info.run_id).info.status == "RUNNING":
        c.set_terminated(run.info.run_id, STATUSES[status])


def end_if_running(c: Any, run_id: str, status: str) -> None:
    """Never leave an MLflow run RUNNING after its driver is done with it (``status``: an MLflow status)."""
    if c.get_run(run_id).info.status == "RUNNING":
        c.set_terminated(run_id, status)


# ---------------------------------------------------------------------------- PBT lineage
def record_clone(c: Any, run_id: str, donor_run_id: str, step: int, params: dict[str, Any], label: str) -> None:
    """Trial ``run_id`` continues from ``donor_run_id``'s checkpoint at ``step`` with ``params`` (PBT exploit
    and explore): tag ``ganarena.clone.<step>`` = {"from_run", "from_trial", "step", "params"}; the run's
    params, loss, penalty and label tags now describe ``params`` (its first ones stay in params_start)."""
    run = c.get_run(run_id)
    donor = c.get_run(donor_run_id)
    tags = {f"{CLONE}{int(step):07d}": json.dumps({"from_run": donor_run_id, "from_trial": donor.data.tags.get(TRIAL_ID),
                                                   "step": int(step), "params": params}, sort_keys=True),
            PARAMS: json.dumps(params, sort_keys=True), "loss": params["loss"], "penalty": params["penalty"],
            CONFIG_LABEL: label}
    if PARAMS_START not in run.data.tags:
        tags[PARAMS_START] = run.data.tags.get(PARAMS, "{}")
    from mlflow.entities import RunTag

    c.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def clones(run: Any) -> list[dict[str, Any]]:
    """A run's clone events (record_clone), in step order."""
    return [json.loads(v) for k, v in sorted(run.data.tags.items()) if k.startswith(CLONE)]


def start_params(run: Any) -> dict[str, Any]:
    """The parameters a (PBT) trial started with."""
    return json.loads(run.data.tags.get(PARAMS_START) or run.data.tags.get(PARAMS, "{}"))
