"""The config is strict: unknown keys, wrong types and bad values name the field and what is allowed."""

import pytest

from gan_core.config import GanConfig, from_dict, load_config, to_dict
from gan_core.errors import GanConfigError


@pytest.mark.parametrize("data,field,allowed", [
    ({"loss": {"name": "wasserstein"}}, "loss.name", "'hinge'"),
    ({"penalty": {"name": "gp"}}, "penalty.name", "'wgan-gp'"),
    ({"trian": {}}, "trian", "train"),
    ({"train": {"stpes": 3}}, "train.stpes", "steps"),
    ({"train": {"steps": "many"}}, "train.steps", None),
    ({"train": {"steps": 2.5}}, "train.steps", None),
    ({"train": {"n_critic": 0}}, "train.n_critic", None),
    ({"train": {"amp": "fp8"}}, "train.amp", "'bf16'"),
    ({"penalty": {"name": "r1", "weight": -1}}, "penalty.weight", None),
    ({"penalty": {"name": "r1", "weight": "heavy"}}, "penalty.weight", None),
    ({"optim": {"lr_g": 0}}, "optim.lr_g", None),
    ({"optim": {"betas_d": [0.5]}}, "optim.betas_d", None),
    ({"data": {"conditional": "yes"}}, "data.conditional", None),
    ({"data": {"channels": 2}}, "data.channels", "3"),
    ({"loss": {"name": "wgan", "label_smoothing": 0.1}}, "loss.label_smoothing", "ns"),
    ({"train": {"ema_decay": 1.0}}, "train.ema_decay", None),
    ({"train": {"steps": True}}, "train.steps", None),
])
def test_bad_values_name_the_field(data, field, allowed) -> None:
    with pytest.raises(GanConfigError) as e:
        load_config(data)
    msg = str(e.value)
    assert msg.startswith(field + ":"), msg
    if allowed:
        assert allowed in msg


def test_defaults_and_partial_config() -> None:
    cfg = load_config({"loss": {"name": "hinge"}, "optim": {"lr_d": "4e-4"}})
    assert cfg.loss.name == "hinge" and cfg.optim.lr_d == 4e-4 and cfg.train.n_critic == 1
    assert cfg.optim.betas_g == (0.5, 0.999)


def test_round_trip_through_plain_dict() -> None:
    cfg = load_config({"penalty": {"name": "r1", "weight": 3.0}, "optim": {"betas_g": [0.0, 0.9]}})
    assert from_dict(GanConfig, to_dict(cfg)) == cfg


def test_overrides_and_yaml_files(tmp_path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("loss:\n  name: ns\ntrain:\n  steps: 10\n")
    cfg = load_config(p, ["loss.name=lsgan", "penalty.name=r1", "penalty.weight=0.5"])
    assert (cfg.loss.name, cfg.penalty.name, cfg.penalty.weight, cfg.train.steps) == ("lsgan", "r1", 0.5, 10)
    with pytest.raises(GanConfigError, match="--set"):
        load_config(p, ["loss.name"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss:\n  name: [ns\n")
    with pytest.raises(GanConfigError, match="YAML syntax error at line"):
        load_config(bad)
    with pytest.raises(GanConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
