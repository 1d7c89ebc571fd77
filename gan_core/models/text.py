"""Text GAN models on one-hot / relaxed one-hot sequences of shape (B, L, V).

Generators: ``GumbelLSTMGenerator`` (RelGAN-style Gumbel-softmax relaxation of an LSTM language
model, inverse temperature annealed 1 -> beta_max) and ``Conv1dSoftmaxGenerator`` (Gulrajani et al.
2017: residual 1-D convs emitting a softmax per position). Discriminators: ``TextCNNDiscriminator``
(multiple filter widths, RelGAN's multiple embedded representations) and ``Conv1dCritic`` (the
residual 1-D conv critic of Gulrajani et al.). Real samples are exact one-hots, fakes are continuous
relaxations, so every gan_core loss and gradient penalty applies unchanged.

Text generators also expose ``sample_ids`` (discrete tokens with a temperature) and, when the
likelihood is tractable, ``logits`` (teacher forcing) for MLE pretraining and NLL metrics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gumbel_like(x: Tensor) -> Tensor:
    """Standard Gumbel noise -log(E), E ~ Exp(1): argmax(logits + g) is an exact categorical sample."""
    return -torch.empty_like(x).exponential_().log()


class GumbelLSTMGenerator(nn.Module):
    """LSTM language model whose sampled tokens are relaxed by Gumbel-softmax for the adversarial game.

    Step t: logits o_t from h_t; the token is argmax(o_t + g_t) (exact sample of softmax(o_t)); the
    output fed to D in training mode is softmax(beta * (o_t + g_t)) and the next input is the
    embedding of the hard token (RelGAN). beta = beta_max ** progress (exponential annealing from 1),
    driven by ``set_progress``. In eval mode the output is the hard one-hot. The latent z is ignored:
    the randomness is the Gumbel noise, which keeps the likelihood tractable (NLL_test, MLE).
    """

    def __init__(self, vocab: int, seq_len: int, embed_dim: int = 32, hidden: int = 32,
                 beta_max: float = 100.0):
        super().__init__()
        self.vocab, self.seq_len, self.beta_max = vocab, seq_len, float(beta_max)
        self.embed = nn.Embedding(vocab, embed_dim)
        self.start = nn.Parameter(torch.zeros(embed_dim))  # learned start-of-sequence input
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        for p in self.parameters():  # SeqGAN's N(0, 0.1) init: MLE reaches the published 9.04 (9.38 with
            nn.init.normal_(p, 0.0, 0.1)  # torch's defaults, whose N(0, 1) embedding overfits sooner)
        self.beta = 1.0

    def set_progress(self, progress: float) -> None:
        """Anneal the inverse temperature exponentially: beta = beta_max ** progress."""
        self.beta = self.beta_max ** min(max(float(progress), 0.0), 1.0)

    def _start(self, n: int, device: torch.device) -> Tensor:
        return self.start.to(device).expand(n, 1, -1)

    def logits(self, ids: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, L, V) for token ids (B, L): MLE and NLL."""
        x = torch.cat([self._start(ids.shape[0], ids.device), self.embed(ids[:, :-1])], dim=1)
        h, _ = self.lstm(x)
        return self.out(h)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        n = z.shape[0]
        x, state, outs = self._start(n, z.device), None, []
        for _ in range(self.seq_len):
            h, state = self.lstm(x, state)
            noisy = self.out(h[:, 0]) + gumbel_like(h.new_empty(n, self.vocab))
            tok = noisy.argmax(-1)
            if self.training:
                outs.append(torch.softmax(self.beta * noisy, dim=-1))
            else:
                outs.append(F.one_hot(tok, self.vocab).to(noisy.dtype))
            x = self.embed(tok)[:, None]
        return torch.stack(outs, dim=1)

    @torch.no_grad()
    def sample_ids(self, n: int, temperature: float | None = 1.0, device: torch.device | str = "cpu") -> Tensor:
        """Ancestral sampling from softmax(logits / T) (T=None means 1, T=0 greedy): ids (n, L)."""
        t = 1.0 if temperature is None else float(temperature)
        x, state, toks = self._start(n, torch.device(device)), None, []
        for _ in range(self.seq_len):
            h, state = self.lstm(x, state)
            lg = self.out(h[:, 0])
            tok = lg.argmax(-1) if t == 0 else torch.multinomial(torch.softmax(lg / t, -1), 1)[:, 0]
            toks.append(tok)
            x = self.embed(tok)[:, None]
        return torch.stack(toks, dim=1)


class _ResBlock1d(nn.Module):
    """relu-conv-relu-conv with a 0.3-scaled residual branch (Gulrajani et al.'s text ResBlock)."""

    def __init__(self, width: int, kernel: int = 5):
        super().__init__()
        self.c1 = nn.Conv1d(width, width, kernel, padding=kernel // 2)
        self.c2 = nn.Conv1d(width, width, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.3 * self.c2(F.relu(self.c1(F.relu(x))))


class Conv1dSoftmaxGenerator(nn.Module):
    """z -> Linear -> (width, L) -> residual 1-D convs -> 1x1 conv to V -> softmax per position."""

    def __init__(self, z_dim: int, vocab: int, seq_len: int, width: int = 128, blocks: int = 5):
        super().__init__()
        self.vocab, self.seq_len, self.width = vocab, seq_len, width
        self.fc = nn.Linear(z_dim, width * seq_len)
        self.blocks = nn.Sequential(*[_ResBlock1d(width) for _ in range(blocks)])
        self.head = nn.Conv1d(width, vocab, 1)

    def logits_from_z(self, z: Tensor) -> Tensor:
        """Per-position logits (B, L, V) for latents z."""
        h = self.blocks(self.fc(z).view(-1, self.width, self.seq_len))
        return self.head(h).transpose(1, 2)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return torch.softmax(self.logits_from_z(z), dim=-1)

    @torch.no_grad()
    def sample_ids(self, n: int, temperature: float | None = None, device: torch.device | str = "cpu") -> Tensor:
        """Token ids (n, L): argmax per position (T=None or 0, the paper's rule) or softmax(logits/T)."""
        lg = self.logits_from_z(torch.randn(n, self.fc.in_features, device=device))
        if not temperature:
            return lg.argmax(-1)
        probs = torch.softmax(lg / float(temperature), -1).flatten(0, 1)
        return torch.multinomial(probs, 1).view(n, self.seq_len)


class _Highway(nn.Module):
    """y = t * relu(W x) + (1 - t) * x with gate t = sigmoid(W_t x) (Srivastava et al. 2015)."""

    def __init__(self, dim: int):
        super().__init__()
        self.h, self.t = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        t = torch.sigmoid(self.t(x))
        return t * F.relu(self.h(x)) + (1 - t) * x


class TextCNNDiscriminator(nn.Module):
    """CNN over embedded (relaxed) one-hots: R embeddings of the input, each scored separately.

    x (B, L, V) @ W (V, R*E) gives R representations (RelGAN); conv widths (2, 3, 4, 5) with ``width``
    filters each, max over time, a highway layer and a linear head give logits (B, R). Every gan_core
    loss averages over the R logits like PatchGAN patches.
    """

    def __init__(self, vocab: int, seq_len: int, embed_dim: int = 32, width: int = 64, reps: int = 4,
                 widths: tuple[int, ...] = (2, 3, 4, 5)):
        super().__init__()
        self.reps, self.embed_dim = reps, embed_dim
        self.embed = nn.Linear(vocab, reps * embed_dim, bias=False)
        nn.init.normal_(self.embed.weight, std=1.0 / embed_dim ** 0.5)
        ks = [k for k in widths if k <= seq_len] or [seq_len]
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, width, k) for k in ks])
        feat = width * len(ks)
        self.highway = _Highway(feat)
        self.head = nn.Linear(feat, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        b, length, _ = x.shape
        e = self.embed(x).view(b, length, self.reps, self.embed_dim)
        e = e.permute(0, 2, 3, 1).reshape(b * self.reps, self.embed_dim, length)
        feats = torch.cat([F.relu(c(e)).amax(dim=2) for c in self.convs], dim=1)
        return self.head(self.highway(feats)).view(b, self.reps)


class Conv1dCritic(nn.Module):
    """One-hot (B, L, V) -> 1x1 conv to ``width`` -> residual 1-D convs -> linear -> (B,) scores."""

    def __init__(self, vocab: int, seq_len: int, width: int = 128, blocks: int = 5):
        super().__init__()
        self.inp = nn.Conv1d(vocab, width, 1)
        self.blocks = nn.Sequential(*[_ResBlock1d(width) for _ in range(blocks)])
        self.head = nn.Linear(width * seq_len, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.blocks(self.inp(x.transpose(1, 2)))
        return self.head(h.flatten(1)).squeeze(1)
