"""Evaluation: ``make_evaluator(ds_reference, n_fake, seed)`` and the metric functions it uses.

Images: FD and KID (gan_core.metrics.image) in the feature space of a small classifier trained per domain
(or a user's feature network / InceptionV3 file), PRDC (k=5), classifier score. Toy mixtures:
PacGAN mode metrics. Text: NLL_oracle / NLL_test, BLEU / Self-BLEU / n-gram JSD.
"""

from gan_core.metrics.base import Evaluator
from gan_core.metrics.evaluator import EVALUATORS, make_evaluator, preflight, primary_metric

__all__ = ["EVALUATORS", "Evaluator", "make_evaluator", "preflight", "primary_metric"]
