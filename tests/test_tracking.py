"""A new workdir's MLflow database is a copy of a cached, fully migrated empty one."""

import sqlite3
import time

from pipeline.tracking import prepare_experiment, template_path


def _query(db, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tables(db) -> set[str]:
    return {r[0] for r in _query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def _alembic(db) -> str:
    return _query(db, "SELECT version_num FROM alembic_version")[0][0]


def test_new_workdirs_copy_the_migrated_template_and_work(tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = tmp_path / "w1"
    prepare_experiment(f"sqlite:///{first / 'mlflow.db'}", "e", first)
    template = template_path()
    assert template.is_file() and template.parent == tmp_path / "cache" / "ganarena"

    second = tmp_path / "w2"
    t = time.perf_counter()
    exp_id = prepare_experiment(f"sqlite:///{second / 'mlflow.db'}", "e", second)
    took = time.perf_counter() - t
    db = second / "mlflow.db"
    assert took < 1.0, took  # MLflow's migrations alone take 1.3 s on an idle 2-CPU box
    assert _tables(db) == _tables(template) and "metrics" in _tables(db)
    assert _alembic(db) == _alembic(template)
    assert not list(second.glob(".*.tmp"))

    client = MlflowClient(f"sqlite:///{db}")
    default = client.get_experiment("0")
    assert default.name == "Default" and default.artifact_location == (second / "mlartifacts" / "0").as_uri()
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "fd", 1.5, step=3)
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "fd")] == [(3, 1.5)]

    prepare_experiment(f"sqlite:///{db}", "e", second)  # an existing database is opened, never replaced
    assert client.get_run(run.info.run_id).data.metrics == {"fd": 1.5}


def test_without_a_usable_cache_mlflow_creates_the_database_itself(tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))  # the cache folder cannot be made
    workdir = tmp_path / "w"
    exp_id = prepare_experiment(f"sqlite:///{workdir / 'mlflow.db'}", "e", workdir)
    assert MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_experiment(exp_id).name == "e"
    assert not list(workdir.glob(".*.tmp")) and not template_path().exists()


def test_a_damaged_template_is_not_copied(tmp_path, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template_path().parent.mkdir(parents=True)
    template_path().write_bytes(b"not a database")
    workdir = tmp_path / "w"
    exp_id = prepare_experiment(f"sqlite:///{workdir / 'mlflow.db'}", "e", workdir)
    assert MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_experiment(exp_id).name == "e"
    assert (workdir / "mlflow.db").read_bytes()[:16] == b"SQLite format 3\x00"
