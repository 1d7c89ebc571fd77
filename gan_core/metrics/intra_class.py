"""Intra-class FD of a class-conditional generator (Miyato & Koyama 2018, section 5): for each class c, the FD
between the reference images of class c and the generator's samples for label c, and their mean.

Its floor is measured the same way with real images in place of samples: for each class, the same number
of training images of that class against the reference images of that class (FD's bias depends on N, so a
generator can only be read against the floor at its own N).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.metrics import image as im
from gan_core.metrics.feature_cache import extract_real

Features = Callable[[torch.Tensor], torch.Tensor]


def per_class_fd(real: torch.Tensor, real_y: torch.Tensor, other: torch.Tensor, other_y: torch.Tensor,
                 classes: int) -> dict[str, float]:
    """``fd_class_<c>`` for every class and their mean ``intra_fd`` (features with their labels)."""
    out = {}
    for c in range(classes):
        r, o = real[real_y == c], other[other_y == c]
        if len(r) < 2 or len(o) < 2:
            raise GanConfigError("intra-class FD", f"class {c} has {len(r)} reference and {len(o)} compared "
                                 "samples", "at least 2 of each per class")
        out[f"fd_class_{c}"] = im.frechet_distance(r, o)
    out["intra_fd"] = sum(out.values()) / classes
    return out


def class_sample(ds: GanDataset, per_class: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` images of each class drawn from ``ds`` (seeded), with their labels."""
    _, y = ds.get_batch(torch.arange(len(ds)))
    g = torch.Generator().manual_seed(seed)
    idx = []
    for c in range(classes):
        pool = (y == c).nonzero().flatten()
        if len(pool) < per_class:
            raise GanConfigError("--n", f"class {c} of {ds.name} has {len(pool)} images, fewer than the "
                                 f"{per_class} per class asked", f"--n <= {classes * len(pool)}")
        idx.append(pool[torch.randperm(len(pool), generator=g)[:per_class]])
    return ds.get_batch(torch.cat(idx).sort().values)


def intra_class_fd(extractor, reference: GanDataset, train: GanDataset, sample: Callable[[torch.Tensor], torch.Tensor],
                   per_class: int, classes: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """(the generator's per-class FD and mean, the real-vs-real floor at the same N per class).

    ``sample(labels)`` returns the generator's samples for ``labels``; the reference features of every
    image are computed once (and cached on disk for the FID Inception network)."""
    ref_x, ref_y = reference.get_batch(torch.arange(len(reference)))
    if ref_y is None:
        raise GanConfigError("data.conditional", f"{reference.name}'s reference split has no labels", ["true"])
    ref_f = extract_real(extractor, ref_x)
    labels = torch.arange(classes).repeat_interleave(per_class)
    fake_f = extractor.extract(sample(labels))[0]
    twin_x, twin_y = class_sample(train, per_class, classes, seed)
    twin_f = extractor.extract(twin_x)[0]
    return per_class_fd(ref_f, ref_y, fake_f, labels, classes), per_class_fd(ref_f, ref_y, twin_f, twin_y, classes)
