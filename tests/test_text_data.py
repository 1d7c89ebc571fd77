"""Text data: the .npz oracle reproduces the documented recurrence, loader errors, corpora and splits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.data.text import LSTMOracle, load_corpus
from gan_core.errors import GanConfigError

V, E, H = 6, 3, 4


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in LSTMOracle.shapes(V, E, H).items()}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _hand_nll(w: dict[str, np.ndarray], seq: list[int]) -> float:
    """The README's recurrence written out in float64 numpy, row vectors, first input = token 0."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    h, c, prev, total = np.zeros(H), np.zeros(H), 0, 0.0
    for tok in seq:
        x = w["embedding"][prev]
        i = _sigmoid(x @ w["Wi"] + h @ w["Ui"] + w["bi"])
        f = _sigmoid(x @ w["Wf"] + h @ w["Uf"] + w["bf"])
        o = _sigmoid(x @ w["Wog"] + h @ w["Uog"] + w["bog"])
        c_tilde = np.tanh(x @ w["Wc"] + h @ w["Uc"] + w["bc"])
        c = f * c + i * c_tilde
        h = o * np.tanh(c)
        logits = h @ w["Wout"] + w["bout"]
        total -= logits[tok] - np.log(np.exp(logits).sum())
        prev = tok
    return total / len(seq)


def test_npz_oracle_reproduces_documented_recurrence(tmp_path: Path) -> None:
    w = _weights()
    np.savez(tmp_path / "o.npz", **w)
    oracle = LSTMOracle.from_npz(tmp_path / "o.npz", seq_len=5)
    seqs = [[3, 0, 5, 5, 1], [0, 0, 0, 0, 0], [5, 4, 3, 2, 1]]
    got = oracle.nll(torch.tensor(seqs)).numpy()
    want = np.array([_hand_nll(w, s) for s in seqs])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # sampling follows the same conditionals: empirical first-token law matches softmax(h1 @ Wout + bout)
    x = w["embedding"][0].astype(np.float64)
    i, o = _sigmoid(x @ w["Wi"] + w["bi"]), _sigmoid(x @ w["Wog"] + w["bog"])
    h = o * np.tanh(i * np.tanh(x @ w["Wc"] + w["bc"]))
    p = np.exp(h @ w["Wout"] + w["bout"])
    p /= p.sum()
    first = np.bincount(oracle.sample(20000, seed=1)[:, 0].numpy(), minlength=V) / 20000
    assert np.abs(first - p).sum() / 2 < 0.02


@pytest.mark.parametrize("key,bad", [("Uf", (H, H + 1)), ("bout", (V + 1,)), ("Wout", (H, V - 1))])
def test_npz_oracle_bad_shape_names_key_and_shapes(tmp_path: Path, key: str, bad: tuple) -> None:
    w = _weights()
    w[key] = np.zeros(bad, np.float32)
    np.savez(tmp_path / "o.npz", **w)
    with pytest.raises(GanConfigError) as e:
        LSTMOracle.from_npz(tmp_path / "o.npz", seq_len=5)
    msg = str(e.value)
    assert key in msg and str(LSTMOracle.shapes(V, E, H)[key]) in msg and str(bad) in msg


def test_npz_oracle_missing_key_and_file(tmp_path: Path) -> None:
    w = _weights()
    del w["bog"]
    np.savez(tmp_path / "o.npz", **w)
    with pytest.raises(GanConfigError, match=r"bog.*missing.*\(4,\)"):
        LSTMOracle.from_npz(tmp_path / "o.npz", seq_len=5)
    with pytest.raises(GanConfigError, match="data.root"):
        LSTMOracle.from_npz(tmp_path / "nope.npz", seq_len=5)
    np.savez(tmp_path / "ok.npz", **_weights())
    with pytest.raises(GanConfigError, match="data.vocab_size"):
        build_dataset(DataConfig(name="oracle-npz", root=str(tmp_path / "ok.npz"), vocab_size=50, seq_len=5,
                                 n_samples=10))


def test_random_oracle_dataset_is_fixed_one_hot_text() -> None:
    cfg = DataConfig(name="oracle", vocab_size=50, seq_len=8, n_samples=300)
    a, b = build_dataset(cfg, seed=0), build_dataset(cfg, seed=1)
    assert torch.equal(a.ids, b.ids)  # the oracle task does not change with the training seed
    assert a.kind == "text" and a.shape == (8, 50) and a.num_classes == 0 and len(a) == 300
    x, y = a.get_batch(torch.arange(5))
    assert y is None and x.shape == (5, 8, 50) and x.dtype == torch.float32
    assert torch.equal(x.argmax(-1), a.ids[:5]) and torch.all(x.sum(-1) == 1)
    assert not torch.equal(a.ids, a.heldout)
    w = torch.cat([v.flatten() for v in a.oracle.p.values()])  # N(0, 1) weights
    assert abs(float(w.mean())) < 0.05 and abs(float(w.std()) - 1) < 0.05
    assert torch.equal(build_dataset(DataConfig(name="oracle", vocab_size=50, seq_len=8, n_samples=300,
                                                split="test")).ids, a.heldout)


def test_oracle_data_is_sampled_once_per_process_and_follows_its_weights(tmp_path: Path, monkeypatch) -> None:
    """Driver check, worker, test-split reference and `evaluate` build the same oracle data: one sampling."""
    from gan_core.data import text

    calls = []
    real = text.LSTMOracle.sample
    monkeypatch.setattr(text.LSTMOracle, "sample", lambda self, n, seed=0: calls.append(n) or real(self, n, seed))
    monkeypatch.setattr(text, "_SAMPLED", {})
    np.savez(tmp_path / "w.npz", **_weights())
    cfg = DataConfig(name="oracle-npz", root=str(tmp_path / "w.npz"), vocab_size=V, seq_len=5, n_samples=40)
    a, b = build_dataset(cfg), build_dataset(DataConfig(**{**cfg.__dict__, "split": "test"}))
    assert calls == [40, 40] and torch.equal(a.ids, b.heldout) and torch.equal(a.heldout, b.ids)
    a.ids[0, 0] += 1  # a caller changing its copy does not change the next build
    assert not torch.equal(build_dataset(cfg).ids, a.ids) and calls == [40, 40]
    w = _weights()
    w["Wout"] = w["Wout"] * 3  # other weights in the same file: sampled anew
    np.savez(tmp_path / "w.npz", **w)
    build_dataset(cfg)
    assert calls == [40, 40, 40, 40]


def test_corpus_word_and_char_levels(tmp_path: Path) -> None:
    lines = [f"the cat {w} on the mat" for w in ("sat", "lay", "slept", "sat", "ran")] * 4 + ["", "  "]
    f = tmp_path / "c.txt"
    f.write_text("\n".join(lines) + "\n")
    tr = load_corpus(f, "word", vocab_size=6, seq_len=5)
    te = load_corpus(f, "word", vocab_size=6, seq_len=5, split="test")
    assert len(tr) + len(te) == 20 and len(te) == 2 and tr.info["truncated"] == 20
    assert tr.itos[:3] == ["<pad>", "<unk>", "the"] and len(tr.itos) == 6 and tr.shape == (5, 6)
    assert torch.equal(te.ids, tr.heldout) and torch.equal(load_corpus(f, "word", 6, 5).ids, tr.ids)
    assert tr.decode(tr.ids[:1])[0].startswith("the cat")
    ch = load_corpus(f, "char", vocab_size=100, seq_len=30)
    assert ch.decode(ch.ids[:1])[0] == lines[0] and ch.ids[0, len(lines[0]):].eq(0).all()  # pad/end = 0
    assert ch.decode(torch.nn.functional.one_hot(ch.ids[:1], ch.shape[1]))[0] == lines[0]


def test_corpus_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(GanConfigError, match="data.root.*no non-empty lines"):
        build_dataset(DataConfig(name="textfile", root=str(tmp_path / "empty.txt")))
    with pytest.raises(GanConfigError, match="not found"):
        build_dataset(DataConfig(name="textfile", root=str(tmp_path / "missing.txt")))
    with pytest.raises(GanConfigError, match="needs root"):
        build_dataset(DataConfig(name="textfile"))
