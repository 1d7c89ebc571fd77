"""Evaluators: one object per (reference data, N fake, seed) that scores generated samples.

``make_evaluator(ds)`` picks the metrics from ``ds.kind``: toy mixtures get PacGAN mode metrics,
images get FD/KID/PRDC/classifier score in the feature space of a classifier. Real features are
computed once; every call must pass exactly ``n_fake`` samples, so numbers are comparable (FD's
bias depends on N). ``ev.protocol`` states everything a number depends on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics import image as im
from gan_core.metrics.features import build_extractor
from gan_core.metrics.prdc import prdc
from gan_core.metrics.toy import toy_metrics

MAX_REAL = 10_000  # default cap on real reference samples (subsampled with the seed)


class Evaluator:
    """Base: ``ev(fake, fake_y=None) -> dict[str, float]``; ``primary``/``mode`` for model selection."""

    primary: str = ""
    mode: str = "min"
    keys: tuple[str, ...] = ()

    def __init__(self, ds: GanDataset, n_fake: int, seed: int):
        if n_fake < 2:
            raise GanConfigError("n_fake", f"must be >= 2, got {n_fake}")
        self.ds, self.n_fake, self.seed = ds, int(n_fake), int(seed)
        self.protocol: dict[str, str] = {}

    def check(self, fake: torch.Tensor) -> torch.Tensor:
        """Fake samples must be (n_fake, *shape); returned detached, float32, on CPU."""
        if tuple(fake.shape) != (self.n_fake, *self.ds.shape):
            raise GanConfigError("fake", f"expected shape {(self.n_fake, *self.ds.shape)} (n_fake samples of "
                                 f"{self.ds.name}), got {tuple(fake.shape)}")
        return fake.detach().to("cpu", torch.float32)

    def nan_result(self) -> dict[str, float]:
        """All metrics NaN: returned when generated samples contain NaN or inf (diverged G)."""
        return dict.fromkeys(self.keys, float("nan"))

    def __call__(self, fake: torch.Tensor, fake_y: torch.Tensor | None = None) -> dict[str, float]:
        raise NotImplementedError

    def describe(self, result: dict[str, float]) -> str:
        """One line with the numbers and, beside them, the protocol they depend on."""
        nums = ", ".join(f"{k}={v:.4g}" for k, v in result.items())
        return f"{nums} [{'; '.join(f'{k}: {v}' for k, v in self.protocol.items())}]"


class ToyEvaluator(Evaluator):
    """PacGAN mode metrics against the mixture's known centres (no real sample needed)."""

    primary, mode = "modes_hq", "max"
    keys = ("modes", "hq_fraction", "reverse_kl", "modes_hq")

    def __init__(self, ds: GanDataset, n_fake: int, seed: int):
        super().__init__(ds, n_fake, seed)
        info = ds.info if "centres" in ds.info else ds.info.get("source_info", {})
        if "centres" not in info:
            raise GanConfigError("data", f"toy dataset {ds.name!r} carries no mode centres in its info")
        self.centres = torch.tensor(info["centres"], dtype=torch.float64)
        self.std = float(info["std"])
        self.protocol = {"metric": "PacGAN modes / HQ (<= 3 std) / reverse KL vs uniform",
                         "reference": f"{len(self.centres)} mode centres, std {self.std} ({info.get('setting')})",
                         "n_fake": str(self.n_fake), "seed": str(self.seed)}

    def __call__(self, fake: torch.Tensor, fake_y: torch.Tensor | None = None) -> dict[str, float]:
        """Mode metrics of (n_fake, 2) samples."""
        fake = self.check(fake)
        if not torch.isfinite(fake).all():
            return self.nan_result()
        return toy_metrics(fake, self.centres, self.std)


class ImageEvaluator(Evaluator):
    """FD, KID, precision/recall/density/coverage (k=5), classifier score; ``fd`` is the headline."""

    primary, mode = "fd", "min"
    keys = ("fd", "kid", "kid_std", "precision", "recall", "density", "coverage", "cs")

    def __init__(self, ds: GanDataset, n_fake: int, seed: int, feature_weights: str | None = None,
                 n_real: int | None = None, prdc_k: int = 5):
        super().__init__(ds, n_fake, seed)
        src = ds.info.get("source_name", ds.name)
        self.extractor = build_extractor(src, feature_weights)
        n_real = min(len(ds), n_real or MAX_REAL)
        g = torch.Generator().manual_seed(seed)
        idx = torch.arange(len(ds)) if n_real == len(ds) else torch.randperm(len(ds), generator=g)[:n_real]
        real, _ = ds.get_batch(idx.sort().values)
        self.real_feats, _ = self.extractor.extract(real)
        self.fd = im.make_fd(self.real_feats)
        self.kid = im.make_kid(self.real_feats, self.n_fake)
        self.prdc_k = prdc_k
        acc = self.extractor.test_accuracy
        self.protocol = {
            "feature_network": self.extractor.name,
            "feature_net_test_accuracy": "n/a" if acc is None else f"{acc:.4f}",
            "reference": f"{src} {ds.info.get('split', '?')} split",
            "n_real": str(n_real), "n_fake": str(self.n_fake), "seed": str(seed),
            "kid": f"subsets={self.kid.subsets}, subset_size={self.kid.subset_size}", "prdc_k": str(prdc_k)}

    def fd_only(self, fake: torch.Tensor) -> float:
        """FD alone (cheap: no KID/PRDC), same protocol as ``__call__``."""
        fake = self.check(fake)
        return im.fd_with(self.fd, self.extractor.extract(fake)[0])

    def __call__(self, fake: torch.Tensor, fake_y: torch.Tensor | None = None) -> dict[str, float]:
        """All image metrics of (n_fake, C, H, W) samples in [-1, 1]."""
        fake = self.check(fake)
        if not torch.isfinite(fake).all():
            return self.nan_result()
        feats, logits = self.extractor.extract(fake)
        out = {"fd": im.fd_with(self.fd, feats)}
        out["kid"], out["kid_std"] = im.kid_with(self.kid, feats, self.seed)
        out.update(prdc(self.real_feats, feats, self.prdc_k))
        if logits is not None:
            out["cs"] = im.classifier_score(logits)
            if fake_y is not None and logits.shape[1] == self.ds.num_classes:
                out["cond_acc"] = float((logits.argmax(1) == fake_y.cpu()).double().mean())
        return out


EVALUATORS: dict[str, Callable[..., Evaluator]] = {"toy": ToyEvaluator, "image": ImageEvaluator}


def register_evaluator(kind: str, factory: Callable[..., Evaluator]) -> None:
    """Add an evaluator factory for a dataset kind (e.g. "text")."""
    EVALUATORS[kind] = factory


def make_evaluator(ds_reference: GanDataset, n_fake: int | None = None, seed: int = 0,
                   feature_weights: str | None = None, **kwargs: Any) -> Evaluator:
    """The evaluator for ``ds_reference.kind``; ``n_fake`` defaults to min(len(ds), 10,000)."""
    if ds_reference.kind == "text" and "text" not in EVALUATORS:
        import gan_core.metrics.text_eval  # noqa: F401 - registers the "text" evaluator
    if ds_reference.kind not in EVALUATORS:
        raise GanConfigError("data.name", f"no evaluator for dataset kind {ds_reference.kind!r}", sorted(EVALUATORS))
    n = n_fake if n_fake is not None else min(len(ds_reference), MAX_REAL)
    if ds_reference.kind == "image":
        return ImageEvaluator(ds_reference, n, seed, feature_weights=feature_weights, **kwargs)
    return EVALUATORS[ds_reference.kind](ds_reference, n, seed, **kwargs)
