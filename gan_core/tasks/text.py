"""Text: the evaluator is given the generator itself (NLL_test, entropy need its likelihood), the
generator is MLE-pretrained before the game, and samples are token ids written as decoded sentences."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from gan_core.errors import GanConfigError
from gan_core.metrics.base import Evaluator
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.tasks.base import DatasetFn, Task
from gan_core.text_mle import pretrain_trainer, sample_tokens

SHOWN = 50  # sentences logged per evaluation


class TextTask(Task):
    kind = "text"
    evaluator = TextEvaluator
    default_samples = SHOWN
    formats: ClassVar[dict[str, str]] = {".txt": "decoded sentences, one a line", ".npy": "token ids, (N, L)"}
    logged_format = ".txt"
    logged_samples = SHOWN

    def evaluate(self, evaluator: Evaluator, trainer) -> tuple[dict[str, float], torch.Tensor]:
        gen = trainer.G_ema if trainer.G_ema is not None else trainer.G
        metrics = {k: float(v) for k, v in evaluator(gen).items()}
        return metrics, sample_tokens(gen, SHOWN)

    def pretrain(self, trainer, ds) -> None:
        """Teacher-forced MLE for ``train.mle_pretrain_steps`` steps, as every text GAN does."""
        if trainer.cfg.train.mle_pretrain_steps > 0:
            pretrain_trainer(trainer, ds.ids, trainer.cfg.train.mle_pretrain_steps)

    def log_format(self, ds) -> str | None:
        """Token ids of a dataset that cannot decode them (e.g. read from Parquet shards) have no readable
        form: nothing is logged."""
        return self.logged_format if getattr(ds, "decode", None) is not None else None

    def as_array(self, fake: torch.Tensor):
        return (fake.argmax(-1) if fake.is_floating_point() else fake).numpy()

    def write_file(self, fake: torch.Tensor, path: Path, dataset: DatasetFn, title: str,
                   columns: int | None = None) -> None:
        ds = dataset()
        decode = getattr(ds, "decode", None)
        if decode is None:
            raise GanConfigError("--out", f"dataset {ds.name!r} cannot decode tokens to text", [".npy"])
        path.write_text("\n".join(decode(fake)) + "\n")
