"""Generated samples of an evaluation, logged to MLflow as the data kind's Task writes them (gan_core.tasks):
an image grid, a 2-D scatter plot or decoded sentences."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from gan_core.tasks import task_of


def save_samples(log: Any, fake: torch.Tensor, ds: Any, step: int) -> None:
    """Log samples of evaluation ``step`` as ``samples/step_0000500.png`` (or ``.txt`` for text data), in
    the format the data kind's Task logs them in, or not at all when it has none for ``ds``."""
    task = task_of(ds)
    suffix = task.log_format(ds)
    if suffix is None:
        return
    shown = fake if task.logged_samples is None else fake[: task.logged_samples]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"step_{step:07d}{suffix}"
        task.write(shown, path, lambda: ds, title=f"step {step}")
        log.artifact(path, "samples")
