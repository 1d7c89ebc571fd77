"""The winner of a sweep in the MLflow Model Registry: ``<sweep>-generator``, alias ``champion``.

At the end of ``ganarena sweep`` the best configuration (best mean over its seed re-runs) hands its best
seed run's EMA generator to the registry as an MLflow pyfunc model: latent vectors (and, for a conditional
generator, labels) in, samples out, with a signature, an input example and the sweep's protocol as tags.
The model carries the run's checkpoint (loaded with ``weights_only=True``) and needs only ``ganarena``:
``mlflow.pyfunc.load_model("models:/<sweep>-generator@champion").predict({"z": z})`` gives samples in a
fresh process, offline; ``ganarena sample models:/<sweep>-generator@champion`` writes a grid.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc

from pipeline import runs
from pipeline.names import name_key
from pipeline.tracking import fluent_uri

ALIAS = "champion"
CHECKPOINT = "checkpoint"  # the model's artifact key (its file: artifacts/<file name>)


def model_name(sweep: str) -> str:
    """The registered model of sweep ``sweep`` (its name key: no '/' or ':', which the registry refuses)."""
    return f"{name_key(sweep)}-generator"


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """A trained generator as a pyfunc: ``predict({"z": (N, z_dim) float32[, "label": (N,) int64]})`` returns the
    samples (N, *data shape) as float32 (images in [-1, 1])."""

    def load_context(self, context: Any) -> None:
        from pipeline.inspect import load_trainer

        trainer, _, _, _ = load_trainer(Path(context.artifacts[CHECKPOINT]))
        self.G = (trainer.G_ema if trainer.G_ema is not None else trainer.G).eval()
        self.classes = trainer.num_classes

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would validate against them
        import numpy as np
        import torch

        data = model_input if isinstance(model_input, dict) else {"z": model_input}
        z = torch.as_tensor(np.asarray(data["z"], dtype=np.float32))
        y = None
        if self.classes:
            if "label" not in data:
                raise ValueError(f"this generator is conditional: give 'label' (N,) int64 in 0..{self.classes - 1}")
            y = torch.as_tensor(np.asarray(data["label"], dtype=np.int64))
        with torch.no_grad():
            return self.G(z, y).float().numpy()


def _signature(noise_dim: int, classes: int, shape: tuple[int, ...]) -> tuple[Any, dict[str, Any]]:
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    inputs = [TensorSpec(np.dtype(np.float32), (-1, noise_dim), "z")]
    example = {"z": np.random.default_rng(0).standard_normal((2, noise_dim)).astype(np.float32)}
    if classes:
        inputs.append(TensorSpec(np.dtype(np.int64), (-1,), "label"))
        example["label"] = np.arange(2, dtype=np.int64) % classes
    return ModelSignature(Schema(inputs), Schema([TensorSpec(np.dtype(np.float32), (-1, *shape))])), example


def register_champion(uri: str, parent_id: str, sweep: str, ranking: list[dict[str, Any]],
                      rows: list[dict[str, Any]], metric: str, mode: str) -> str | None:
    """Register the best configuration's best seed run's generator; returns ``models:/<name>@champion``."""
    import mlflow
    from mlflow.artifacts import download_artifacts

    from pipeline.inspect import load_trainer

    if not ranking:
        return None
    winner = ranking[0]
    key = f"best_{metric}"
    seeds = [r for r in rows if r["phase"] == "seed" and r["status"] == runs.COMPLETED
             and r["config"] == winner["config"] and math.isfinite(r.get(key, math.nan))]
    if not seeds:
        return None
    best = max(seeds, key=lambda r: r[key]) if mode == "max" else min(seeds, key=lambda r: r[key])
    client = runs.client(uri)
    source = client.get_run(best["run_id"])
    name = model_name(sweep)
    with tempfile.TemporaryDirectory(prefix="ganarena-champion-") as tmp, fluent_uri(uri):
        ckpt = download_artifacts(run_id=best["run_id"], artifact_path="checkpoints/best.pt", dst_path=tmp,
                                  tracking_uri=uri)
        trainer, _, spec, step = load_trainer(Path(ckpt))
        G = trainer.G_ema if trainer.G_ema is not None else trainer.G
        signature, example = _signature(G.noise_dim, trainer.num_classes, tuple(spec.shape))
        with mlflow.start_run(run_id=parent_id):
            info = mlflow.pyfunc.log_model(name="champion-generator", python_model=GeneratorModel(),
                                           artifacts={CHECKPOINT: ckpt}, signature=signature, input_example=example,
                                           pip_requirements=["torch", "ganarena"], registered_model_name=name)
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, ALIAS, version)
    tags = {"sweep": sweep, "config": winner["config"], "source_run": best["run_id"], "checkpoint_step": step,
            f"{metric}_mean": winner["mean"], f"{metric}_ci95": winner["ci95"], "seeds": winner["n"],
            "metric": f"best {metric} ({'higher' if mode == 'max' else 'lower'} is better)",
            **{k: v for k, v in source.data.tags.items() if k.startswith("protocol.")}}
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, str(v))
    return f"models:/{name}@{ALIAS}"
