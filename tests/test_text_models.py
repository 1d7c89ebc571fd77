"""Text models: shapes, Gumbel-softmax sampling law and gradients, annealing, every loss/penalty in the step."""

import math

import pytest
import torch

from gan_core import losses, penalties
from gan_core.build import build_trainer
from gan_core.config import DiscriminatorConfig, GanConfig, GeneratorConfig
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec, build_discriminator, build_generator

L, V = 6, 11
SPEC = DataSpec((L, V), 0, "text")
PAIRS = [("lstm-gumbel", "text-cnn"), ("conv1d-softmax", "conv1d")]


def _cfg(g: str, d: str, loss: str = "ns", pen: str = "none", weight: float = 0.0) -> GanConfig:
    cfg = GanConfig(seed=0)
    cfg.generator = GeneratorConfig(arch=g, z_dim=8, width=16, depth=2, embed_dim=8)
    cfg.discriminator = DiscriminatorConfig(arch=d, width=8, depth=2, embed_dim=8)
    cfg.loss.name, cfg.penalty.name, cfg.penalty.weight = loss, pen, weight
    cfg.train.batch_size, cfg.train.steps, cfg.train.gumbel_beta_max = 8, 10, 50.0
    return cfg


@pytest.mark.parametrize("g,d", PAIRS)
def test_text_shapes(g: str, d: str) -> None:
    G = build_generator(_cfg(g, d).generator, SPEC)
    D = build_discriminator(_cfg(g, d).discriminator, SPEC)
    x = G(torch.randn(4, G.noise_dim))
    assert x.shape == (4, L, V) and torch.allclose(x.sum(-1), torch.ones(4, L), atol=1e-5)
    assert D(x).shape == ((4, 2) if d == "text-cnn" else (4,))  # text-cnn: one logit per representation
    ids = G.net.sample_ids(5)
    assert ids.shape == (5, L) and ids.dtype == torch.long and int(ids.max()) < V
    spec_sn = build_discriminator(DiscriminatorConfig(arch=d, width=8, depth=2, spectral_norm=True), SPEC)
    assert spec_sn(x).shape[0] == 4


def test_text_models_reject_image_data() -> None:
    with pytest.raises(GanConfigError, match="generator.arch"):
        build_generator(GeneratorConfig(arch="lstm-gumbel"), DataSpec((1, 8, 8), 0, "image"))
    with pytest.raises(GanConfigError, match="discriminator.arch"):
        build_discriminator(DiscriminatorConfig(arch="conv1d"), DataSpec((2,), 0, "toy"))


def test_gumbel_annealing_and_hard_eval_samples() -> None:
    tr = build_trainer(_cfg(*PAIRS[0]), SPEC)
    net = tr.G.net
    assert net.beta_max == 50.0  # from train.gumbel_beta_max
    for p, beta in [(0.0, 1.0), (0.5, math.sqrt(50.0)), (1.0, 50.0)]:
        tr.G.set_progress(p)
        assert net.beta == pytest.approx(beta)
    tr.step = 5  # the trainer drives it: progress = step / steps
    tr._progress()
    assert net.beta == pytest.approx(50.0 ** 0.5)
    tr.G.eval()
    x = tr.G(torch.randn(16, tr.G.noise_dim))
    assert torch.equal(x, torch.nn.functional.one_hot(x.argmax(-1), V).float())


def test_gumbel_max_samples_follow_the_softmax() -> None:
    torch.manual_seed(0)
    G = build_generator(_cfg(*PAIRS[0]).generator, SPEC).eval()
    n = 20000
    first = G(torch.zeros(n, G.noise_dim))[:, 0].mean(0)
    with torch.no_grad():
        h, _ = G.net.lstm(G.net.start.view(1, 1, -1))
        p = torch.softmax(G.net.out(h[0, 0]), -1)
    assert float((first - p).abs().sum() / 2) < 0.02


def test_token_nll_is_the_mean_negative_log_probability_of_each_next_token() -> None:
    from gan_core.text_mle import token_nll

    torch.manual_seed(0)
    G = build_generator(_cfg(*PAIRS[0]).generator, SPEC).eval()
    ids = torch.randint(0, V, (5, L))
    with torch.no_grad():
        for t in (1.0, 0.5):
            logp = torch.log_softmax(G.net.logits(ids) / t, -1)  # position j predicts ids[:, j]
            by_hand = -torch.stack([logp[i, j, ids[i, j]] for i in range(5) for j in range(L)]).view(5, L).mean(1)
            torch.testing.assert_close(token_nll(G, ids, t), by_hand, rtol=1e-6, atol=1e-6)


def test_gumbel_relaxation_gradients_reach_every_generator_parameter() -> None:
    torch.manual_seed(0)
    cfg = _cfg(*PAIRS[0])
    G, D = build_generator(cfg.generator, SPEC), build_discriminator(cfg.discriminator, SPEC)
    G.set_progress(0.3)
    losses.get("ns").g_loss(D(G(torch.randn(32, G.noise_dim)))).backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("g,d", PAIRS)
@pytest.mark.parametrize("loss", losses.names())
def test_train_step_every_loss(g: str, d: str, loss: str) -> None:
    _check_steps(_cfg(g, d, loss))


@pytest.mark.parametrize("g,d", PAIRS)
@pytest.mark.parametrize("pen", [p for p in penalties.names() if p != "none"])
def test_train_step_every_penalty(g: str, d: str, pen: str) -> None:
    _check_steps(_cfg(g, d, "wgan" if pen == "wgan-gp" else "ns", pen, 1.0))


def _check_steps(cfg: GanConfig) -> None:
    tr = build_trainer(cfg, SPEC)
    before = [p.detach().clone() for p in tr.G.net.parameters()]
    real = torch.nn.functional.one_hot(torch.randint(V, (8, L)), V).float()
    for _ in range(2):
        m = tr.train_step([(real, None)])
    assert all(math.isfinite(float(v)) for v in m.values()), m
    if cfg.penalty.name != "none":
        assert float(m["penalty"]) > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, tr.G.net.parameters(), strict=True))
