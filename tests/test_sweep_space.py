"""The sweep's search space over augmentation and LeCam: what Optuna samples, and the configs it makes."""

from __future__ import annotations

import math

import optuna
import pytest

from gan_core.config import GanConfig, from_dict, to_dict
from gan_core.errors import GanConfigError
from pipeline.experiment import SweepConfig
from pipeline.sweep import SweepContext
from pipeline.sweep_space import Space, apply_params, label_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _base(policy: list[str] | None = None) -> dict:
    cfg = GanConfig()
    cfg.data.name = "digits"
    cfg.augment.policy = list(policy or [])
    return to_dict(cfg)


def _sample(sw: SweepConfig, base: dict, n: int = 60) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = Space(sw, SweepContext(base=base, uri="", exp_id="", parent="", sweep="s", metric="fd", mode="min",
                                   workers=1, cpus_per_worker=1.0, threads=1, storage=""))
    out = []
    for _ in range(n):
        trial = study.ask()
        space(trial)
        out.append(dict(trial.params))
        study.tell(trial, 0.0)
    return out


def test_ada_target_exists_only_when_a_policy_is_chosen() -> None:
    sw = SweepConfig(losses=["ns"], penalties=["none"], augment=["none", "translation,cutout"],
                     ada_target=(0.4, 0.8), lecam_weight=(0.01, 1.0))
    sw.validate()
    params = _sample(sw, _base())
    assert {p["augment"] for p in params} == {"none", "translation,cutout"}
    for p in params:
        assert ("ada_target" in p) == (p["augment"] != "none")
        if "ada_target" in p:
            assert 0.4 <= p["ada_target"] <= 0.8
        assert 0.01 <= p["lecam_weight"] <= 1.0
    # log-uniform: about half the draws below the geometric middle 0.1
    below = sum(p["lecam_weight"] < 0.1 for p in params) / len(params)
    assert 0.3 < below < 0.7


def test_a_pinned_policy_still_gets_its_target_sampled() -> None:
    sw = SweepConfig(losses=["ns"], penalties=["none"], ada_target=(0.5, 0.7))
    assert all("ada_target" in p for p in _sample(sw, _base(["color"]), n=5))
    assert all("ada_target" not in p for p in _sample(sw, _base(), n=5))


def test_sampled_params_make_a_valid_config() -> None:
    base = _base()
    base["augment"].update(p=0.3)
    base["augment"]["policy"] = ["color"]
    gan = apply_params(base, {"loss": "hinge", "penalty": "r1", "penalty_weight": 2.0,
                              "augment": "color,translation,cutout", "ada_target": 0.6, "lecam_weight": 0.3})
    cfg = from_dict(GanConfig, gan)
    cfg.validate()
    assert cfg.augment.policy == ["color", "translation", "cutout"]
    assert cfg.augment.target == 0.6 and cfg.augment.p == 0.3
    assert math.isclose(cfg.lecam.weight, 0.3)
    off = from_dict(GanConfig, apply_params(base, {"loss": "ns", "penalty": "none", "augment": "none"}))
    off.validate()  # p / target reset with the policy, so "none" is a valid config
    assert off.augment.policy == [] and off.augment.target is None and off.augment.p == 1.0
    assert base["augment"]["policy"] == ["color"]  # the base is not mutated


def test_a_penalty_keeps_its_own_params_only() -> None:
    """A base DRAGAN with c = 2 keeps c when the trial draws DRAGAN and drops it for any other penalty
    (whose config would refuse a c); label smoothing survives logistic losses only."""
    base = _base()
    base["penalty"].update(name="dragan", weight=1.0, params={"c": 2.0})
    base["loss"].update(name="ns", label_smoothing=0.1)
    same = from_dict(GanConfig, apply_params(base, {"loss": "minimax", "penalty": "dragan", "penalty_weight": 3.0}))
    same.validate()
    assert same.penalty.params == {"c": 2.0} and same.loss.label_smoothing == 0.1
    other = from_dict(GanConfig, apply_params(base, {"loss": "hinge", "penalty": "r1", "penalty_weight": 3.0}))
    other.validate()
    assert other.penalty.params == {} and other.loss.label_smoothing == 0.0


def test_labels_name_the_augmentation() -> None:
    label = label_of({"loss": "ns", "penalty": "none", "augment": "translation,cutout", "ada_target": 0.6,
                      "lecam_weight": 0.05})
    assert label == "ns+none augment=translation,cutout ada_target=0.6 lecam_weight=0.05"


@pytest.mark.parametrize(("field", "value"), [
    ("augment", ["colour"]), ("augment", ["color,color"]), ("augment", []), ("augment", ["none,cutout"]),
    ("ada_target", (0.8, 0.4)), ("ada_target", (-1.0, 0.5)), ("ada_target", (0.5, 1.0)),
    ("lecam_weight", (0.0, 1.0)), ("lecam_weight", (1.0, 0.1)),
])
def test_bad_augmentation_ranges_name_the_field(field: str, value) -> None:
    with pytest.raises(GanConfigError) as err:
        SweepConfig(**{field: value}).validate()
    assert err.value.field == f"sweep.{field}"
