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
    ({"penalty": {"name": "dragan", "params": {"k": 1.0}}}, "penalty.params.k", "c"),
    ({"penalty": {"name": "r1", "params": {"c": 1.0}}}, "penalty.params.c", "no parameters"),
    ({"penalty": {"name": "dragan", "params": {"c": 0}}}, "penalty.params.c", None),
    ({"penalty": {"name": "dragan", "params": {"c": "wide"}}}, "penalty.params.c", None),
    ({"penalty": {"name": "dragan", "params": {"c": float("nan")}}}, "penalty.params.c", None),
    ({"penalty": {"name": "dragan", "params": [1.0]}}, "penalty.params", None),
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


def test_names_come_from_the_registries(monkeypatch) -> None:
    """A loss or penalty added to its registry is a valid config name at once; its flags decide the rest."""
    import dataclasses

    from gan_core import losses, penalties

    monkeypatch.setitem(losses.LOSSES, "ns2", dataclasses.replace(losses.LOSSES["ns"], name="ns2"))
    monkeypatch.setitem(penalties.PENALTIES, "r1b", penalties.PenaltySpec(penalties.r1, {"gamma": 1.0}))
    cfg = load_config({"loss": {"name": "ns2", "label_smoothing": 0.1},
                       "penalty": {"name": "r1b", "weight": 1.0, "params": {"gamma": 2.0}}})
    assert (cfg.loss.name, cfg.penalty.params) == ("ns2", {"gamma": 2.0})
    monkeypatch.setitem(losses.LOSSES, "ns2", dataclasses.replace(losses.LOSSES["ns"], name="ns2", logistic=False))
    with pytest.raises(GanConfigError, match="loss.label_smoothing.*allowed: minimax, ns\\)"):
        load_config({"loss": {"name": "ns2", "label_smoothing": 0.1}})


def test_dragan_c_reaches_the_penalty() -> None:
    """penalty.params.c is the c of x_p = x + c·std(x)·δ: the trainer's penalty is DRAGAN with that c."""
    import torch

    from gan_core import penalties
    from gan_core.noise import TorchNoise

    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real = torch.randn(16, 4)
    pens = {}
    for c in (0.5, 3.0):
        pen = penalties.get("dragan", {"c": c})
        torch.manual_seed(0)
        pens[c] = pen(D, real, real, noise=TorchNoise()).item()
        torch.manual_seed(0)
        assert pens[c] == pytest.approx(penalties.dragan(D, real, real, noise=TorchNoise(), c=c).item(), rel=1e-6)
    assert pens[0.5] != pytest.approx(pens[3.0], rel=1e-3)
    torch.manual_seed(0)
    assert penalties.get("dragan")(D, real, real, noise=TorchNoise()).item() == pytest.approx(pens[0.5], rel=1e-6)


def test_moved_keys_name_their_new_place() -> None:
    """Evaluation settings live in eval:; the keys older versions had under train: and metrics: say where."""
    cfg = load_config({"eval": {"every": 100, "samples": 50, "reference": "train", "feature_weights": "F.pt"}})
    assert (cfg.eval.every, cfg.eval.samples, cfg.eval.reference, cfg.eval.feature_weights) == (100, 50, "train", "F.pt")
    assert GanConfig().eval.reference == "auto"
    for data, msg in [({"train": {"eval_every": 10}}, r"^train.eval_every: moved to eval.every \(allowed: eval.every\)$"),
                      ({"train": {"eval_samples": 10}}, r"^train.eval_samples: moved to eval.samples"),
                      ({"metrics": {"feature_weights": "F.pt"}}, r"^metrics: moved to eval \(allowed: eval\)$"),
                      ({"eval": {"reference": "val"}}, r"^eval.reference: got 'val' \(allowed: 'auto', 'test', 'train'\)$"),
                      ({"eval": {"every": 0}}, r"^eval.every: must be >= 1, got 0$"),
                      ({"eval": {"samples": -5}}, r"^eval.samples: must be >= 1, got -5$"),
                      ({"eval": {"final_samples": 1}}, r"^eval.final_samples: must be >= 2 or null, got 1$"),
                      ({"eval": {"features": "inception", "feature_weights": "F.pt"}},
                       r"^eval.features: set eval.features \(a network's name\) or eval.feature_weights"),
                      ({"train": {"inject_nan_at": 5}}, r"^train.inject_nan_at: no longer a setting: a testing aid")]:
        with pytest.raises(GanConfigError, match=msg):
            load_config(data)
    with pytest.raises(GanConfigError, match=r"^--set train.eval_every|^train.eval_every: moved to eval.every"):
        load_config({}, ["train.eval_every=5"])


def test_feature_spec_and_final_evaluation_settings() -> None:
    assert load_config({}).eval.feature_spec() is None and not load_config({}).eval.has_final()
    assert load_config({"eval": {"features": "inception"}}).eval.feature_spec() == "inception"
    assert load_config({"eval": {"feature_weights": "F.pt"}}).eval.feature_spec() == "F.pt"
    assert load_config({"eval": {"final_samples": 10}}).eval.has_final()
    assert load_config({"eval": {"final_features": "inception"}}).eval.has_final()


def test_an_older_config_dict_is_upgraded() -> None:
    """What a checkpoint written before the move holds loads as the same config, nothing lost."""
    from gan_core.config import upgrade

    old = {"train": {"steps": 7, "eval_every": 3, "eval_samples": 40, "inject_nan_at": 0},
           "metrics": {"feature_weights": "F.pt"}}
    new = upgrade(old)
    assert new == {"train": {"steps": 7}, "eval": {"every": 3, "samples": 40, "feature_weights": "F.pt"}}
    assert old["train"]["eval_every"] == 3  # the input is not changed
    assert from_dict(GanConfig, new) == load_config({"train": {"steps": 7},
                                                     "eval": {"every": 3, "samples": 40, "feature_weights": "F.pt"}})
    assert upgrade(to_dict(GanConfig())) == to_dict(GanConfig())
