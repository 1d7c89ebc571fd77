"""Checkpoint files: trainer state + config + data position, read back with weights_only=True."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from gan_core.config import GanConfig, from_dict, to_dict
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec
from gan_core.step import GANTrainer

FORMAT = "ganarena-checkpoint-v1"


def save_checkpoint(path: str | Path, trainer: GANTrainer, spec: DataSpec, stream_position: int,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "config": to_dict(trainer.cfg),
        "spec": {"shape": list(spec.shape), "num_classes": spec.num_classes, "kind": spec.kind},
        "trainer": trainer.state_dict(), "stream_position": int(stream_position), "extra": extra or {},
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (weights_only=True); corrupt or foreign files are GanConfigErrors."""
    p = Path(path)
    if not p.is_file():
        raise GanConfigError(str(path), "checkpoint file not found")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise GanConfigError(str(path), f"not a readable checkpoint ({type(e).__name__})",
                             "a .pt file written by ganarena: tensors and plain data, read with "
                             "weights_only=True") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GanConfigError(str(path), "not a GAN Arena checkpoint (missing format tag)", [FORMAT])
    return payload


def checkpoint_config(payload: dict[str, Any]) -> tuple[GanConfig, DataSpec]:
    """The config and data spec a checkpoint was trained with."""
    cfg = from_dict(GanConfig, payload["config"])
    s = payload["spec"]
    return cfg, DataSpec(tuple(s["shape"]), int(s["num_classes"]), s["kind"])


def restore(trainer: GANTrainer, payload: dict[str, Any], restore_rng: bool = True) -> int:
    """Load a checkpoint into ``trainer``; returns the stream position. Shape mismatch -> GanConfigError."""
    try:
        trainer.load_state_dict(payload["trainer"], restore_rng=restore_rng)
    except (RuntimeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:200]
        raise GanConfigError("checkpoint", f"does not fit this model ({first})",
                             "a checkpoint of the same generator/discriminator config") from None
    return int(payload["stream_position"])
