"""The evaluator of each data kind, in one plain registry: ``make_evaluator(ds)`` and ``primary_metric(ds)``.

Toy mixtures get PacGAN mode metrics, images FD/KID/PRDC/classifier score in a feature network's
space, text NLL_oracle/NLL_test (oracle data) or BLEU/Self-BLEU/n-gram JSD (corpora). The registry is
filled here, where it is defined, from modules that import only ``gan_core.metrics.base``: no import
order decides what is registered, and no module imports this one back.
"""

from __future__ import annotations

from typing import Any

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics.base import MAX_REAL, Evaluator
from gan_core.metrics.image_eval import ImageEvaluator
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.metrics.toy_eval import ToyEvaluator

EVALUATORS: dict[str, type[Evaluator]] = {"toy": ToyEvaluator, "image": ImageEvaluator, "text": TextEvaluator}


def evaluator_class(kind: str) -> type[Evaluator]:
    """The evaluator of a dataset kind; an unknown kind is a GanConfigError naming the kinds there are."""
    if kind not in EVALUATORS:
        raise GanConfigError("data.name", f"no evaluator for dataset kind {kind!r}", sorted(EVALUATORS))
    return EVALUATORS[kind]


def primary_metric(ds: Any) -> tuple[str, str]:
    """The headline metric and its direction (``min``/``max``) for a dataset, without building its evaluator."""
    return evaluator_class(ds.kind).primary_for(ds)


def preflight(ds: Any, feature_weights: str | None = None) -> None:
    """Check, before training starts, everything evaluating ``ds`` will need (e.g. a feature network)."""
    evaluator_class(ds.kind).preflight(ds, feature_weights=feature_weights)


def make_evaluator(ds_reference: GanDataset, n_fake: int | None = None, seed: int = 0,
                   feature_weights: str | None = None, **kwargs: Any) -> Evaluator:
    """The evaluator for ``ds_reference.kind``; ``n_fake`` defaults to min(len(ds), 10,000)."""
    cls = evaluator_class(ds_reference.kind)
    n = n_fake if n_fake is not None else min(len(ds_reference), MAX_REAL)
    if cls is ImageEvaluator:
        kwargs["feature_weights"] = feature_weights
    return cls(ds_reference, n, seed, **kwargs)
