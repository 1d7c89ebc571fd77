"""One typed, strict configuration for a GAN run, loadable from YAML.

A config file states only what differs from the defaults; unknown keys, wrong types and values
outside the allowed set are errors that name the field (``GanConfigError``). The sections are in
``schema``, the strict YAML and dict loading in ``loading``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_core.config.loading import apply_overrides, flatten, from_dict, read_yaml, to_dict, upgrade
from gan_core.config.schema import (
    MAX_IMAGE_SIZE,
    MAX_SEED,
    MOVED_KEYS,
    REMOVED_KEYS,
    AugmentConfig,
    DataConfig,
    DiscriminatorConfig,
    EvalConfig,
    GanConfig,
    GeneratorConfig,
    LeCamConfig,
    LossConfig,
    OptimConfig,
    PenaltyConfig,
    TrainConfig,
)

__all__ = [
    "MAX_IMAGE_SIZE", "MAX_SEED", "MOVED_KEYS", "REMOVED_KEYS", "AugmentConfig", "DataConfig", "DiscriminatorConfig", "EvalConfig",
    "GanConfig", "GeneratorConfig", "LeCamConfig", "LossConfig", "OptimConfig", "PenaltyConfig", "TrainConfig",
    "apply_overrides", "flatten", "from_dict", "load_config", "read_yaml", "to_dict", "upgrade",
]


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> GanConfig:
    """Load and validate a GanConfig from a YAML path or a dict, applying ``--set`` overrides."""
    data = read_yaml(source) if isinstance(source, str | Path) else dict(source)
    apply_overrides(data, overrides or [])
    cfg = from_dict(GanConfig, data)
    cfg.validate()
    return cfg
