"""The sweep's search space over augmentation and LeCam: what Optuna samples, and the configs it makes."""

from __future__ import annotations

import math

import optuna
import pytest

from gan_core.config import GanConfig, from_dict, to_dict
from gan_core.errors import GanConfigError
from pipeline.experiment import SweepConfig
from pipeline.sweep_space import Space, apply_params, label_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _base(policy: list[str] | None = None) -> dict:
    cfg = GanConfig()
    cfg.data.name = "digits"
    cfg.augment.policy = list(policy or [])
    return to_dict(cfg)


def _sample(sw: SweepConfig, base: dict, n: int = 60) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = Space(sw, augmenting=bool(base["augment"]["policy"]))
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


STUDY_MODELS = [{"name": "mm", "loss": "minimax"}, {"name": "wgan", "loss": "wgan", "weight_clip": 0.01},
                {"name": "wgan-gp", "loss": "wgan", "penalty": "wgan-gp"}, {"name": "dragan", "loss": "ns", "penalty": "dragan"}]


def _models() -> SweepConfig:
    sw = from_dict(SweepConfig, {"models": STUDY_MODELS, "penalty_weight": [1.0, 100.0]}, "sweep")
    sw.validate()
    return sw


def test_named_models_are_one_choice_with_their_loss_penalty_and_clipping() -> None:
    from pipeline.sweep import seed_reruns
    from pipeline.sweep_space import first_points

    sw = _models()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = Space(sw, augmenting=False)
    rows = []
    for i in range(40):
        trial = study.ask()
        constants = space(trial)
        params = {**trial.params, **constants}
        m = sw.model(params["model"])
        assert (params["loss"], params["penalty"], params["weight_clip"]) == (m.loss, m.penalty, m.weight_clip)
        assert ("penalty_weight" in params) == (m.penalty != "none")
        gan = from_dict(GanConfig, apply_params(_base(), params))
        gan.validate()
        assert (gan.loss.name, gan.penalty.name, gan.loss.weight_clip) == (m.loss, m.penalty, m.weight_clip)
        assert label_of(params).split("(")[0] == m.name
        rows.append({"params": params, "score": float(i), "status": "completed"})
        study.tell(trial, 0.0)
    assert {r["params"]["model"] for r in rows} == {m["name"] for m in STUDY_MODELS}
    # seed re-runs: the best (lowest) trial of each model, not of each loss (wgan and wgan-gp share one)
    chosen = seed_reruns(rows, "fd", "min", seeds=2)
    assert len(chosen) == 2 * len(STUDY_MODELS)
    for m in sw.models:  # scores rise with i: each model's best is its first trial
        first = next(r for r in rows if r["params"]["model"] == m.name)
        assert [c["seed_index"] for c in chosen if c["params"] == first["params"]] == [0, 1], m.name
    assert [p["model"] for p in first_points(sw)] == ["mm", "wgan", "wgan-gp", "dragan"]


@pytest.mark.parametrize("models,field", [
    ([], "sweep.models"),
    ([{"name": "a", "loss": "nope"}], r"sweep.models\[0\].loss"),
    ([{"name": "a", "loss": "ns", "penalty": "l2"}], r"sweep.models\[0\].penalty"),
    ([{"name": "a", "loss": "ns"}, {"name": "a", "loss": "wgan"}], r"sweep.models\[1\].name: 'a' is listed twice"),
    ([{"name": "a b", "loss": "ns"}], r"sweep.models\[0\].name"),
    ([{"name": "a", "loss": "wgan", "weight_clip": -1}], r"sweep.models\[0\].weight_clip"),
    ([{"loss": "ns"}], r"sweep.models\[0\].name: is required"),
])
def test_bad_models_name_the_field(models, field) -> None:
    with pytest.raises(GanConfigError, match=field):
        from_dict(SweepConfig, {"models": models}, "sweep").validate()
    with pytest.raises(GanConfigError, match="sweep.models: set sweep.models or sweep.losses/penalties"):
        from_dict(SweepConfig, {"models": STUDY_MODELS, "losses": ["ns"]}, "sweep").validate()
