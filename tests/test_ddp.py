"""DDP correctness without Ray: 2 gloo processes on 2 halves of a batch == 1 process on the whole batch.

Both runs use ShardedNoise, so the latent and penalty noise of the 2 ranks are the two halves of
the 1-process draw; equal parameters then mean the one-backward penalty and the frozen-D G step
all-reduce exactly the gradients of the full batch.
"""

import gc
import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from gan_core import build_trainer, load_config
from gan_core.models import DataSpec
from gan_core.noise import ShardedNoise

STEPS, BATCH = 3, 16


# Images (8x8, MLPs so that no BatchNorm statistic is per rank) with every augmentation op, ADA adapting p
# after every D step, and LeCam: their draws, the sign statistics and the anchors must be global too.
AUGMENTED = {"augment": {"policy": ["color", "translation", "cutout"], "p": 0.5, "target": 0.0, "interval": 1,
                         "kimg": 0.05}, "lecam": {"weight": 0.5}}


def _cfg(loss: str, penalty: str, n_critic: int, images: bool = False):
    return load_config({
        "generator": {"z_dim": 4, "width": 32, "depth": 2}, "discriminator": {"width": 32, "depth": 2},
        "loss": {"name": loss}, "penalty": {"name": penalty, "weight": 10.0},
        "optim": {"lr_g": 1e-2, "lr_d": 1e-2}, "train": {"n_critic": n_critic, "batch_size": BATCH},
        **(AUGMENTED if images else {}),
    })


def _spec(images: bool) -> DataSpec:
    return DataSpec((1, 8, 8), 0, "image") if images else DataSpec((2,), 0, "toy")


def _data(images: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    if images:
        return torch.rand(STEPS * 4 * BATCH, 1, 8, 8, generator=g) * 2 - 1
    return torch.randn(STEPS * 4 * BATCH, 2, generator=g)


def _train(rank: int, world: int, loss: str, penalty: str, n_critic: int, images: bool,
           wrap) -> dict[str, torch.Tensor]:
    cfg = _cfg(loss, penalty, n_critic, images)
    tr = build_trainer(cfg, _spec(images), wrap=wrap, noise=ShardedNoise(rank, world))
    if images:
        # Translation's zeros leave some hidden units with gradients of ~1e-9 that are rounding alone (the
        # two runs sum the batch in different orders); Adam's eps=1e-8 would turn that noise into steps of
        # ~0.1 lr. A larger eps keeps the comparison about the gradients (measured: 1.5e-5 -> 1.5e-7).
        for opt in (tr.opt_g, tr.opt_d):
            for group in opt.param_groups:
                group["eps"] = 1e-4
    torch.manual_seed(123)  # identical noise stream on every rank
    x, local, pos = _data(images), BATCH // world, 0
    for _ in range(STEPS):
        batches = []
        for _ in range(n_critic):
            batches.append((x[pos * BATCH + rank * local: pos * BATCH + (rank + 1) * local], None))
            pos += 1
        tr.train_step(batches)
    out = {f"G.{k}": v for k, v in tr.G.state_dict().items()} | {f"D.{k}": v for k, v in tr.D.state_dict().items()}
    if images:
        out |= {"aug.p": tr.augment.p}
        out |= {"lecam.real": tr.lecam.anchor_real, "lecam.fake": tr.lecam.anchor_fake} if tr.lecam else {}
    return out


CASES = [("ns", "r1", 1, False), ("wgan", "wgan-gp", 2, False), ("hinge", "r1", 2, True)]


def _worker(rank: int, world: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        results = {case: _train(rank, world, *case, wrap=lambda m: DDP(m)) for case in CASES}
        if rank == 0:
            torch.save({"|".join(map(str, c)): p for c, p in results.items()}, out)
    finally:
        # Free the DDP wrappers (they sit in reference cycles) so that destroying the group drops its last
        # reference and joins gloo's worker threads now. Otherwise a worker thread can still be releasing the
        # last all-reduce when the interpreter shuts down, and it aborts the process (SIGABRT in ~17% of runs).
        gc.collect()
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results() -> dict[str, dict[str, torch.Tensor]]:
    """One 2-process gloo run (spawning costs ~10 s) that trains every case."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "params.pt")
        init = f"file://{os.path.join(d, 'rendezvous')}"
        mp.start_processes(_worker, args=(2, init, out), nprocs=2, join=True, start_method="spawn")
        return torch.load(out, weights_only=True)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("loss,penalty,n_critic,images", CASES)
def test_two_workers_equal_one_worker(ddp_results, loss: str, penalty: str, n_critic: int, images: bool) -> None:
    single = _train(0, 1, loss, penalty, n_critic, images, wrap=None)
    ddp = ddp_results[f"{loss}|{penalty}|{n_critic}|{images}"]
    assert single.keys() == ddp.keys()
    init = _init_params(loss, penalty, n_critic, images)
    assert max((single[k] - init[k]).abs().max().item() for k in init) > 1e-3  # training moved them
    if images:
        assert float(single["aug.p"]) != 0.5 and float(single["lecam.real"]) != 0  # ADA and LeCam were live
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=0, atol=1e-5, msg=k)


def _init_params(loss: str, penalty: str, n_critic: int, images: bool) -> dict[str, torch.Tensor]:
    tr = build_trainer(_cfg(loss, penalty, n_critic, images), _spec(images))
    return {f"G.{k}": v for k, v in tr.G.state_dict().items()} | {f"D.{k}": v for k, v in tr.D.state_dict().items()}
