"""The evaluator interface: one object per (reference data, N fake, seed) that scores generated samples.

Real features are computed once; every call must pass exactly ``n_fake`` samples, so numbers are
comparable (FD's bias depends on N). ``ev.protocol`` states everything a number depends on.
"""

from __future__ import annotations

from typing import Any

import torch

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError

MAX_REAL = 10_000  # default cap on real reference samples (subsampled with the seed)


class Evaluator:
    """Base: ``ev(fake, fake_y=None) -> dict[str, float]``; ``primary``/``mode`` for model selection."""

    primary: str = ""
    mode: str = "min"
    keys: tuple[str, ...] = ()

    @classmethod
    def primary_for(cls, ds: Any) -> tuple[str, str]:
        """The headline metric and its direction for ``ds``, known before any reference is computed."""
        return cls.primary, cls.mode

    @classmethod
    def preflight(cls, ds: Any, **kwargs: Any) -> None:
        """Raise GanConfigError now if evaluating ``ds`` would fail later (run in the driver before step 1)."""

    def __init__(self, ds: GanDataset, n_fake: int, seed: int):
        if n_fake < 2:
            raise GanConfigError("n_fake", f"must be >= 2, got {n_fake}")
        self.ds, self.n_fake, self.seed = ds, int(n_fake), int(seed)
        self.protocol: dict[str, str] = {}

    def check(self, fake: torch.Tensor) -> torch.Tensor:
        """Fake samples must be (n_fake, *shape); returned detached, float32, on CPU."""
        if tuple(fake.shape) != (self.n_fake, *self.ds.shape):
            raise GanConfigError("fake", f"expected shape {(self.n_fake, *self.ds.shape)} (n_fake samples of "
                                 f"{self.ds.name}), got {tuple(fake.shape)}")
        return fake.detach().to("cpu", torch.float32)

    def nan_result(self) -> dict[str, float]:
        """All metrics NaN: returned when generated samples contain NaN or inf (diverged G)."""
        return dict.fromkeys(self.keys, float("nan"))

    def __call__(self, fake: torch.Tensor, fake_y: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    def describe(self, result: dict[str, float]) -> str:
        """One line with the numbers and, beside them, the protocol they depend on."""
        nums = ", ".join(f"{k}={v:.4g}" for k, v in result.items())
        return f"{nums} [{'; '.join(f'{k}: {v}' for k, v in self.protocol.items())}]"
