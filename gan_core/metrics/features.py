"""Feature networks for FD/KID/PRDC/classifier score: our small CNNs, the standard FID InceptionV3, or a
user's network.

Each shipped image domain has a small classifier trained by ``scripts/train_feature_net.py`` (fixed
seed). Its weights (state_dict only) and a JSON with the architecture and the test accuracy live in
``gan_core/metrics/weights/``. ``inception`` is the standard FID network (``gan_core.metrics.inception``,
the optional extra ``ganarena[inception]``). Everything is loaded with ``torch.load(..., weights_only=True)``.

Which network a run uses (``build_extractor``'s ``features``): None, the CNN of the dataset's domain;
``inception``; the name of a shipped domain (``digits``, ``mnist5k``, ``fashionmnist``); or the path of a
weights file (``eval.feature_weights``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.errors import GanConfigError

WEIGHTS_DIR = Path(__file__).parent / "weights"
REGISTRY_JSON = WEIGHTS_DIR / "feature_nets.json"
# dataset name -> domain whose shipped feature network applies to it
DOMAIN_OF = {"digits": "digits", "mnist5k": "mnist5k", "mnist": "mnist5k", "fashionmnist": "fashionmnist"}
INCEPTION = "inception"


class FeatureNet(nn.Module):
    """Small CNN classifier; ``features`` is the penultimate layer (post-ReLU) used for FD."""

    def __init__(self, channels: int = 1, native_size: int = 28, feat_dim: int = 64, num_classes: int = 10):
        super().__init__()
        self.arch = {"channels": channels, "native_size": native_size, "feat_dim": feat_dim,
                     "num_classes": num_classes}
        pool = (lambda: nn.MaxPool2d(2)) if native_size >= 16 else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), pool(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(256, feat_dim), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(feat_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, native, native) in [-1, 1] -> (B, feat_dim)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.drop(self.body(x)))


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Match the channel count a network expects (RGB -> luma gray, gray -> repeated RGB)."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 3 and channels == 1:
        return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    raise GanConfigError("samples", f"cannot feed {c}-channel images to a {channels}-channel network", [1, 3])


class Extractor(nn.Module):
    """Images in [-1, 1] of any size -> (features, class logits or None), in eval mode, no grad."""

    name: str = "extractor"
    num_features: int = 0
    test_accuracy: float | None = None
    cache_key: str | None = None  # set: real-set features are cached on disk (feature_cache.py)

    @torch.no_grad()
    def extract(self, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (float64) and logits for a whole sample set, in batches."""
        self.eval()
        feats, logits = [], []
        for part in x.split(batch_size):
            f, lg = self.forward(part)
            feats.append(f.double())
            if lg is not None:
                logits.append(lg.double())
        return torch.cat(feats), torch.cat(logits) if logits else None


class CNNExtractor(Extractor):
    """Our FeatureNet behind resizing and channel matching.

    Real-set features are cached on disk (feature_cache.py) under the SHA-1 of the network's weights and
    architecture with ``PREPROCESS`` (the resize and channel matching below: bump it when they change):
    the 10,000 Fashion-MNIST test images cost ~5 CPU-s through it, which every evaluation paid again."""

    PREPROCESS = "cnn-v1"

    def __init__(self, net: FeatureNet, name: str, test_accuracy: float | None):
        super().__init__()
        self.net, self.name, self.test_accuracy = net.eval(), name, test_accuracy
        self.num_features = net.arch["feat_dim"]
        h = hashlib.sha1(json.dumps(net.arch, sort_keys=True).encode())
        for k, v in net.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().to(torch.float32).contiguous().numpy().tobytes())
        self.cache_key = f"{self.PREPROCESS}:{h.hexdigest()}"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and logits of a batch."""
        a = self.net.arch
        x = to_channels(x.float(), a["channels"])
        if x.shape[-1] != a["native_size"] or x.shape[-2] != a["native_size"]:
            x = F.interpolate(x, size=(a["native_size"],) * 2, mode="bilinear", antialias=True,
                              align_corners=False)
        f = self.net.features(x)
        return f, self.net.head(f)


FIELD = "eval.feature_weights"
NAME_FIELD = "eval.features"


def _load_state(path: Path) -> dict[str, Any]:
    """A state_dict file read with weights_only=True; anything else is one GanConfigError naming the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickles, truncated or foreign files: all the user's to fix
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise GanConfigError(FIELD, f"cannot read {path} as plain weights ({first})") from None
    if not isinstance(state, dict):
        raise GanConfigError(FIELD, f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


def load_cnn(weights: str | Path, meta: dict[str, Any], name: str) -> CNNExtractor:
    """Build FeatureNet(**meta['arch']) and load a state_dict file (weights_only=True)."""
    try:
        net = FeatureNet(**meta["arch"])
    except (KeyError, TypeError) as e:
        raise GanConfigError(FIELD, f"the JSON beside {weights} has no valid 'arch' ({e})",
                             "the JSON scripts/train_feature_net.py writes") from None
    try:
        net.load_state_dict(_load_state(Path(weights)))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:200]
        raise GanConfigError(FIELD, f"{weights} does not match the architecture in its JSON ({first})") from None
    return CNNExtractor(net, name, meta.get("test_accuracy"))


def shipped_nets() -> dict[str, dict[str, Any]]:
    """The JSON of shipped feature networks: domain -> arch, file, test accuracy, protocol."""
    return json.loads(REGISTRY_JSON.read_text()) if REGISTRY_JSON.exists() else {}


def load_shipped(domain: str) -> CNNExtractor:
    """The committed feature network of one domain (digits, mnist5k)."""
    nets = shipped_nets()
    if domain not in nets:
        raise GanConfigError(FIELD, f"no shipped feature network for domain {domain!r}", sorted(nets))
    meta = nets[domain]
    return load_cnn(WEIGHTS_DIR / meta["file"], meta, f"{domain}-cnn (ours)")


class FidInceptionExtractor(Extractor):
    """The standard FID InceptionV3 (``gan_core.metrics.inception``): 2048-d pool features, no logits."""

    batch_size = 50  # 299x299 activations: ~1.3 GB per 50 images at the widest layer
    name, num_features = "FID InceptionV3 (inception-2015-12-05, pool3)", 2048
    cache_key = "fid-inception-v3"  # real-set features are cached on disk (feature_cache.py)

    def __init__(self):
        super().__init__()
        from gan_core.metrics import inception

        self.prep = inception.preprocess
        self.cache_key = f"{self.cache_key}:{inception.SCRIPT_SHA1}:preprocess-v{inception.PREPROCESS_VERSION}"
        self.net = inception.load_network().to(memory_format=torch.channels_last)  # 1.4x faster on CPU

    @torch.no_grad()
    def extract(self, x: torch.Tensor, batch_size: int | None = None) -> tuple[torch.Tensor, None]:
        return super().extract(x, batch_size or self.batch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Samples in [-1, 1] of any size, 1 or 3 channels -> (pool features, None)."""
        return self.net(self.prep(x).contiguous(memory_format=torch.channels_last)), None


class InceptionExtractor(Extractor):
    """torchmetrics/torch-fidelity InceptionV3 from a local weights file: 2048-d pool features + logits."""

    def __init__(self, weights_path: str | Path):
        super().__init__()
        p = Path(weights_path).expanduser()
        _load_state(p)  # refuse pickles that are not plain weights
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=str(p))
        self.name, self.num_features = f"InceptionV3 ({p.name})", 2048

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[-1, 1] images -> uint8 RGB -> (pool features, logits)."""
        u8 = ((to_channels(x.float(), 3) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        f, lg = self.net._torch_fidelity_forward(u8)
        return f.reshape(len(x), -1), lg


def is_path(features: str) -> bool:
    """A weights file rather than a network's name (names have no path separator or suffix)."""
    return "/" in features or "\\" in features or Path(features).suffix != ""


def network_names() -> list[str]:
    return [INCEPTION, *sorted(shipped_nets())]


def build_extractor(dataset_name: str, features: str | Path | None) -> Extractor:
    """The feature network for a dataset: ``features`` names one (``inception`` or a shipped domain) or
    is a file (our CNN if ``<file>.json`` exists, else InceptionV3); None is the dataset's domain CNN."""
    if isinstance(features, str) and not is_path(features):
        if features == INCEPTION:
            return FidInceptionExtractor()
        if features not in shipped_nets():
            raise GanConfigError(NAME_FIELD, f"unknown feature network {features!r}", network_names())
        return load_shipped(features)
    if features is not None:
        path = Path(features).expanduser()
        if not path.is_file():
            raise GanConfigError(FIELD, f"{path} does not exist (or is not a file)", "a feature CNN F.pt (with F.json beside it) from "
                                 "scripts/train_feature_net.py, or an InceptionV3 weights file")
        side = path.with_suffix(".json")
        if side.is_file():
            try:
                meta = json.loads(side.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise GanConfigError(FIELD, f"cannot read {side}: {e}") from None
            return load_cnn(path, meta, f"{path.stem} (user CNN)")
        return InceptionExtractor(path)
    if dataset_name not in DOMAIN_OF:
        raise GanConfigError(FIELD, f"no shipped feature network for dataset {dataset_name!r}: train one with "
                             "`python scripts/train_feature_net.py --dataset ... --out F.pt` and pass "
                             "--feature-weights F.pt (or --set eval.feature_weights=F.pt), or use the standard FID "
                             "network (eval.features: inception); shipped for", sorted(DOMAIN_OF))
    return load_shipped(DOMAIN_OF[dataset_name])
