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


def _cfg(loss: str, penalty: str, n_critic: int):
    return load_config({
        "generator": {"z_dim": 4, "width": 32, "depth": 2}, "discriminator": {"width": 32, "depth": 2},
        "loss": {"name": loss}, "penalty": {"name": penalty, "weight": 10.0},
        "optim": {"lr_g": 1e-2, "lr_d": 1e-2}, "train": {"n_critic": n_critic, "batch_size": BATCH},
    })


def _data() -> torch.Tensor:
    return torch.randn(STEPS * 4 * BATCH, 2, generator=torch.Generator().manual_seed(7))


def _train(rank: int, world: int, loss: str, penalty: str, n_critic: int, wrap) -> dict[str, torch.Tensor]:
    cfg = _cfg(loss, penalty, n_critic)
    tr = build_trainer(cfg, DataSpec((2,), 0, "toy"), wrap=wrap, noise=ShardedNoise(rank, world))
    torch.manual_seed(123)  # identical noise stream on every rank
    x, local, pos = _data(), BATCH // world, 0
    for _ in range(STEPS):
        batches = []
        for _ in range(n_critic):
            batches.append((x[pos * BATCH + rank * local: pos * BATCH + (rank + 1) * local], None))
            pos += 1
        tr.train_step(batches)
    return {f"G.{k}": v for k, v in tr.G.state_dict().items()} | {f"D.{k}": v for k, v in tr.D.state_dict().items()}


CASES = [("ns", "r1", 1), ("wgan", "wgan-gp", 2)]


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
@pytest.mark.parametrize("loss,penalty,n_critic", CASES)
def test_two_workers_equal_one_worker(ddp_results, loss: str, penalty: str, n_critic: int) -> None:
    single = _train(0, 1, loss, penalty, n_critic, wrap=None)
    ddp = ddp_results[f"{loss}|{penalty}|{n_critic}"]
    assert single.keys() == ddp.keys()
    init = _init_params(loss, penalty, n_critic)
    assert max((single[k] - init[k]).abs().max().item() for k in single) > 1e-3  # training moved them
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=0, atol=1e-5, msg=k)


def _init_params(loss: str, penalty: str, n_critic: int) -> dict[str, torch.Tensor]:
    tr = build_trainer(_cfg(loss, penalty, n_critic), DataSpec((2,), 0, "toy"))
    return {f"G.{k}": v for k, v in tr.G.state_dict().items()} | {f"D.{k}": v for k, v in tr.D.state_dict().items()}
