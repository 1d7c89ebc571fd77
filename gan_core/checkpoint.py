"""Checkpoint files: trainer state + config + data position, read back with weights_only=True."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from gan_core.config import GanConfig, from_dict, to_dict, upgrade
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec
from gan_core.step import GANTrainer
from gan_core.tasks import TASKS

FORMAT = "ganarena-checkpoint-v1"
SPEC_KINDS = tuple(sorted(TASKS))  # a checkpoint's data kind is one that has a Task


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
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    except OSError as e:  # e.g. a full disk: no half-written file is left for a resume to pick up
        tmp.unlink(missing_ok=True)
        raise GanConfigError(str(path), f"cannot write the checkpoint ({e.strerror or type(e).__name__}, "
                             f"{len(buf.getvalue()):,} bytes)", "a writable folder with free space") from None
    return path


REQUIRED = {"format": str, "config": dict, "spec": dict, "trainer": dict, "stream_position": int}


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
    bad = [k for k, tp in REQUIRED.items() if not isinstance(payload.get(k), tp)]
    if bad:
        raise GanConfigError(str(path), f"incomplete checkpoint: {', '.join(bad)} missing or of the wrong type",
                             "a whole checkpoint as ganarena writes it")
    try:
        checkpoint_config(payload)
    except GanConfigError as e:
        raise GanConfigError(f"{path}: config {e.field}", e.problem, e.allowed) from None
    except (KeyError, TypeError, ValueError) as e:
        raise GanConfigError(f"{path}: spec", f"not a data spec ({type(e).__name__}: {e})",
                             "{shape: [positive ints], num_classes: int >= 0, kind: image|text|toy}") from None
    return payload


def checkpoint_config(payload: dict[str, Any]) -> tuple[GanConfig, DataSpec]:
    """The config and data spec a checkpoint was trained with."""
    cfg = from_dict(GanConfig, upgrade(payload["config"]))  # keys older versions had elsewhere
    cfg.validate()
    s = payload["spec"]
    shape, classes = tuple(int(d) for d in s["shape"]), int(s["num_classes"])
    if not shape or min(shape) < 1 or classes < 0 or s["kind"] not in SPEC_KINDS:
        raise ValueError(f"shape {list(shape)}, num_classes {classes}, kind {s['kind']!r}")
    return cfg, DataSpec(shape, classes, s["kind"])


def restore(trainer: GANTrainer, payload: dict[str, Any], restore_rng: bool = True, source: str = "checkpoint") -> int:
    """Load a checkpoint into ``trainer``; returns the stream position. A state that does not fit (another
    shape, or a damaged entry) -> GanConfigError naming ``source`` (the file, where the caller knows it)."""
    try:
        trainer.load_state_dict(payload["trainer"], restore_rng=restore_rng)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise GanConfigError(source, f"does not fit this model ({first})",
                             "a checkpoint of the same generator/discriminator config") from None
    return int(payload["stream_position"])
