"""The generic training loop around ``GANTrainer.train_step`` and a deterministic batch stream.

One loop for every model, data kind and runner (plain PyTorch, a Ray Train worker, a Tune
trial): runners differ only in the callback they pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gan_core.errors import GanConfigError
from gan_core.step import GANTrainer


class DivergedError(RuntimeError):
    """Losses became NaN or inf; the message names the step and the metric."""


class BatchStream:
    """Deterministic global batches over an indexable dataset, sliced for this data-parallel rank.

    Epoch e visits the dataset in the order randperm(N) seeded by (seed, e); batch k of the epoch
    is indices [kB, (k+1)B). ``position`` (global batches drawn) is the whole state, so resuming
    needs one integer, and rank r of W workers gets rows [r·B/W, (r+1)·B/W) of the same batch.
    """

    def __init__(self, dataset, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1, position: int = 0):
        if batch_size % world:
            raise GanConfigError("train.batch_size", f"{batch_size} is not divisible by {world} workers",
                                 f"a multiple of {world}")
        self.n = len(dataset)
        if self.n < batch_size:
            raise GanConfigError("train.batch_size", f"{batch_size} exceeds the dataset size {self.n}",
                                 f"1..{self.n}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world, self.position = rank, world, position
        self.per_epoch = self.n // batch_size
        self._epoch, self._perm = -1, None

    def next(self) -> tuple[Tensor, Tensor | None]:
        epoch, k = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=g), epoch
        local = self.batch_size // self.world
        start = k * self.batch_size + self.rank * local
        self.position += 1
        return self.dataset.get_batch(self._perm[start:start + local])


Callback = Callable[[GANTrainer, dict[str, float] | None], bool | None]


def fit(trainer: GANTrainer, stream: BatchStream, until_step: int, log_every: int = 50,
        callback: Callback | None = None) -> None:
    """Train until ``trainer.step == until_step``.

    Every ``log_every`` steps (and at the last) the device metrics are read once, checked for
    NaN/inf (raising DivergedError) and passed to ``callback(trainer, metrics)``; on other steps
    the callback gets None. A callback returning True stops training early.
    """
    while trainer.step < until_step:  # n_critic read each step: a replayed PBT schedule may change it
        metrics = trainer.train_step([stream.next() for _ in range(trainer.cfg.train.n_critic)])
        logged = None
        if trainer.step % log_every == 0 or trainer.step == until_step:
            logged = {k: float(v) for k, v in metrics.items()}
            bad = [k for k, v in logged.items() if not math.isfinite(v)]
            if bad:
                raise DivergedError(f"step {trainer.step}: {', '.join(bad)} became non-finite "
                                    f"({', '.join(f'{k}={logged[k]}' for k in bad)})")
        if callback is not None and callback(trainer, logged):
            break
