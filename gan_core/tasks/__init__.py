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
                   features: str | None = None, **kwargs: Any) -> Evaluator:
    """The evaluator of ``reference``'s kind; ``n_fake`` defaults to min(len(reference), 10,000)."""
    return task_of(reference).make_evaluator(reference, n_fake, seed, features, **kwargs)


def run_evaluator(cfg: GanConfig, n_fake: int | None = None, features: str | None = None) -> Evaluator:
    """The evaluator of a run: ``cfg.eval``'s reference data, sample count and feature network (``n_fake``
    and ``features`` -- a network's name or a weights file -- override the last two). ``protocol["eval_split"]`` says which real data it
    compares with and, when ``eval.reference: auto`` fell back to the training set, why."""
    ref, used, why = reference_dataset(cfg.data, cfg.eval.reference, seed=cfg.seed + 1)
    ev = make_evaluator(ref, n_fake or cfg.eval.samples, cfg.seed, features or cfg.eval.feature_spec())
    ev.protocol["eval_split"] = TEST_SPLIT if used == "test" else \
        f"training set (eval.reference: {cfg.eval.reference}{'; ' + why if why else ''})"
    return ev


def final_evaluator(cfg: GanConfig) -> Evaluator:
    """The evaluator of a run's final evaluation (``eval.final_samples`` / ``eval.final_features``)."""
    return run_evaluator(cfg, n_fake=cfg.eval.final_samples, features=cfg.eval.final_features)


def primary_metric(ds: Any) -> tuple[str, str]:
    """The headline metric and its direction (``min``/``max``) for a dataset, without building its evaluator."""
    return task_of(ds).primary_metric(ds)


def preflight(ds: Any, cfg: GanConfig) -> None:
    """Check, before training starts, everything evaluating ``ds`` per ``cfg.eval`` will need: feature
    networks (the final evaluation's too), and a test split when ``eval.reference`` is ``test``."""
    if cfg.eval.reference == "test":
        reference_dataset(cfg.data, "test", seed=cfg.seed + 1)
    task = task_of(ds)
    settings = {"eval.feature_weights": cfg.eval.feature_weights, "eval.features": cfg.eval.features,
                "eval.final_features": cfg.eval.final_features}
    for key, value in settings.items():
        if value is not None and task.kind != "image":
            raise GanConfigError(key, f"only images are scored in a feature network; this run's data are "
                                 f"{task.kind}", ["null"])
    task.preflight(ds, cfg.eval.feature_spec())
    if cfg.eval.final_features is not None:
        try:
            task.preflight(ds, cfg.eval.final_features)
        except GanConfigError as e:  # the same check, about the other field
            raise GanConfigError("eval.final_features", e.problem, e.allowed) from None


__all__ = ["TASKS", "TEST_SPLIT", "Task", "final_evaluator", "make_evaluator", "preflight", "primary_metric", "run_evaluator", "task_of"]
