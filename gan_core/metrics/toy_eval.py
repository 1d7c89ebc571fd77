"""Toy-mixture evaluator (kind "toy"): PacGAN mode metrics against the mixture's known centres."""

from __future__ import annotations

import torch

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics.base import Evaluator
from gan_core.metrics.toy import toy_metrics


class ToyEvaluator(Evaluator):
    """PacGAN mode metrics against the mixture's known centres (no real sample needed)."""

    primary, mode = "modes_hq", "max"
    keys = ("modes", "hq_fraction", "reverse_kl", "modes_hq")

    @staticmethod
    def mixture_info(ds) -> dict:
        """The mixture's centres and std (from the dataset, or from the source of Parquet shards)."""
        info = ds.info if "centres" in ds.info else ds.info.get("source_info", {})
        if "centres" not in info:
            raise GanConfigError("data", f"toy dataset {ds.name!r} carries no mode centres in its info")
        return info

    @classmethod
    def preflight(cls, ds, **kwargs) -> None:
        """A toy mixture is scored against its centres: they must be known."""
        cls.mixture_info(ds)

    def __init__(self, ds: GanDataset, n_fake: int, seed: int):
        super().__init__(ds, n_fake, seed)
        info = self.mixture_info(ds)
        self.centres = torch.tensor(info["centres"], dtype=torch.float64)
        self.std = float(info["std"])
        self.protocol = {"metric": "PacGAN modes / HQ (<= 3 std) / reverse KL vs uniform",
                         "reference": f"{len(self.centres)} mode centres, std {self.std} ({info.get('setting')})",
                         "n_fake": str(self.n_fake), "seed": str(self.seed)}

    def __call__(self, fake: torch.Tensor, fake_y: torch.Tensor | None = None) -> dict[str, float]:
        """Mode metrics of (n_fake, 2) samples."""
        fake = self.check(fake)
        if not torch.isfinite(fake).all():
            return self.nan_result()
        return toy_metrics(fake, self.centres, self.std)
