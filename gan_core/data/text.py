"""Text datasets: the SeqGAN LSTM oracle (random or loaded from .npz) and one-sentence-per-line corpora.

Samples for D are one-hot float32 (B, L, V) (``get_batch``); token ids stay available for MLE and
metrics (``ids``, ``heldout``). Token 0 is the pad/end token of corpora (and an ordinary token of
the oracle, whose first input is token 0, as in SeqGAN). kind = "text", shape = (L, V), no classes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan_core.config import DataConfig
from gan_core.data.base import GanDataset
from gan_core.errors import GanConfigError
from gan_core.memory import check_count

ORACLE_SEED = 88  # SeqGAN's seed; the oracle and its samples are fixed so every training seed sees one task
GATES = ("i", "f", "og", "c")
ORACLE_DIM = 32  # the random oracle's embedding and hidden size (SeqGAN)
SAMPLE_BATCH = 5000  # sequences sampled (or scored) at once
PAD, UNK = "<pad>", "<unk>"


class LSTMOracle:
    """The SeqGAN target LSTM (recurrence of ../shared/data/README.md), row-vector convention, float32."""

    def __init__(self, params: dict[str, torch.Tensor], seq_len: int):
        self.p = {k: v.to(torch.float32) for k, v in params.items()}
        self.vocab, self.embed_dim = self.p["embedding"].shape
        self.hidden = self.p["Ui"].shape[0]
        self.seq_len = seq_len

    @staticmethod
    def shapes(vocab: int, embed: int, hidden: int) -> dict[str, tuple[int, ...]]:
        """Expected shape of every array of an oracle weights file."""
        s: dict[str, tuple[int, ...]] = {"embedding": (vocab, embed), "Wout": (hidden, vocab), "bout": (vocab,)}
        for g in GATES:
            s.update({f"W{g}": (embed, hidden), f"U{g}": (hidden, hidden), f"b{g}": (hidden,)})
        return s

    @classmethod
    def random(cls, vocab: int, seq_len: int, dim: int = ORACLE_DIM, seed: int = ORACLE_SEED) -> LSTMOracle:
        """An oracle with every weight drawn N(0, 1) from ``seed`` (SeqGAN's synthetic setting)."""
        g = torch.Generator().manual_seed(seed)
        return cls({k: torch.randn(s, generator=g) for k, s in cls.shapes(vocab, dim, dim).items()}, seq_len)

    @classmethod
    def from_npz(cls, path: str | Path, seq_len: int) -> LSTMOracle:
        """Load and check an oracle .npz; a missing key or a bad shape names the key and both shapes."""
        p = Path(path)
        if not p.is_file():
            raise GanConfigError("data.root", f"oracle weights file {str(path)!r} not found")
        try:
            with np.load(p, allow_pickle=False) as f:
                arrays = {k: np.asarray(f[k]) for k in f.files}
        except Exception as e:  # noqa: BLE001 - a damaged zip/npy raises many types (BadZipFile, EOFError, ...)
            raise GanConfigError(str(path), f"not a readable .npz file ({type(e).__name__})",
                                 "an oracle weights .npz of numeric arrays (np.savez)") from None
        emb = arrays.get("embedding")
        if emb is None or emb.ndim != 2:
            got = "missing" if emb is None else f"shape {emb.shape}"
            raise GanConfigError(f"{p.name}:embedding", f"expected a 2-D (vocab, embed) array, got {got}")
        ui = arrays.get("Ui")
        hidden = ui.shape[0] if ui is not None and ui.ndim >= 1 else emb.shape[1]
        for key, shape in cls.shapes(emb.shape[0], emb.shape[1], hidden).items():
            if key not in arrays:
                raise GanConfigError(f"{p.name}:{key}", f"missing array, expected shape {shape}",
                                     sorted(cls.shapes(1, 1, 1)))
            if arrays[key].shape != shape:
                raise GanConfigError(f"{p.name}:{key}", f"expected shape {shape}, got {arrays[key].shape}")
        return cls({k: torch.from_numpy(arrays[k].astype(np.float32)) for k in cls.shapes(1, 1, 1)}, seq_len)

    def _step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = self.p
        gate = {g: x @ p[f"W{g}"] + h @ p[f"U{g}"] + p[f"b{g}"] for g in GATES}
        c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * torch.tanh(gate["c"])
        h = torch.sigmoid(gate["og"]) * torch.tanh(c)
        return h @ p["Wout"] + p["bout"], h, c

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, batch: int = SAMPLE_BATCH) -> torch.Tensor:
        """``n`` sequences (n, seq_len) int64 sampled token by token from softmax(logits)."""
        g = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, n, batch):
            m = min(batch, n - i)
            tok = torch.zeros(m, dtype=torch.long)
            h = c = torch.zeros(m, self.hidden)
            toks = []
            for _ in range(self.seq_len):
                logits, h, c = self._step(self.p["embedding"][tok], h, c)
                tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)[:, 0]
                toks.append(tok)
            out.append(torch.stack(toks, 1))
        return torch.cat(out)

    @torch.no_grad()
    def nll(self, ids: torch.Tensor, batch: int = SAMPLE_BATCH) -> torch.Tensor:
        """Per-sequence mean per-token negative log-likelihood under the oracle: shape (n,)."""
        out = []
        for i in range(0, len(ids), batch):
            x = ids[i:i + batch].long()
            m = x.shape[0]
            prev = torch.zeros(m, dtype=torch.long)
            h = c = torch.zeros(m, self.hidden)
            total = torch.zeros(m)
            for t in range(x.shape[1]):
                logits, h, c = self._step(self.p["embedding"][prev], h, c)
                total -= torch.log_softmax(logits, -1).gather(1, x[:, t:t + 1])[:, 0]
                prev = x[:, t]
            out.append(total / x.shape[1])
        return torch.cat(out)


class TextDataset(GanDataset):
    """Token-id sequences served as one-hot (B, L, V); ``heldout`` ids for NLL_test / BLEU references."""

    kind = "text"

    def __init__(self, name: str, ids: torch.Tensor, vocab_size: int, info: dict[str, Any],
                 heldout: torch.Tensor | None = None, itos: list[str] | None = None,
                 oracle: LSTMOracle | None = None, level: str = "word"):
        self.name = name
        self.ids = ids.long().contiguous()
        self.vocab_size = int(vocab_size)
        self.heldout = heldout.long() if heldout is not None else None
        self.itos, self.oracle, self.level = itos, oracle, level
        super().__init__(len(self.ids), (self.ids.shape[1], self.vocab_size), 0, None, info)

    @property
    def raw_dtype(self) -> np.dtype:
        """Token ids are int64."""
        return np.dtype(np.int64)

    def get_raw(self, idx: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Token ids (B, L) int64."""
        return self.ids[idx], None

    def get_batch(self, idx: torch.Tensor | np.ndarray | list[int]) -> tuple[torch.Tensor, None]:
        """One-hot float32 (B, L, V) and no labels."""
        return F.one_hot(self.ids[self._check_idx(idx)], self.vocab_size).float(), None

    def tokens(self, ids: torch.Tensor) -> list[list[str]]:
        """Token strings per sequence (ids (n, L) or one-hots (n, L, V)), cut at the first pad/end of corpora."""
        ids = ids.argmax(-1) if ids.is_floating_point() or ids.dim() == 3 else ids
        out = []
        for row in ids.tolist():
            if self.itos is None:
                out.append([str(t) for t in row])
                continue
            row = row[:row.index(0)] if 0 in row else row
            out.append([self.itos[t] for t in row])
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Readable sentences (words joined by spaces, characters joined directly)."""
        sep = "" if self.level == "char" else " "
        return [sep.join(t) for t in self.tokens(ids)]


# (oracle identity, n) -> (train, test) token ids, per process. Sampling is the slow part of building an
# oracle dataset (vocab 5,000: ~7 s per 2,000 sequences on 2 cores) and a run builds the same one several
# times (the driver's check, the worker, the test-split reference, `ganarena evaluate`).
_SAMPLED: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
_SAMPLED_MAX = 4


def _oracle_dataset(name: str, oracle: LSTMOracle, key: tuple, n: int, split: str, source: str) -> TextDataset:
    pair = _SAMPLED.get((key, n))
    if pair is None:
        pair = oracle.sample(n, seed=ORACLE_SEED * 1000), oracle.sample(n, seed=ORACLE_SEED * 1000 + 1)
        if len(_SAMPLED) >= _SAMPLED_MAX:
            _SAMPLED.pop(next(iter(_SAMPLED)))
        _SAMPLED[(key, n)] = pair
    train, test = (t.clone() for t in pair)
    ids, held = (train, test) if split == "train" else (test, train)
    info = {"source": source, "split": split, "vocab": oracle.vocab, "seq_len": oracle.seq_len,
            "embed_dim": oracle.embed_dim, "hidden": oracle.hidden, "sample_seed": ORACLE_SEED * 1000}
    return TextDataset(name, ids, oracle.vocab, info, heldout=held, oracle=oracle)


def load_oracle(cfg: DataConfig, seed: int = 0) -> TextDataset:
    """SeqGAN oracle with N(0,1) weights (seed 88, fixed), vocab/length from cfg, n_samples sequences."""
    oracle = LSTMOracle.random(cfg.vocab_size, cfg.seq_len)
    return _oracle_dataset("oracle", oracle, ("random", cfg.vocab_size, cfg.seq_len), cfg.n_samples, cfg.split,
                           f"random LSTM oracle N(0,1), seed {ORACLE_SEED}")


def load_oracle_npz(cfg: DataConfig, seed: int = 0) -> TextDataset:
    """Oracle weights from ``cfg.root`` (.npz, keys of ../shared/data/README.md); vocab must match."""
    if not cfg.root:
        raise GanConfigError("data.root", "dataset 'oracle-npz' needs root: the oracle weights .npz")
    oracle = LSTMOracle.from_npz(cfg.root, cfg.seq_len)
    if oracle.vocab != cfg.vocab_size:
        raise GanConfigError("data.vocab_size", f"{cfg.root} has vocabulary {oracle.vocab}, config says "
                             f"{cfg.vocab_size}", [oracle.vocab])
    st = Path(cfg.root).stat()
    key = (str(Path(cfg.root).resolve()), st.st_mtime_ns, st.st_size, cfg.seq_len)
    return _oracle_dataset("oracle-npz", oracle, key, cfg.n_samples, cfg.split, f"oracle weights {cfg.root}")


def split_lines(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test indices: a fixed permutation holds out 10% (at least 1 when n > 1)."""
    perm = np.random.default_rng(0).permutation(n)
    n_test = max(1, n // 10) if n > 1 else 0
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def load_corpus(path: str | Path, level: str = "word", vocab_size: int = 5000, seq_len: int = 20,
                split: str = "train") -> TextDataset:
    """One sentence per line -> ids (N, seq_len): word/char tokens, frequency-capped vocab, 0 = pad/end."""
    p = Path(path)
    if not p.is_file():
        raise GanConfigError("data.root", f"corpus file {str(path)!r} not found")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GanConfigError(str(path), f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}",
                             "a UTF-8 text file, one sentence per line") from None
    lines = [s.strip() for s in text.splitlines()]
    lines = [s for s in lines if s]
    if not lines:
        raise GanConfigError("data.root", f"corpus {str(path)!r} has no non-empty lines")
    check_count("data.seq_len", len(lines) * seq_len, 16, "token ids (lines x seq_len, both splits)")
    toks = [s.split() if level == "word" else list(s) for s in lines]
    train_idx, test_idx = split_lines(len(toks))
    if split == "test" and len(test_idx) == 0:
        raise GanConfigError("data.split", f"corpus {str(path)!r} has one line: no test split", ["train"])
    counts = Counter(t for i in train_idx for t in toks[i])
    if vocab_size < 3:
        raise GanConfigError("data.vocab_size", f"must be >= 3 for a corpus (pad, unk, a word), got {vocab_size}")
    itos = [PAD, UNK] + [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:vocab_size - 2]
    stoi = {t: i for i, t in enumerate(itos)}

    def encode(rows: np.ndarray) -> torch.Tensor:
        ids = torch.zeros(len(rows), seq_len, dtype=torch.long)
        for r, i in enumerate(rows):
            seq = [stoi.get(t, 1) for t in toks[i][:seq_len]]
            ids[r, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        return ids

    train, test = encode(train_idx), encode(test_idx)
    ids, held = (train, test) if split == "train" else (test, train)
    info = {"source": str(path), "split": split, "level": level, "vocab": len(itos), "seq_len": seq_len,
            "lines": len(lines), "n_train": len(train_idx), "n_test": len(test_idx),
            "truncated": sum(len(toks[i]) > seq_len for i in range(len(toks))),
            "split_rule": "fixed permutation (numpy seed 0), 10% held out"}
    return TextDataset(p.stem, ids, len(itos), info, heldout=held, itos=itos, level=level)


def load_textfile(cfg: DataConfig, seed: int = 0) -> TextDataset:
    """The corpus at ``cfg.root`` with ``cfg.level``, ``cfg.vocab_size`` and ``cfg.seq_len``."""
    if not cfg.root:
        raise GanConfigError("data.root", "dataset 'textfile' needs root: a text file, one sentence per line")
    return load_corpus(cfg.root, cfg.level, cfg.vocab_size, cfg.seq_len, cfg.split)
