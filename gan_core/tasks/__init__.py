"""One Task per kind of data (toy, image, text): its evaluator and what that evaluator is given, its
pretraining hook, how its samples are written and how many ``ganarena sample`` draws by default.

``task_of(ds)`` is the one lookup; adding a data kind is a file beside these and a line in TASKS.
``make_evaluator``, ``primary_metric`` and ``preflight`` are that lookup and one call;
``run_evaluator`` builds the evaluator a run's ``eval`` section describes.
"""

from __future__ import annotations

from typing import Any

from gan_core.config import GanConfig
from gan_core.data import reference_dataset
from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics.base import Evaluator
from gan_core.tasks.base import Task
from gan_core.tasks.image import ImageTask
from gan_core.tasks.text import TextTask
from gan_core.tasks.toy import ToyTask

TASKS: dict[str, Task] = {t.kind: t for t in (ToyTask(), ImageTask(), TextTask())}
TEST_SPLIT = "test split"  # protocol["eval_split"] of an evaluator comparing with the test split


def task_of(ds_or_kind: Any) -> Task:
    """The Task of a dataset (or a DataSpec, or a kind name); an unknown kind names the kinds there are."""
    kind = ds_or_kind if isinstance(ds_or_kind, str) else ds_or_kind.kind
    if kind not in TASKS:
        raise GanConfigError("data.name", f"no task for dataset kind {kind!r}", sorted(TASKS))
    return TASKS[kind]


def make_evaluator(reference: GanDataset, n_fake: int | None = None, seed: int = 0,
                   feature_weights: str | None = None, **kwargs: Any) -> Evaluator:
    """The evaluator of ``reference``'s kind; ``n_fake`` defaults to min(len(reference), 10,000)."""
    return task_of(reference).make_evaluator(reference, n_fake, seed, feature_weights, **kwargs)


def run_evaluator(cfg: GanConfig, n_fake: int | None = None, feature_weights: str | None = None) -> Evaluator:
    """The evaluator of a run: ``cfg.eval``'s reference data, sample count and feature network (``n_fake``
    and ``feature_weights`` override the last two). ``protocol["eval_split"]`` says which real data it
    compares with and, when ``eval.reference: auto`` fell back to the training set, why."""
    ref, used, why = reference_dataset(cfg.data, cfg.eval.reference, seed=cfg.seed + 1)
    ev = make_evaluator(ref, n_fake or cfg.eval.samples, cfg.seed, feature_weights or cfg.eval.feature_weights)
    ev.protocol["eval_split"] = TEST_SPLIT if used == "test" else \
        f"training set (eval.reference: {cfg.eval.reference}{'; ' + why if why else ''})"
    return ev


def primary_metric(ds: Any) -> tuple[str, str]:
    """The headline metric and its direction (``min``/``max``) for a dataset, without building its evaluator."""
    return task_of(ds).primary_metric(ds)


def preflight(ds: Any, cfg: GanConfig) -> None:
    """Check, before training starts, everything evaluating ``ds`` per ``cfg.eval`` will need: a feature
    network, and a test split when ``eval.reference`` is ``test``."""
    if cfg.eval.reference == "test":
        reference_dataset(cfg.data, "test", seed=cfg.seed + 1)
    task_of(ds).preflight(ds, cfg.eval.feature_weights)


__all__ = ["TASKS", "TEST_SPLIT", "Task", "make_evaluator", "preflight", "primary_metric", "run_evaluator", "task_of"]
