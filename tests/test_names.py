"""Run names are any text a user types: nothing it contains can leave the workdir, break an MLflow
filter or reach Ray's ASCII-only metric tags. Each name has one escaped form (pipeline.names.name_key)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipeline.cli import main
from pipeline.names import MAX_KEY, check_name, name_key

REPO = Path(__file__).resolve().parents[1]
HOSTILE = ["../../x", "..", ".", ".hidden", "a/b\\c", "it's", 'say "hi"', "both ' and \"", "uni \u2603 \u540d\u524d",
           "%2F", "~", "-rf", "name with  spaces", "tab\tless?*<>|:", "\u00e9" * 33]


@pytest.mark.parametrize("name", HOSTILE)
def test_key_is_one_safe_ascii_path_component_that_round_trips(name: str) -> None:
    key = name_key(name)
    assert re.fullmatch(r"[A-Za-z0-9_.~%-]+", key), key  # no separators, quotes, spaces or non-ASCII
    assert not key.startswith(".") and key not in (".", "..")
    assert unquote(key) == name  # distinct names never share a key
    assert Path("w", key).parent == Path("w") and len(key.encode()) <= 255


def test_names_that_are_already_safe_keep_their_form() -> None:
    for name in ("toy_ring", "demo-2", "run.3"):
        assert name_key(name) == name  # paths and runs from before keys existed are found again


def test_check_name_accepts_any_printable_text_and_bounds_the_key() -> None:
    for name in HOSTILE:
        if "\t" not in name:
            assert check_name("--name", name) == name
    for too_long in ("x" * (MAX_KEY + 1), "\u00e9" * 34):  # 204 bytes escaped
        with pytest.raises(ValueError, match="--name: .*too long"):
            check_name("--name", too_long)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_hostile_name_trains_resumes_and_is_found(ray_local, no_ambient_tracking_uri, tmp_path) -> None:
    """Traversal, both quotes and non-ASCII in one --name: the run trains, everything it writes stays in
    the workdir, a rerun finds it (already finished), `sample` finds it by name, `report` refuses it."""
    name = "../../it's \"uni \u2603\""
    outer = tmp_path / "outer"
    workdir = outer / "a" / "b" / "w"
    workdir.mkdir(parents=True)
    sets = ["--set", "train.steps=4", "--set", "eval.every=4", "--set", "train.ckpt_every=4",
            "--set", "train.log_every=2", "--set", "eval.samples=100", "--set", "data.n_samples=500"]
    train = ("train", str(REPO / "configs" / "toy_ring.yaml"), "--workdir", str(workdir), "--name", name, *sets)
    rc, out, err = _cli(*train)
    assert rc == 0, err[-3000:]
    assert f"{name}: FINISHED" in out
    assert sorted(p.name for p in outer.rglob("*") if workdir not in (p, *p.parents)) == ["a", "b"]
    assert (workdir / "ray" / name_key(name)).is_dir()

    rc, out, err = _cli(*train)
    assert rc == 0 and "already finished" in out, out + err
    run_id = re.search(r"MLflow run ([0-9a-f]{32})", out).group(1)

    rc, out, err = _cli("sample", name, "--n", "8", "--out", str(workdir / "s.npy"), "--workdir", str(workdir))
    assert rc == 0, err[-3000:]
    assert (workdir / "s.npy").is_file()

    rc, out, err = _cli("report", run_id, "--workdir", str(workdir))
    assert rc == 2 and "is not a sweep" in err and len(err.strip().splitlines()) == 1, err
    assert not (workdir / "reports").exists()
