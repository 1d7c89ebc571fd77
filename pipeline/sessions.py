"""Where a training run gets its checkpoint from and sends its reports: Ray Train, Ray Tune, or none.

``pipeline.runner.run`` talks only to this small interface (rank, world, device, wrap, stream,
latest_checkpoint, report), so one training function serves every runner.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from gan_core.config import GanConfig
from gan_core.loop import BatchStream


class ShardInfo:
    """Shape facts of a Parquet shard folder (Ray Data reads the rows; nothing is loaded here)."""

    def __init__(self, meta: dict[str, Any]):
        self.meta = meta
        self.name, self.kind = meta.get("name", "parquet"), meta.get("kind", "image")
        self.shape, self.num_classes, self.info = tuple(meta["shape"]), int(meta["num_classes"]), meta.get("info", {})


class RayDataStream:
    """Endless local batches from a Ray Data shard, epoch after epoch; ``position`` counts batches."""

    def __init__(self, shard: Any, local_batch: int, meta: dict[str, Any], position: int = 0):
        self.shard, self.local_batch, self.meta, self.position = shard, local_batch, meta, position
        self._it = None

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        from gan_core.data.parquet import decode_batch

        for _ in range(2):
            if self._it is None:
                self._it = iter(self.shard.iter_batches(batch_size=self.local_batch, batch_format="numpy",
                                                        drop_last=True))
            try:
                batch = next(self._it)
                self.position += 1
                return decode_batch(batch, self.meta)
            except StopIteration:
                self._it = None
        raise RuntimeError("the Parquet shard of this worker holds fewer rows than one local batch")


class LocalSession:
    """One plain process: checkpoints kept in ``ckpt_dir`` (if given), reports kept in memory."""

    rank, world = 0, 1
    flush_before_report = True  # see pipeline.runner.Recipe.report

    def __init__(self, ckpt_dir: str | Path | None = None, device: str = "cpu"):
        self.ckpt_dir = Path(ckpt_dir) if ckpt_dir else None
        self._device = torch.device(device)
        self.reports: list[dict[str, float]] = []

    def device(self) -> torch.device:
        return self._device

    def wrap(self, device: torch.device) -> None:
        return None

    def node_ids(self) -> list[str]:
        """The node of every rank (one process here)."""
        return ["local"]

    def total(self, value: float) -> float:
        """``value`` summed over the ranks (one here); every rank calls it at the same point."""
        return value

    def stream(self, ds: Any, cfg: GanConfig, position: int) -> BatchStream:
        return BatchStream(ds, cfg.train.batch_size, seed=cfg.seed, position=position)

    def latest_checkpoint(self) -> Path | None:
        return self.ckpt_dir if self.ckpt_dir and (self.ckpt_dir / "state.pt").exists() else None

    def report(self, metrics: dict[str, float], ckpt_dir: Path | None) -> None:
        self.reports.append(metrics)
        if ckpt_dir is not None and self.ckpt_dir is not None:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ckpt_dir / "state.pt", self.ckpt_dir / "state.pt")

    def wait_until_taken(self) -> None:
        """After a report and its MLflow flush: wait until the report's consumer took it (a gated session)."""


class _RaySession(LocalSession):
    """Checkpoints and reports through a Ray API module (``ray.tune`` or ``ray.train``: same names)."""

    api = "ray.tune"

    def _mod(self) -> Any:
        import importlib

        return importlib.import_module(self.api)

    def latest_checkpoint(self) -> Path | None:
        ckpt = self._checkpoint()
        if ckpt is None:
            return None
        self._restored = tempfile.TemporaryDirectory()  # kept alive while the run reads it
        return Path(ckpt.to_directory(self._restored.name))

    def _checkpoint(self) -> Any:
        return self._mod().get_checkpoint()

    def report(self, metrics: dict[str, float], ckpt_dir: Path | None) -> None:
        mod = self._mod()
        ckpt = mod.Checkpoint.from_directory(str(ckpt_dir)) if ckpt_dir is not None else None
        mod.report(metrics, checkpoint=ckpt)


class TuneSession(_RaySession):
    """A single-worker Tune trial: ``ray.tune.report`` / ``ray.tune.get_checkpoint``."""

    api = "ray.tune"

    def __init__(self) -> None:
        super().__init__(None, "cuda" if torch.cuda.is_available() else "cpu")

    def node_ids(self) -> list[str]:
        import ray

        return [ray.get_runtime_context().get_node_id()]


class RayTrainSession(_RaySession):
    """A Ray Train worker: DDP over the process group Ray set up (gloo on CPU, nccl on GPU).

    ``start_from``: a checkpoint to begin with when this Train run has none of its own yet (a multi-worker
    sweep trial that Tune started from a checkpoint: pipeline.trial_trainer).
    ``gate``: a queue (a multi-worker sweep trial's) on which rank 0 waits after each report (and its MLflow
    flush) until Tune has taken it, so that Tune's decision (PBT pause or exploit, ASHA stop) applies at
    that step, as for a one-worker trial, whose ``tune.report`` blocks the same way. The other ranks wait
    in the next step's all-reduce."""

    api = "ray.train"
    flush_before_report = False  # Train does not end the worker inside report()

    def __init__(self, start_from: Any = None, gate: Any = None) -> None:
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.start_from, self.gate = start_from, gate
        super().__init__(None, str(ray.train.torch.get_device()))

    def _checkpoint(self) -> Any:
        return super()._checkpoint() or self.start_from  # a restarted worker: the run's own latest

    def wait_until_taken(self) -> None:
        if self.gate is not None and self.rank == 0:
            self.gate.get()

    def node_ids(self) -> list[str]:
        """The Ray node of every rank, gathered over the process group (shows the placement in MLflow)."""
        import ray

        mine = ray.get_runtime_context().get_node_id()
        if self.world == 1:
            return [mine]
        import torch.distributed as dist

        out: list[str] = [""] * self.world
        dist.all_gather_object(out, mine)
        return out

    def total(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch.distributed as dist

        out: list[float] = [0.0] * self.world
        dist.all_gather_object(out, float(value))  # any backend (gloo on CPU, nccl on GPU)
        return float(sum(out))

    def wrap(self, device: torch.device):
        if self.world == 1:
            return None
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        return lambda m: DDP(m, device_ids=ids)

    def stream(self, ds: Any, cfg: GanConfig, position: int):
        if isinstance(ds, ShardInfo):
            import ray.train

            return RayDataStream(ray.train.get_dataset_shard("train"), cfg.train.batch_size // self.world,
                                 ds.meta, position)
        return BatchStream(ds, cfg.train.batch_size, seed=cfg.seed, rank=self.rank, world=self.world,
                           position=position)

    def parquet_dataset(self, meta: dict[str, Any]) -> ShardInfo:
        return ShardInfo(meta)
