"""Evaluation: one evaluator per kind of data and the metric functions they use.

Images: FD and KID (gan_core.metrics.image) in the feature space of a small classifier trained per domain
(or a user's feature network / InceptionV3 file), PRDC (k=5), classifier score. Toy mixtures:
PacGAN mode metrics. Text: NLL_oracle / NLL_test, BLEU / Self-BLEU / n-gram JSD. Which evaluator a
dataset gets is its Task's choice: ``gan_core.tasks.make_evaluator(ds_reference, n_fake, seed)``.
"""

from gan_core.metrics.base import Evaluator

__all__ = ["Evaluator"]
