"""Train the small CNN classifier used as the feature network of FD/KID/PRDC for one image dataset.

Usage:
    python scripts/train_feature_net.py --dataset digits            # ships gan_core/metrics/weights/
    python scripts/train_feature_net.py --dataset mnist5k
    python scripts/train_feature_net.py --dataset fashionmnist     # Debian dataset-fashion-mnist
    python scripts/train_feature_net.py --dataset cifar10 --root ~/data --out c10.pt   # your own

Trains on the dataset's ``train`` split with a fixed seed (Adam, cosine schedule, random shifts),
reports accuracy on its ``test`` split, and saves the state_dict (``.pt``) plus a ``.json`` with the
architecture and the protocol. Shipped nets are also recorded in ``weights/feature_nets.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.metrics.features import REGISTRY_JSON, WEIGHTS_DIR, FeatureNet

DEFAULT_EPOCHS = {"digits": 40, "mnist5k": 40, "fashionmnist": 10}  # 60,000 images: 10 epochs ~ 0.6 M samples


def shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random per-sample translation by up to ``max_shift`` pixels (background -1 fills the gap)."""
    if max_shift == 0:
        return x
    s = max_shift
    pad = F.pad(x, (s, s, s, s), value=-1.0)
    dx = torch.randint(0, 2 * s + 1, (len(x),), generator=gen).tolist()
    dy = torch.randint(0, 2 * s + 1, (len(x),), generator=gen).tolist()
    h, w = x.shape[-2:]
    return torch.stack([pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(len(x))])


@torch.no_grad()
def accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in eval mode."""
    net.eval()
    pred = torch.cat([net(p).argmax(1) for p in x.split(500)])
    return float((pred == y).double().mean())


def train(dataset: str, root: str | None, epochs: int, seed: int, batch: int = 64) -> tuple[FeatureNet, dict]:
    """Train on the train split; return the net and its protocol facts."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tr = build_dataset(DataConfig(name=dataset, root=root, split="train"))
    te = build_dataset(DataConfig(name=dataset, root=root, split="test"))
    xtr, ytr = tr.all()
    xte, yte = te.all()
    c, h, _ = tr.shape
    net = FeatureNet(channels=c, native_size=h, feat_dim=64, num_classes=tr.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = epochs * math.ceil(len(xtr) / batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    max_shift = max(1, h // 14)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(perm), batch):
            b = perm[i:i + batch]
            loss = F.cross_entropy(net(shift(xtr[b], max_shift, gen)), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if ep % 5 == 4 or ep == epochs - 1:
            print(f"epoch {ep + 1}/{epochs} loss {loss.item():.4f} test acc {accuracy(net, xte, yte):.4f}")
    meta = {"arch": net.arch, "test_accuracy": round(accuracy(net, xte, yte), 4),
            "train_accuracy": round(accuracy(net, xtr, ytr), 4), "dataset": dataset,
            "train_split": f"{dataset} train (N={len(xtr)})", "test_split": f"{dataset} test (N={len(xte)})",
            "seed": seed, "epochs": epochs, "train_seconds": round(time.time() - t0, 1),
            "torch": torch.__version__, "threads": torch.get_num_threads()}
    return net, meta


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="weights file (default: ship into gan_core/metrics/weights)")
    a = ap.parse_args()
    net, meta = train(a.dataset, a.root, a.epochs or DEFAULT_EPOCHS.get(a.dataset, 20), a.seed)
    out = Path(a.out) if a.out else WEIGHTS_DIR / f"{a.dataset}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out)
    meta["file"] = out.name
    if a.out:
        out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    else:
        nets = json.loads(REGISTRY_JSON.read_text()) if REGISTRY_JSON.exists() else {}
        nets[a.dataset] = meta
        REGISTRY_JSON.write_text(json.dumps(nets, indent=2, sort_keys=True) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
