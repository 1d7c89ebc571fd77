"""Evaluation: ``make_evaluator(ds_reference, n_fake, seed)`` and the metric functions it uses.

Images: FD and KID (torchmetrics) in the feature space of a small classifier trained per domain
(or a user's InceptionV3 file), PRDC (k=5), classifier score. Toy mixtures: PacGAN mode metrics.
Text: BLEU / Self-BLEU / n-gram JSD in ``gan_core.metrics.text``.
"""

from gan_core.metrics.evaluator import EVALUATORS, Evaluator, make_evaluator, register_evaluator

__all__ = ["EVALUATORS", "Evaluator", "make_evaluator", "register_evaluator"]
