"""Image shape adaptation on raw uint8 storage: channels, resize of the shorter side, centre crop."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")


def set_channels(raw: torch.Tensor, channels: int | None) -> torch.Tensor:
    """(N, C, H, W) uint8 -> ``channels`` channels (RGB->gray by luma, gray->RGB by repetition)."""
    c = raw.shape[1]
    if channels is None or channels == c:
        return raw
    if channels == 3 and c == 1:
        return raw.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        gray = (raw.to(torch.float32) * _LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
        return gray.round().clamp(0, 255).to(torch.uint8)
    raise ValueError(f"cannot convert {c} channels to {channels}")


def resize_raw(raw: torch.Tensor, size: int | None, scale: float, chunk: int = 2048) -> tuple[torch.Tensor, float]:
    """Resize (N, C, H, W) uint8 so the shorter side is ``size``, then centre-crop to size x size.

    Antialiased bilinear on floats, rounded back to uint8; values are rescaled to [0, 255] first so
    small-range data (digits: 0..16) do not lose levels. Returns the new raw tensor and its scale.
    """
    h, w = raw.shape[-2:]
    if size is None or (h == size and w == size):
        return raw, scale
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    out = []
    for part in raw.split(chunk):
        x = part.to(torch.float32) * (255.0 / scale)
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - size) // 2, (nw - size) // 2
        out.append(x[..., top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out), 255.0


def load_image(path: str, size: int, channels: int) -> np.ndarray:
    """Read one image file -> (C, size, size) uint8: shorter side resized to ``size``, centre crop."""
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
