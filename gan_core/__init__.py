"""gan_core: a pure-PyTorch GAN library (models, losses, penalties, one training step, data, metrics).

It imports neither ray, mlflow nor optuna; ``pipeline`` builds on it, never the reverse.
"""

from gan_core import losses, penalties
from gan_core.build import build_trainer, spec_of
from gan_core.config import GanConfig, load_config
from gan_core.errors import GanConfigError
from gan_core.loop import BatchStream, DivergedError, fit
from gan_core.step import GANTrainer, sample

__all__ = [
           "BatchStream",
           "DivergedError",
           "GANTrainer",
           "GanConfig",
           "GanConfigError",
           "build_trainer",
           "fit",
           "load_config",
           "losses",
           "penalties",
           "sample",
           "spec_of",
]
