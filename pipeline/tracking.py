"""MLflow: the tracking URI, experiment set-up in the driver, and a buffered logger for rank 0.

Metrics are buffered and written with ``log_batch`` only when a checkpoint is reported (and at
the end), so a run restarted from its latest checkpoint never logs the same step twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gan_core.errors import GanConfigError

SECRET_RE = re.compile(r"(?i)(token|secret|password|passwd|api[_-]?key|credential|auth)")


def default_workdir() -> Path:
    """Where runs, the MLflow database and Ray results live: $GANARENA_HOME or ./runs."""
    return Path(os.environ.get("GANARENA_HOME", "runs")).resolve()


def resolve_tracking_uri(uri: str | None, workdir: Path) -> str:
    """An absolute URI: given > $MLFLOW_TRACKING_URI > sqlite:///<workdir>/mlflow.db (embedded)."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = f"sqlite:///{(workdir / 'mlflow.db').resolve()}"
    if uri.startswith("sqlite:///"):
        check_database(Path(uri[len("sqlite:///"):]))
        return uri
    if uri.startswith(("http://", "https://", "postgresql", "mysql")):
        check_server(uri)
        return uri
    raise GanConfigError("--tracking-uri", f"unsupported MLflow URI {uri!r}",
                         ["sqlite:///ABS/PATH.db", "http://HOST:PORT", "postgresql://..."])


PROBE_TIMEOUT_S = 5.0
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}  # MLflow's: 7 and 120


def check_server(uri: str) -> None:
    """A tracking server or database must answer before anything else: one TCP connect, at most 5 s.

    MLflow's own client retries an unreachable server for minutes (7 retries with backoff, 120 s per
    request); every command caps that (``HTTP_LIMITS``, unless the user set them) and probes first, so
    a wrong or dead ``--tracking-uri`` is one line within seconds for train, sweep, report, sample and evaluate.
    """
    import socket
    from urllib.parse import urlsplit

    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)
    parts = urlsplit(uri)
    default = {"http": 80, "https": 443, "mysql": 3306}.get(parts.scheme.split("+")[0], 5432)
    try:
        host, port = parts.hostname, parts.port or default
    except ValueError as e:  # a port that is not a number
        raise GanConfigError("--tracking-uri", f"{uri!r}: {e}", ["http://HOST:PORT"]) from None
    if not host:
        return  # e.g. a database reached through a local socket: MLflow's own error says more
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise GanConfigError("--tracking-uri", f"cannot reach MLflow at {uri} ({e.strerror or type(e).__name__} "
                             f"at {host}:{port})") from None


def check_database(db: Path) -> None:
    """An existing SQLite file must be an MLflow database: a corrupt or foreign file is refused (read-only,
    so it is never overwritten) instead of failing deep inside SQLAlchemy."""
    if not db.is_file():
        return
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.OperationalError:  # locked or busy: a live database; MLflow waits for it
        return
    except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
        raise GanConfigError(str(db), f"not a readable MLflow database ({e})",
                             "the mlflow.db ganarena made (move this file away), or another --workdir") from None
    if db.stat().st_size and "experiments" not in tables:
        raise GanConfigError(str(db), "an SQLite database without MLflow's tables",
                             "the mlflow.db ganarena made, or another --workdir") from None


def database_missing(uri: str) -> bool:
    """An embedded (SQLite) URI whose database file does not exist: a lookup must not create it."""
    return uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file()


UI_VIEW = "ganarena"  # the shared view of the runs table that `ganarena ui` links to


def ui_view_tags(metric: str | None) -> dict[str, str]:
    """Experiment tags that make MLflow 3.17's UI show training runs with our columns: the experiment kind
    (model training, not GenAI) and a shared view, ``mlflow.sharedViewState.<key>``, which the runs page
    loads for ``?viewStateShareKey=<key>`` (its columns: the primary metric and its best value, the loss, the
    penalty and its weight, and the CPU cost)."""
    columns = ([f"metrics.`{metric}`", f"metrics.`best_{metric}`"] if metric else []) + [
        "params.`loss.name`", "params.`penalty.name`", "params.`penalty.weight`", "metrics.`cost_cpu_s`"]
    view = {"name": "ganarena: quality, loss, penalty, cost", "createdAt": 0, "updatedAt": 0,
            "state": json.dumps({"selectedColumns": columns})}
    return {"mlflow.experimentKind": "custom_model_development", f"mlflow.sharedViewState.{UI_VIEW}": json.dumps(view)}


def ui_link(base: str, experiment_id: str) -> str:
    """The runs table of an experiment in the training view with our columns (``ui_view_tags``)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={UI_VIEW}"


def prepare_experiment(uri: str, experiment: str, workdir: Path, metric: str | None = None) -> str:
    """Create (or find) the experiment from the driver, before any worker writes; returns its id. Its UI view
    (``ui_view_tags``: ``metric`` is the primary metric) is set on it each time.

    An unreachable server or unwritable database is a GanConfigError naming the URI.
    """
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GanConfigError("--workdir", f"cannot create {db.parent}: {e.strerror}") from None
        if not os.access(db.parent, os.W_OK):
            raise GanConfigError("--workdir", f"{db.parent} is not writable")
        if not db.exists():
            new_database(db)
    # no mlflow.set_tracking_uri here: it also sets $MLFLOW_TRACKING_URI, which would send the
    # next in-process run with another --workdir to this database
    client = MlflowClient(uri)
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is not None:
            exp_id = exp.experiment_id
        else:
            location = (workdir / "mlartifacts").resolve().as_uri() if uri.startswith("sqlite:") else None
            exp_id = client.create_experiment(experiment, artifact_location=location)
        for key, value in ui_view_tags(metric).items():
            client.set_experiment_tag(exp_id, key, value)
        return exp_id
    except Exception as e:  # noqa: BLE001 - connection/DB errors have many types
        raise GanConfigError("--tracking-uri", f"cannot reach MLflow at {uri} ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None


def template_path() -> Path:
    """The empty, fully migrated MLflow database that new workdirs copy, one per MLflow version."""
    import mlflow

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganarena"
    return cache / f"mlflow-{mlflow.__version__}-empty.db"


def new_database(db: Path) -> None:
    """Create the SQLite database ``db`` as a copy of the cached empty one (made on first use).

    MLflow builds a new database by running all its schema migrations: 1.3 s on an idle 2-CPU box,
    about 3 s under load, paid by every new --workdir. The copy takes milliseconds. Its Default
    experiment is pointed at <workdir>/mlartifacts/0, beside the experiments ganarena creates.
    This only saves time: if anything fails (no writable cache, no hard links), MLflow creates the
    database itself as before.
    """
    template = template_path()
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    try:
        if not template.is_file():
            _make_template(template)
        shutil.copyfile(template, tmp)
        con = sqlite3.connect(tmp)
        try:
            with con:
                con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                            ((db.parent / "mlartifacts" / "0").resolve().as_uri(),))
        finally:
            con.close()
        os.link(tmp, db)  # never replaces a database another process created meanwhile
    except Exception:  # noqa: BLE001, S110 - an optimisation only: fall back to MLflow's own creation
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _make_template(template: Path) -> None:
    from mlflow.tracking import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    part = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    try:
        MlflowClient(f"sqlite:///{part}").search_experiments()  # runs the migrations
        os.replace(part, template)  # whole or not at all, also with several processes at once
    finally:
        part.unlink(missing_ok=True)


def safe_params(flat: dict[str, Any]) -> dict[str, str]:
    """Config values as MLflow params, dropping anything whose key looks like a secret."""
    return {k: str(v)[:500] for k, v in flat.items() if not SECRET_RE.search(k)}


def git_commit() -> str:
    """The project's git commit, or 'unknown' outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``log_model``, ``models:/`` URIs) on ``uri`` (tracking and registry) for the block,
    then exactly as before: ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI, which would leak
    into every later command and subprocess of this process."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    saved = tracking._tracking_uri, registry._registry_uri
    env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking._tracking_uri, registry._registry_uri = saved
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class RunLogger:
    """Rank-0 MLflow logging for one run, through MlflowClient (no global active-run state)."""

    def __init__(self, uri: str, run_id: str):
        from mlflow.tracking import MlflowClient

        self.uri, self.run_id = uri, run_id
        self.client = MlflowClient(uri)
        self._buffer: list[Any] = []
        # Steps already in the run (a restarted worker or trial): never log a step twice.
        self._floor = {k: max((m.step for m in self.client.get_metric_history(run_id, k)), default=-1)
                       for k in self.client.get_run(run_id).data.metrics}

    def metrics(self, values: dict[str, float], step: int) -> None:
        """Buffer metrics for ``step``; written by ``flush``."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        self._buffer += [Metric(k, float(v), ts, step) for k, v in values.items() if step > self._floor.get(k, -1)]

    def flush(self) -> None:
        """Write buffered metrics in batches of 1000 (MLflow's log_batch limit)."""
        while self._buffer:
            chunk, self._buffer = self._buffer[:1000], self._buffer[1000:]
            self.client.log_batch(self.run_id, metrics=chunk)

    def drop_unflushed(self) -> None:
        self._buffer.clear()

    def params(self, values: dict[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        items = [Param(k, v) for k, v in safe_params(values).items() if k not in existing]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def tags(self, values: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in values.items()])

    def artifact(self, path: str | Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_dir)

    def checkpoint(self, path: Path, name: str) -> None:
        """Log a checkpoint file as checkpoints/<name> (replacing the previous one of that name)."""
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / name
            shutil.copy2(path, dst)
            self.client.log_artifact(self.run_id, str(dst), "checkpoints")

    def text(self, text: str, name: str) -> None:
        self.client.log_text(self.run_id, text, name)

    def model(self, module: Any, name: str = "generator") -> None:
        """The generator as an MLflow PyTorch model (pip requirements given, so nothing is inferred)."""
        import logging

        import mlflow
        import mlflow.pytorch

        # We choose pickle on purpose (pt2 needs a traced input); MLflow warns about it on every call.
        logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(run_id=self.run_id):
            mlflow.pytorch.log_model(module, name=name, pip_requirements=["torch", "ganarena"],
                                     serialization_format="pickle")

    def end(self, status: str = "FINISHED") -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status)
