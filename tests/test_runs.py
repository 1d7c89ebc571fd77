"""pipeline.runs: the one home of ganarena's MLflow bookkeeping, on a real SQLite MLflow database."""

import pytest

from pipeline import runs
from pipeline.tracking import prepare_experiment


@pytest.fixture
def mlflow_db(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, prepare_experiment(uri, "s", tmp_path)


def test_filter_literals_are_keys_ids_or_fixed_words() -> None:
    assert runs.literal("ab12_3%27x") == "'ab12_3%27x'"
    for bad in ("it's", "a\\b", "x' or '1'='1", "naïve", "a b"):
        with pytest.raises(ValueError, match="not a safe MLflow filter literal"):
            runs.literal(bad)
    assert runs.name_filters("it's ☃") == ["tags.`ganarena.key` = 'it%27s%20%E2%98%83'"]  # by its key only
    assert runs.name_filters("plain-name") == ["tags.`ganarena.key` = 'plain-name'",
                                               "tags.`ganarena.name` = 'plain-name'"]  # and runs from before keys


def test_a_sweeps_child_runs_from_creation_to_their_final_status(mlflow_db) -> None:
    uri, exp = mlflow_db
    c = runs.client(uri)
    parent = runs.create_parent(c, exp, "it's a sweep", "fd", "min")
    assert runs.find_run(c, exp, "it's a sweep", role="parent").info.run_id == parent
    assert runs.find_run(c, exp, "it's a sweep", role="child") is None
    params = {"loss": "ns", "penalty": "r1", "penalty_weight": 1.0}
    ids = {t: runs.open_child(c, exp, parent, "it's a sweep", t, params, f"ns+r1 {t}", "ns+r1", None)
           for t in ("t1", "t2", "t3")}
    seed = runs.open_child(c, exp, parent, "it's a sweep", "t4", params, "ns+r1 seed 0", "ns+r1", 0)
    kid = c.get_run(ids["t1"])
    assert kid.data.tags[runs.PARENT] == parent and kid.data.tags[runs.PHASE] == "search"
    assert c.get_run(seed).data.tags[runs.SEED_INDEX] == "0" and c.get_run(seed).data.tags[runs.PHASE] == "seed"
    assert runs.find_run(c, exp, runs.child_name("it's a sweep", "t2")).info.run_id == ids["t2"]
    assert runs.child_by_trial(c, "t3").info.run_id == ids["t3"] and runs.child_by_trial(c, "t9") is None

    runs.close(c, runs.child_by_trial(c, "t1"), runs.COMPLETED)
    runs.close(c, runs.child_by_trial(c, "t2"), runs.DIVERGED, "step 50: d_loss became non-finite")
    runs.close(c, runs.child_by_trial(c, "t3"), runs.PRUNED)
    got = {r.data.tags[runs.TRIAL_ID]: (r.data.tags.get(runs.STATUS), r.info.status)
           for r in runs.children(c, exp, parent)}
    assert got == {"t1": ("completed", "FINISHED"), "t2": ("diverged", "FAILED"), "t3": ("pruned", "KILLED"),
                   "t4": (None, "RUNNING")}
    assert c.get_run(ids["t2"]).data.tags[runs.REASON].startswith("step 50")
    assert [r.data.tags[runs.TRIAL_ID] for r in runs.children(c, exp, parent, running=True)] == ["t4"]
    runs.reopen(c, ids["t3"])
    assert c.get_run(ids["t3"]).info.status == "RUNNING"
    runs.end_if_running(c, ids["t3"], "KILLED")
    runs.end_if_running(c, ids["t1"], "FAILED")  # already ended: left as it was
    assert (c.get_run(ids["t3"]).info.status, c.get_run(ids["t1"]).info.status) == ("KILLED", "FINISHED")


def test_a_run_is_found_by_id_or_by_any_name(mlflow_db) -> None:
    uri, exp = mlflow_db
    c = runs.client(uri)
    odd = c.create_run(exp, run_name="a'b/../c", tags=runs.name_tags("a'b/../c")).info.run_id
    plain = c.create_run(exp, run_name="plain").info.run_id  # no name tags: found by MLflow's run name
    assert runs.find_by_id_or_name(c, "a'b/../c").info.run_id == odd
    assert runs.find_by_id_or_name(c, odd).info.run_id == odd
    assert runs.find_by_id_or_name(c, "plain").info.run_id == plain
    assert runs.find_by_id_or_name(c, "nobody") is None
    assert runs.find_by_id_or_name(c, "0" * 32) is None


def test_a_sweeps_children_are_all_read_page_after_page(mlflow_db, monkeypatch) -> None:
    """More children than one search request returns (PAGE, 2 here): every one, each once."""
    uri, exp = mlflow_db
    c = runs.client(uri)
    parent = runs.create_parent(c, exp, "big", "fd", "min")
    params = {"loss": "ns", "penalty": "none"}
    ids = {runs.open_child(c, exp, parent, "big", f"t{i}", params, f"ns {i}", "ns", None) for i in range(5)}
    c.set_terminated(next(iter(ids)), "FINISHED")
    monkeypatch.setattr(runs, "PAGE", 2)
    got = [r.info.run_id for r in runs.children(c, exp, parent)]
    assert sorted(got) == sorted(ids)
    assert len(runs.children(c, exp, parent, max_results=3)) == 3
    assert len(runs.children(c, exp, parent, running=True)) == 4
