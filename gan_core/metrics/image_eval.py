"""Image evaluator (kind "image"): FD, KID, PRDC and classifier score in a feature network's space.

The feature network is a small classifier trained per domain (shipped), a user's CNN or an
InceptionV3 weights file (``gan_core.metrics.features``).
"""

from __future__ import annotations

import torch

from gan_core.data.base import GanDataset
from gan_core.metrics import image as im
from gan_core.metrics.base import MAX_REAL, Evaluator
from gan_core.metrics.feature_cache import extract_real
from gan_core.metrics.features import build_extractor
from gan_core.metrics.prdc import prdc


class ImageEvaluator(Evaluator):
    """FD, KID, precision/recall/density/coverage (k=5), classifier score; ``fd`` is the headline."""

    primary, mode = "fd", "min"
    keys = ("fd", "kid", "kid_std", "precision", "recall", "density", "coverage", "cs")

    @classmethod
    def preflight(cls, ds, features: str | None = None, **kwargs) -> None:
        """The feature network must exist for this data (shipped for its domain, or given) before training."""
        build_extractor(ds.info.get("source_name", ds.name), features)

    def __init__(self, ds: GanDataset, n_fake: int, seed: int, features: str | None = None,
                 n_real: int | None = None, prdc_k: int = 5):
        super().__init__(ds, n_fake, seed)
        src = ds.info.get("source_name", ds.name)
        self.extractor = build_extractor(src, features)
        n_real = min(len(ds), n_real or MAX_REAL)
        g = torch.Generator().manual_seed(seed)
        idx = torch.arange(len(ds)) if n_real == len(ds) else torch.randperm(len(ds), generator=g)[:n_real]
        real, _ = ds.get_batch(idx.sort().values)
        self.real_feats = extract_real(self.extractor, real)
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
