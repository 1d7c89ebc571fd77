"""How a sweep phase's trials end: each child run closed with its final status (as Tune ends a trial and after
the phase), a Ctrl-C that stops the sweep, users' errors raised as one line, checkpoints pruned to the last,
and orphaned runs of trials Tune forgot deleted. Used by ``pipeline.sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import runs
from pipeline.progress import SweepProgress


def stop_if_interrupted(client: Any, grid: Any, expected: int, exp_id: str, parent_id: str) -> None:
    """Tune's fit returns normally after Ctrl-C, with trials unfinished: stop the sweep there (and do not
    label those trials, nor start the next phase); ``--resume`` finishes them in the same MLflow runs."""
    if grid.num_terminated + grid.num_errors >= max(expected, len(grid)):
        return
    for run in runs.children(client, exp_id, parent_id, running=True):
        runs.close(client, run, runs.INTERRUPTED)
    client.set_terminated(parent_id, "KILLED")
    raise KeyboardInterrupt("sweep interrupted; finish it with --resume")


def prune_checkpoints(grid: Any) -> None:
    """Delete every checkpoint of a finished phase but each trial's last (on any storage filesystem)."""
    from pyarrow import fs as pafs

    for res in grid:
        if res.checkpoint is None:
            continue
        keep = res.checkpoint.path.rstrip("/")
        for info in res.filesystem.get_file_info(pafs.FileSelector(res.path)):
            if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_") \
                    and info.path.rstrip("/") != keep:
                res.filesystem.delete_dir(info.path)


def drop_orphans(client: Any, exp_id: str, parent_id: str, known: set[str]) -> None:
    """Delete child runs of trials Tune no longer knows (the driver was killed after a trial started but
    before Tune saved its state; on resume Tune creates that trial afresh): no orphan stays RUNNING."""
    for r in runs.children(client, exp_id, parent_id):
        if r.data.tags.get(runs.TRIAL_ID) not in known:
            client.set_terminated(r.info.run_id, "KILLED")
            client.delete_run(r.info.run_id)


def finish_children(client: Any, grid: Any, metric: str, steps: int) -> list[dict[str, Any]]:
    """Give every child run its final status (completed / pruned / diverged / error); none stays RUNNING."""
    rows = []
    for res in grid:
        m = res.metrics or {}
        trial_id = m.get("trial_id") or Path(res.path).name.split("_")[1]  # folder: trial_<id>_<number>
        child = runs.child_by_trial(client, trial_id)
        status = close_child(client, child, m, res.error, steps)
        cfg = res.config or {}
        params = cfg.get("run", {}).get("params") or dict(cfg)
        rows.append({"trial_id": trial_id, "status": status, "params": params, "score": m.get(metric),
                     "child": child.info.run_id if child else None})
    return rows


def close_child(client: Any, child: Any, metrics: dict[str, Any], error: Any, steps: int) -> str:
    """Tag a child run with its final status (from Tune's last result) and end it if still RUNNING;
    returns the status."""
    if metrics.get("diverged"):
        status = runs.DIVERGED
    elif error is not None:
        status = runs.ERROR
    elif metrics.get("step", 0) < steps:
        status = runs.PRUNED
    else:
        status = runs.COMPLETED
    if child is not None:
        runs.close(client, child, status, None if error is None else str(error))
    return status


def close_on_complete(uri: str, steps: int, progress: SweepProgress) -> Any:
    """A Tune callback that closes a trial's child run as soon as Tune ends the trial (ASHA stop, finish,
    error) and prints its progress line: the MLflow UI shows it final at once, and a resumed sweep whose
    saved Tune state lags behind still finds the trial finished in MLflow (``_trial`` then does not train
    it again)."""
    from ray import tune

    class CloseChild(tune.Callback):
        def _close(self, trial: Any, error: Any, trials: list) -> None:
            client = runs.client(uri)
            status = close_child(client, runs.child_by_trial(client, trial.trial_id), trial.last_result or {},
                                  error, steps)
            progress.trial_ended(trial, status, trials)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._close(trial, None, trials)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._close(trial, error_line(trial), trials)

    return CloseChild()


def error_line(trial: Any) -> str:
    """One line for a failed trial: the user's error when it was one, else where Tune wrote the traceback."""
    from pipeline.rayctl import user_error

    try:
        mine = user_error(trial.get_pickled_error())
    except Exception:  # noqa: BLE001 - an error Tune could not pickle: its text file stays the record
        mine = None
    return str(mine) if mine is not None else (trial.error_file or "trial failed")


def raise_user_error(client: Any, grid: Any, parent_id: str) -> None:
    """When every trial of a phase failed and one failure was the user's input, stop with that one line."""
    from pipeline.rayctl import user_error

    if len(grid) == 0 or any(res.error is None for res in grid):
        return
    for res in grid:
        mine = user_error(res.error)
        if mine is not None:
            client.set_terminated(parent_id, "FAILED")
            raise mine
