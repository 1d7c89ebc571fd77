"""MLE (teacher-forced) pretraining of text generators, a temperature sampler, and the NLL metrics.

Every text GAN starts from an MLE-pretrained generator; this trains the generator's OWN parameters
(the same module the adversarial step later updates) with its own Adam, then syncs G_ema.
NLL_oracle = mean per-token NLL of generated sequences under the oracle (quality); NLL_test = the
generator's mean per-token NLL on held-out real sequences (diversity/coverage).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_core.errors import GanConfigError


def text_net(G: nn.Module) -> nn.Module:
    """The text model inside a ``Generator`` wrapper (or ``G`` itself)."""
    return getattr(G, "net", G)


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def has_likelihood(G: nn.Module) -> bool:
    """True when the generator has teacher-forced logits (lstm-gumbel), i.e. MLE and NLL_test apply."""
    return hasattr(text_net(G), "logits")


def token_nll(G: nn.Module, ids: Tensor, temperature: float = 1.0) -> Tensor:
    """Per-sequence mean per-token NLL (n,) of ids under softmax(logits / T) of the generator."""
    net = text_net(G)
    lg = net.logits(ids.to(_device(net))) / temperature
    n, length, vocab = lg.shape
    # flat (n * L, V) rows: 2.8x faster on CPU than the (n, V, L) view the class dimension second would need
    nll = F.cross_entropy(lg.reshape(n * length, vocab), ids.to(lg.device).reshape(n * length), reduction="none")
    return nll.view(n, length).mean(1)


def mle_pretrain(G: nn.Module, ids: Tensor, steps: int, batch_size: int = 64, lr: float = 1e-2,
                 clip: float | None = 5.0, seed: int = 0,
                 callback: Callable[[int, float], None] | None = None, log_every: int = 100) -> list[float]:
    """Teacher-forced cross-entropy on ``ids`` (N, L) for ``steps`` Adam steps; returns logged losses.

    Batches walk seeded permutations epoch by epoch (deterministic); ``callback(step, loss)`` is
    called every ``log_every`` steps. Defaults follow the reference MLE run (Adam 0.01, clip 5).
    """
    if not has_likelihood(G):
        raise GanConfigError("generator.arch", "MLE pretraining needs a generator with a tractable likelihood",
                             ["lstm-gumbel"])
    net = text_net(G)
    was_training = net.training
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n, perm, pos, logged = len(ids), torch.empty(0, dtype=torch.long), 0, []
    batch_size = min(batch_size, n)
    for step in range(1, steps + 1):
        if pos + batch_size > len(perm):
            perm, pos = torch.randperm(n, generator=gen), 0
        x = ids[perm[pos:pos + batch_size]]
        pos += batch_size
        loss = token_nll(net, x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        if step % log_every == 0 or step == steps:
            logged.append(float(loss.detach()))
            if callback is not None:
                callback(step, logged[-1])
    net.train(was_training)
    return logged


def pretrain_trainer(trainer, ids: Tensor, steps: int, batch_size: int | None = None, lr: float = 1e-2,
                     seed: int | None = None, **kw) -> list[float]:
    """MLE-pretrain ``trainer.G`` then copy it into ``trainer.G_ema`` (the EMA must start from it)."""
    bs = batch_size or trainer.cfg.train.batch_size
    logged = mle_pretrain(trainer.G, ids, steps, bs, lr, seed=trainer.cfg.seed if seed is None else seed, **kw)
    if trainer.G_ema is not None:
        trainer.G_ema.load_state_dict(trainer.G.state_dict())
    return logged


@torch.no_grad()
def sample_tokens(G: nn.Module, n: int, temperature: float | None = None, batch: int = 1000) -> Tensor:
    """``n`` token-id sequences (n, L) on CPU; T=None uses the model's own rule (LSTM: T=1, conv: argmax)."""
    net = text_net(G)
    was_training = net.training
    net.eval()
    out = [net.sample_ids(min(batch, n - i), temperature, _device(net)).cpu() for i in range(0, n, batch)]
    net.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


@torch.no_grad()
def nll_test(G: nn.Module, ids: Tensor, temperature: float = 1.0, batch: int = 1000) -> float:
    """The generator's mean per-token NLL on held-out ids (NaN when its likelihood is intractable)."""
    if not has_likelihood(G):
        return math.nan
    net = text_net(G)
    was_training = net.training
    net.eval()
    total = sum(float(token_nll(net, ids[i:i + batch], temperature).sum()) for i in range(0, len(ids), batch))
    net.train(was_training)
    return total / len(ids)


def nll_oracle(oracle, ids: Tensor) -> float:
    """Mean per-token NLL of generated ids under the oracle (``gan_core.data.text.LSTMOracle``)."""
    return float(oracle.nll(ids.cpu()).mean())


@torch.no_grad()
def entropy(G: nn.Module, ids: Tensor, temperature: float = 1.0) -> float:
    """Per-token entropy estimate of the generator: its NLL on its own samples ``ids`` (NaN if intractable)."""
    return nll_test(G, ids, temperature)
