"""Text training on a small oracle (V=50, L=8): MLE lowers NLL_test, GAN NLL_oracle between truth and random."""

import math
from pathlib import Path

import pytest
import torch

from gan_core.build import build_trainer, spec_of
from gan_core.config import DataConfig, GanConfig
from gan_core.data import build_dataset
from gan_core.loop import BatchStream, fit
from gan_core.metrics.text_eval import TextEvaluator
from gan_core.tasks import make_evaluator
from gan_core.text_mle import nll_oracle, nll_test, pretrain_trainer, sample_tokens

VOCAB, LEN = 50, 8


@pytest.fixture(scope="module")
def oracle_ds():
    return build_dataset(DataConfig(name="oracle", vocab_size=VOCAB, seq_len=LEN, n_samples=2000))


def _cfg(steps: int = 100) -> GanConfig:
    cfg = GanConfig(seed=0)
    cfg.data = DataConfig(name="oracle", vocab_size=VOCAB, seq_len=LEN, n_samples=2000)
    cfg.generator.arch, cfg.generator.width, cfg.generator.embed_dim = "lstm-gumbel", 32, 32
    cfg.discriminator.arch, cfg.discriminator.width = "text-cnn", 32
    cfg.optim.lr_g = cfg.optim.lr_d = 1e-4
    cfg.optim.betas_g = cfg.optim.betas_d = (0.9, 0.999)
    cfg.train.batch_size, cfg.train.steps, cfg.train.ema_decay = 64, steps, 0.0
    return cfg


def test_mle_then_gan_on_small_oracle(oracle_ds) -> None:
    ev = TextEvaluator(oracle_ds, n_fake=3000, seed=1)
    truth = ev.ground_truth
    uniform = nll_oracle(oracle_ds.oracle, torch.randint(VOCAB, (3000, LEN)))  # a uniform random generator
    tr = build_trainer(_cfg(), spec_of(oracle_ds))
    untrained = ev(tr.G)
    assert untrained["nll_test"] == pytest.approx(math.log(VOCAB), abs=0.05)  # random init ~ uniform
    pretrain_trainer(tr, oracle_ds.ids, 300)
    mle = ev(tr.G)
    assert mle["nll_test"] < untrained["nll_test"] - 0.7  # MLE pretraining lowers NLL_test (3.9 -> ~2.9)
    fit(tr, BatchStream(oracle_ds, 64, seed=0), 100)
    gan = ev(tr.G)
    assert truth + 0.5 < gan["nll_oracle"] < min(uniform, math.log(VOCAB)) - 0.3, (truth, gan, uniform)
    assert gan["nll_oracle"] < mle["nll_oracle"] + 0.1  # the short adversarial phase does not hurt quality
    assert gan["nll_test"] < mle["nll_test"] + 0.2  # nor diversity
    assert truth < gan["nll_test"] and 0 < gan["entropy"] < math.log(VOCAB)


def test_temperature_sampler_trades_diversity_for_quality(oracle_ds) -> None:
    tr = build_trainer(_cfg(), spec_of(oracle_ds))
    pretrain_trainer(tr, oracle_ds.ids, 200)
    res = {t: TextEvaluator(oracle_ds, 2000, seed=0, temperature=t)(tr.G) for t in (1.0, 0.5)}
    assert res[0.5]["nll_oracle"] < res[1.0]["nll_oracle"] and res[0.5]["entropy"] < res[1.0]["entropy"]
    assert res[0.5]["nll_test"] > res[1.0]["nll_test"]
    greedy = sample_tokens(tr.G, 4, temperature=0)
    assert torch.equal(greedy, sample_tokens(tr.G, 4, temperature=0)) and (greedy == greedy[0]).all()
    assert nll_test(tr.G, oracle_ds.heldout[:500]) == pytest.approx(res[1.0]["nll_test"], abs=0.1)


def test_evaluator_inputs_and_registration(oracle_ds) -> None:
    ev = make_evaluator(oracle_ds, n_fake=100, seed=0)
    assert ev.primary == "nll_oracle" and ev.mode == "min" and "ground_truth" in ev.protocol
    ids = oracle_ds.ids[:100]
    by_ids, by_onehot = ev(ids), ev(oracle_ds.get_batch(torch.arange(100))[0])
    assert by_ids == by_onehot and set(by_ids) == {"nll_oracle", "nll_ground_truth"}
    assert by_ids["nll_oracle"] == pytest.approx(float(oracle_ds.oracle.nll(ids).mean()))
    cfg = _cfg()
    cfg.train.ema_decay = 0.99
    tr = build_trainer(cfg, spec_of(oracle_ds))
    pretrain_trainer(tr, oracle_ds.ids, 5)  # G_ema starts from the pretrained G
    assert all(torch.equal(p, q) for p, q in zip(tr.G.parameters(), tr.G_ema.parameters(), strict=True))
    a, b = ev(tr.G), ev(tr.G)
    assert a == b  # evaluation is seeded and leaves the training RNG alone
    with pytest.raises(ValueError, match="expected 100 sequences"):
        ev(ids[:10])


def test_corpus_evaluator_bleu(tmp_path: Path) -> None:
    words = ["a", "man", "rides", "a", "horse", "on", "the", "beach", "dog", "runs"]
    g = torch.Generator().manual_seed(0)
    lines = [" ".join(words[int(i)] for i in torch.randint(len(words), (6,), generator=g)) for _ in range(200)]
    (tmp_path / "c.txt").write_text("\n".join(lines))
    ds = build_dataset(DataConfig(name="textfile", root=str(tmp_path / "c.txt"), seq_len=8))
    ev = make_evaluator(ds, n_fake=40, seed=0)
    assert ev.primary == "ngram_jsd" and ev.mode == "min"
    real = ev(ds.ids[:40])
    repeated = ev(ds.ids[:1].repeat(40, 1))  # one sentence 40 times: high BLEU, no diversity
    assert real["bleu2"] > 0.5 and repeated["self_bleu2"] == pytest.approx(1.0)
    assert real["self_bleu4"] < repeated["self_bleu4"] and real["ngram_jsd"] < repeated["ngram_jsd"]
