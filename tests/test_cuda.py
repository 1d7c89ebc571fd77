"""The CUDA paths of gan_core: fp16 with its grad scalers, bf16 autocast, and a checkpoint written on the GPU
read back on the CPU. Skipped where no CUDA device is (CI); run on a GPU machine with `pytest tests/test_cuda.py`."""

import math

import pytest
import torch

from gan_core import BatchStream, build_trainer, fit, load_config
from gan_core.checkpoint import load_checkpoint, restore, save_checkpoint
from gan_core.data.base import TensorGanDataset
from gan_core.models import DataSpec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SPEC = DataSpec((1, 16, 16), 0, "image")


def tiny_cfg(**train):
    return load_config({
        "generator": {"arch": "dcgan", "z_dim": 16, "width": 16}, "discriminator": {"arch": "dcgan", "width": 16},
        "loss": {"name": "wgan"}, "penalty": {"name": "wgan-gp", "weight": 10.0},
        "optim": {"lr_g": 1e-3, "lr_d": 1e-3}, "train": {"batch_size": 32, "steps": 200, **train},
    })


def noise_images() -> TensorGanDataset:
    raw = (torch.rand(512, *SPEC.shape, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    return TensorGanDataset("noise16", "image", raw, None, 0, 255.0, {})


def test_fp16_with_grad_scalers_trains_wgan_gp_200_steps_on_cuda() -> None:
    torch.manual_seed(0)
    tr = build_trainer(tiny_cfg(amp="fp16"), SPEC, device="cuda")
    assert tr.scaler_d.is_enabled() and tr.scaler_g.is_enabled()
    seen: list[dict[str, float]] = []
    fit(tr, BatchStream(noise_images(), 32), until_step=200, log_every=20,
        callback=lambda t, m: seen.append(m) if m else None)
    assert tr.step == 200 and len(seen) == 10
    assert all(math.isfinite(v) for m in seen for v in m.values())
    assert any(m["penalty"] > 0 for m in seen)
    # the scalers started at 2**16 and stayed in a sane range: no collapse to 0 from repeated inf steps
    assert 1.0 <= tr.scaler_d.get_scale() <= 2.0 ** 24 and 1.0 <= tr.scaler_g.get_scale() <= 2.0 ** 24
    assert all(p.device.type == "cuda" for p in tr.G.parameters())


def test_bf16_autocast_lowers_precision_on_cuda() -> None:
    tr = build_trainer(tiny_cfg(amp="bf16"), SPEC, device="cuda")
    with tr._autocast():
        out = tr.D(tr.G(tr.latent(4)))
    assert out.dtype == torch.bfloat16


def test_checkpoint_written_on_cuda_samples_the_same_on_cpu(tmp_path) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    gpu = build_trainer(tiny_cfg(steps=20), SPEC, device="cuda")
    fit(gpu, BatchStream(noise_images(), 32), until_step=20, log_every=10)
    path = save_checkpoint(tmp_path / "gpu.pt", gpu, SPEC, stream_position=640)
    payload = load_checkpoint(path)  # weights_only=True, mapped to the CPU
    cpu = build_trainer(tiny_cfg(steps=20), SPEC, device="cpu")
    assert restore(cpu, payload) == 640 and cpu.step == 20
    z = torch.randn(64, gpu.G.noise_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        on_gpu = gpu.G_ema.eval()(z.cuda()).cpu()
        on_cpu = cpu.G_ema.eval()(z)
    assert on_gpu.abs().mean() > 0.01  # not a constant image
    assert (on_gpu - on_cpu).abs().max() < 1e-4
