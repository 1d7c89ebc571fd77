"""Classes of hostile input, generated rather than enumerated (hypothesis).

Every example is a small valid config with one or more fields replaced by a hostile value drawn for
that field's class of input (wrong types, non-finite and extreme numbers, unicode and control
characters, huge sizes, nested structures), given either in the YAML file or as ``--set key=value``.
The driver of ``ganarena train``/``sweep`` must either accept it, reaching the point where Ray would
start (replaced here by a sentinel, so nothing is ever trained), or refuse it with exit status 2 and
ONE stderr line naming a field; in both cases nothing may be written (no workdir, no database).
Any other outcome (a traceback, a MemoryError, a second line, a file written) fails the test with the
example that caused it. Runs in-process, before Ray: the whole module takes well under a minute.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest
import yaml
from driver_only import RayWouldStart, install
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_core.config import GanConfig
from pipeline.cli import main
from pipeline.experiment import SweepConfig

REPO = Path(__file__).resolve().parents[1]
# small valid starting points of each data kind: toy points, 8x8 images, oracle text
BASES = {
    "toy": {"name": "toy", "data": {"name": "ring8", "n_samples": 256},
            "generator": {"arch": "mlp", "z_dim": 2, "width": 16, "depth": 1},
            "discriminator": {"arch": "mlp", "width": 16, "depth": 1},
            "train": {"steps": 2, "batch_size": 16}, "eval": {"samples": 64}},
    "image": {"name": "img", "data": {"name": "digits"},
              "generator": {"arch": "dcgan", "z_dim": 8, "width": 8},
              "discriminator": {"arch": "dcgan", "width": 8},
              "train": {"steps": 2, "batch_size": 16}, "eval": {"samples": 64}},
    "text": {"name": "txt", "data": {"name": "oracle", "vocab_size": 50, "seq_len": 6, "n_samples": 64},
             "generator": {"arch": "lstm-gumbel", "width": 8, "embed_dim": 8},
             "discriminator": {"arch": "text-cnn", "width": 4, "depth": 1, "embed_dim": 8},
             "train": {"steps": 2, "batch_size": 16}, "eval": {"samples": 32}},
}


def _leaves(cls: type, prefix: str = "") -> dict[str, typing.Any]:
    """Dotted path -> type annotation of every leaf field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    out: dict[str, typing.Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.update(_leaves(tp, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = tp
    return out


FIELDS = {**_leaves(GanConfig), **{f"sweep.{k}": v for k, v in _leaves(SweepConfig).items()}}
MAPPINGS = {p for p, tp in FIELDS.items() if typing.get_origin(tp) is dict}  # their keys are the user's names

HUGE_INTS = [-(2**63), -(2**31), -1, 0, 2**31, 2**40, 2**63, 10**30]
ODD_FLOATS = [math.nan, math.inf, -math.inf, -1e308, 1e308, 5e-324, -0.0, 1.0000000000000002, 0.9999999999999999]
ODD_TEXT = ["", " ", "\u2603 uni", "a\x00b", "a\x1b[2Jb", "../../etc", "it's \"quoted\"", "\ud7ff" * 300,
            "x" * 5000, "null", "~", "yes", "0x10", "1e3", ".nan", "!!python/object:os.system ls"]


def _hostile_for(tp: typing.Any) -> st.SearchStrategy:
    """Values of the class a field of type ``tp`` is most likely to mishandle, plus any YAML value at all."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    scalars = st.one_of(st.sampled_from(HUGE_INTS), st.integers(-5, 70), st.sampled_from(ODD_FLOATS),
                        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(ODD_TEXT),
                        st.text(max_size=12), st.booleans(), st.none())
    structures = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
    if origin is typing.Literal:
        specific = st.sampled_from(list(args)) | st.sampled_from(ODD_TEXT)
    elif origin in (tuple, list):
        specific = st.lists(scalars, max_size=5)
    elif tp is int or int in args:
        specific = st.sampled_from(HUGE_INTS) | st.integers(-5, 70)
    elif tp is float or float in args:
        specific = st.sampled_from(ODD_FLOATS) | st.floats(allow_nan=True, allow_infinity=True)
    elif tp is str or str in args:
        specific = st.sampled_from(ODD_TEXT) | st.text(max_size=40)
    else:
        specific = scalars
    return st.one_of(specific, specific, structures)


@st.composite
def mutated(draw) -> tuple[str, dict, list[str]]:
    """(base kind, config dict with hostile fields, --set overrides with hostile values)."""
    kind = draw(st.sampled_from(sorted(BASES)))
    cfg = yaml.safe_load(yaml.safe_dump(BASES[kind]))  # a deep copy
    in_file = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=0, max_size=3, unique=True))
    for path in in_file:
        node = cfg
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else node
        node[leaf] = draw(_hostile_for(FIELDS[path]))
    sets = []
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2, unique=True)):
        value = draw(_hostile_for(FIELDS[path]))
        text = draw(st.sampled_from([yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")]
                                    + ODD_TEXT[:6]))
        sets += ["--set", f"{path}={text}"]
    if draw(st.booleans()):  # an odd --set key too: unknown, empty part, not dotted, unicode
        sets += ["--set", draw(st.sampled_from(["=1", "train..steps=1", "nope.x=1", "\u2603=1", "train.steps",
                                                "seed.x=1", "data=[1]"]))]
    return kind, cfg, sets


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch, no_ambient_tracking_uri):
    install(monkeypatch)


def _check(command: str, cfg: dict, sets: list[str], tmp: Path, capsys) -> None:
    import shutil

    for p in tmp.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    config = tmp / "c.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    workdir = tmp / "w"
    capsys.readouterr()
    try:
        rc = main([command, str(config), "--workdir", str(workdir), *sets])
    except RayWouldStart:
        rc = None
    err = capsys.readouterr().err.strip().splitlines()
    assert sorted(p.name for p in tmp.iterdir()) == ["c.yaml"], "something was written before Ray started"
    if rc is None:  # accepted: a valid config (hostile values can be valid ones)
        return
    assert rc == 2, (rc, err)
    assert len(err) == 1 and err[0].startswith(f"ganarena {command}: error: "), err
    field = err[0].removeprefix(f"ganarena {command}: error: ").split(": ", 1)[0]
    keys = [s.split("=", 1)[0].split(".") for s in sets if s != "--set"]
    given = {".".join(k[:i]) for k in keys for i in range(1, len(k) + 1)}  # a --set key and its sections
    known = {*FIELDS, *(p.rsplit(".", 1)[0] for p in FIELDS), *given, str(config)}
    head = field.split("[")[0].split("/")[0]
    under_mapping = any(head.startswith(m + ".") for m in MAPPINGS)
    assert head in known or under_mapping or field.startswith("--set"), f"names no field: {err[0]}"


PROFILE = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.timeout(300)
@PROFILE
@given(example=mutated())
def test_train_accepts_or_refuses_any_config_in_one_line(example, tmp_path, capsys) -> None:
    _kind, cfg, sets = example
    _check("train", cfg, sets, tmp_path, capsys)


@pytest.mark.timeout(300)
@settings(PROFILE, max_examples=100)
@given(example=mutated())
def test_sweep_accepts_or_refuses_any_config_in_one_line(example, tmp_path, capsys) -> None:
    _kind, cfg, sets = example
    _check("sweep", cfg, sets, tmp_path, capsys)
