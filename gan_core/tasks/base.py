"""The interface of a data kind: everything toy points, images and text do differently around the one
training loop (which evaluator scores them, what it is given, pretraining, how samples are written).

The loop, the trainer, checkpoints and the pipeline ask the dataset's Task and never switch on
``ds.kind`` themselves, so a new kind of data is one new file in this package plus its registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics.base import MAX_REAL, Evaluator

DatasetFn = Callable[[], GanDataset]  # the run's dataset, built only by the writers that need it


class Task:
    """Base: samples are tensors of the data's shape, scored by ``evaluator`` and saved as .npy arrays."""

    kind: str = ""
    evaluator: type[Evaluator] = Evaluator
    default_samples: int = 64  # `ganarena sample` without --n
    formats: ClassVar[dict[str, str]] = {".npy": "array of the samples"}  # file suffix -> what it holds
    logged_format: str = ".png"  # how each evaluation's samples are logged to MLflow (samples/step_N.<suffix>)
    logged_samples: int | None = None  # how many of them (None: all that were scored)

    # ---------------------------------------------------------------- evaluation

    def evaluator_options(self, features: str | None) -> dict[str, Any]:
        """Keyword arguments of this kind's evaluator taken from the run's config."""
        return {}

    def primary_metric(self, ds: Any) -> tuple[str, str]:
        """The headline metric and its direction (``min``/``max``), without building the evaluator."""
        return self.evaluator.primary_for(ds)

    def preflight(self, ds: Any, features: str | None = None) -> None:
        """Raise GanConfigError now if evaluating ``ds`` would fail later (run before step 1)."""
        self.evaluator.preflight(ds, **self.evaluator_options(features))

    def make_evaluator(self, reference: GanDataset, n_fake: int | None = None, seed: int = 0,
                       features: str | None = None, **kwargs: Any) -> Evaluator:
        """The evaluator against ``reference``; ``n_fake`` defaults to min(len(reference), 10,000)."""
        n = n_fake if n_fake is not None else min(len(reference), MAX_REAL)
        return self.evaluator(reference, n, seed, **self.evaluator_options(features), **kwargs)

    def evaluate(self, evaluator: Evaluator, trainer: Any) -> tuple[dict[str, float], torch.Tensor]:
        """Score ``trainer``'s (EMA) generator: (metrics, the samples to show for it)."""
        fake = trainer.sample(evaluator.n_fake)
        return {k: float(v) for k, v in evaluator(fake).items()}, fake

    # ---------------------------------------------------------------- training

    def pretrain(self, trainer: Any, ds: GanDataset) -> None:
        """Before the adversarial game, at step 0 of a fresh run (nothing for most kinds)."""

    # ---------------------------------------------------------------- writing samples

    def log_format(self, ds: Any) -> str | None:
        """The suffix each evaluation's samples of ``ds`` are logged in; None when nothing readable can be."""
        return self.logged_format

    def refuse(self, suffix: str) -> GanConfigError:
        return GanConfigError("--out", f"{suffix} files are not written for {self.kind} samples", list(self.formats))

    def write(self, fake: torch.Tensor, path: Path, dataset: DatasetFn, title: str = "",
              columns: int | None = None) -> None:
        """Write ``fake`` to ``path`` in the format its suffix names (one of ``formats``); ``columns`` lays an
        image grid out (default 8)."""
        suffix = path.suffix.lower()
        if suffix not in self.formats:
            raise self.refuse(suffix)
        if suffix == ".npy":
            import numpy as np

            with open(path, "wb") as f:
                np.save(f, self.as_array(fake))
            return
        self.write_file(fake, path, dataset, title, columns)

    def as_array(self, fake: torch.Tensor) -> Any:
        return fake.numpy()

    def write_file(self, fake: torch.Tensor, path: Path, dataset: DatasetFn, title: str,
                   columns: int | None = None) -> None:
        raise self.refuse(path.suffix.lower())  # a kind that lists a format implements it here
