"""DiffAugment ops, ADA's adaptive p and LeCam: formulas, gradients, adaptation, resume."""

import pytest
import torch

from gan_core import BatchStream, build_trainer, fit, load_config
from gan_core.augment import Augment, LeCam, color, cutout, translation
from gan_core.checkpoint import checkpoint_config, load_checkpoint, restore, save_checkpoint
from gan_core.config import DataConfig
from gan_core.data import build_dataset
from gan_core.data.base import TensorGanDataset
from gan_core.errors import GanConfigError
from gan_core.models import DataSpec
from gan_core.noise import TorchNoise

SPEC = DataSpec((1, 8, 8), 0, "image")
POLICY = ["color", "translation", "cutout"]


class FixedNoise(TorchNoise):
    """Every draw is the same constant: makes each op's outcome computable by hand."""

    def __init__(self, u: float):
        self.u = u

    def rand(self, shape, like):
        return torch.full(shape, self.u, device=like.device)


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p_zero_and_an_empty_policy_are_the_identity():
    x = _images()
    torch.manual_seed(0)
    assert torch.equal(Augment(POLICY, p=0.0)(x, TorchNoise()), x)
    assert Augment([], p=1.0)(x, TorchNoise()) is x
    assert not torch.equal(Augment(POLICY, p=1.0)(x, TorchNoise()), x)


def test_each_op_against_its_formula():
    x = _images()
    # colour with u = 0.5: brightness +0, saturation factor 1, contrast factor 1 -> unchanged
    torch.testing.assert_close(color(x, FixedNoise(0.5)), x)
    # u = 0.75: brightness +0.25, saturation x2 around the channel mean, contrast x1.25 around the sample mean
    b = x + 0.25
    m = b.mean(1, keepdim=True)
    s = m + (b - m) * 1.5
    m2 = s.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(color(x, FixedNoise(0.75)), m2 + (s - m2) * 1.25)
    # translation: u = 0.99 -> shift +1 px in both axes (8 px * 1/8), the first row and column vacated
    t = translation(x, FixedNoise(0.99))
    assert torch.equal(t[:, :, 1:, 1:], x[:, :, :-1, :-1])
    assert (t[:, :, 0, :] == 0).all() and (t[:, :, :, 0] == 0).all()
    assert torch.equal(translation(x, FixedNoise(0.5)), x)  # u = 0.5 -> shift 0
    # cutout: a 4x4 square centred at (4, 4) -> rows/cols 2..5 zeroed, all else kept
    c = cutout(x, FixedNoise(0.5))
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[2:6, 2:6] = True
    assert (c[:, :, hole] == 0).all() and torch.equal(c[:, :, ~hole], x[:, :, ~hole])


def _cfg(**over) -> dict:
    cfg = {"generator": {"arch": "dcgan", "z_dim": 8, "width": 8}, "discriminator": {"arch": "dcgan", "width": 8},
           "loss": {"name": "ns"}, "penalty": {"name": "r1", "weight": 1.0},
           "augment": {"policy": POLICY}, "train": {"batch_size": 16, "ema_decay": 0.9}}
    for key, value in over.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


def test_generator_gradients_pass_through_the_augmentation():
    """In G's step D sees T(G(z)), and G's gradient is the gradient through T."""
    tr = build_trainer(load_config(_cfg(augment={"policy": ["translation", "cutout"]})), SPEC)
    seen = []
    tr.D.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    outputs = []
    tr.G.register_forward_hook(lambda mod, args, out: outputs.append(out))
    torch.manual_seed(1)
    tr.g_step(16, None)
    (x_d,), (g_out,) = seen, outputs
    assert x_d.requires_grad and not torch.equal(x_d, g_out)  # D saw the augmented, differentiable images
    assert (x_d == 0).float().mean() > (g_out == 0).float().mean() + 0.1  # cutout's holes
    grads = [p.grad for p in tr.G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_d_step_and_its_penalty_see_augmented_images():
    tr = build_trainer(load_config(_cfg()), SPEC)
    seen = []
    tr.D.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    real = _images(16)[:, :1]
    torch.manual_seed(2)
    tr.d_step(real, None)
    assert len(seen) == 3  # real, fake, and R1's forward at the (augmented) reals
    assert not torch.equal(seen[0], real) and torch.equal(seen[2], seen[0])




def _digits(n: int) -> TensorGanDataset:
    ds = build_dataset(DataConfig(name="digits"), seed=0)
    return TensorGanDataset("digits100", "image", ds.raw[:n], None, 0, ds.scale, {})


@pytest.mark.timeout(120)
def test_ada_raises_p_when_d_memorises_a_small_subset():
    """100 digits, a D far stronger than G: r_t = E[sign D(real)] passes the target and p climbs from 0."""
    ds = _digits(100)
    cfg = load_config(_cfg(discriminator={"width": 32}, penalty={"name": "none", "weight": 0.0},
                           optim={"lr_d": 2e-3}, augment={"p": 0.0, "target": 0.6, "interval": 4, "kimg": 2.0},
                           train={"batch_size": 20}))
    tr = build_trainer(cfg, DataSpec(tuple(ds.shape), 0, "image"))
    history = []
    fit(tr, BatchStream(ds, 20, seed=0), until_step=300, log_every=10,
        callback=lambda t, logged: history.append(logged["aug_p"]) if logged else None)
    assert cfg.augment.p == 0.0 and history[0] <= 0.081, history[:5]  # from 0, at most +0.04 per adjustment
    assert float(tr.augment.r_t) > 0.0 and history[-1] > 0.3, (float(tr.augment.r_t), history[-5:])


def test_ada_lowers_p_when_d_is_below_the_target():
    aug = Augment(POLICY, p=0.5, target=0.6, interval=2, kimg=0.1)
    aug.observe(torch.tensor([1.0, -1.0, -2.0, 3.0]))  # signs: mean 0 < 0.6
    assert float(aug.p) == 0.5  # adjusts only every `interval` D steps
    aug.observe(torch.tensor([-1.0, -1.0, 1.0, 1.0]))
    assert float(aug.p) == pytest.approx(0.5 - 8 / 100)  # 8 images over a 0 -> 1 span of 100
    assert float(aug.r_t) == 0.0


def test_lecam_equals_a_hand_computed_value():
    lc = LeCam(decay=0.9)
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    value = lc(d_real, d_fake)
    a_r, a_f = 0.1 * 2.0, 0.1 * -1.0  # anchors start at 0, then one EMA update with the batch means
    want = ((1 - a_f) ** 2 + (3 - a_f) ** 2) / 2 + ((-2 - a_r) ** 2 + (0 - a_r) ** 2) / 2
    assert float(value) == pytest.approx(want)
    assert float(lc.anchor_real) == pytest.approx(a_r) and float(lc.anchor_fake) == pytest.approx(a_f)
    value2 = lc(d_real, d_fake)  # second step: anchors move on
    a_r2, a_f2 = 0.9 * a_r + 0.2, 0.9 * a_f - 0.1
    assert float(value2) == pytest.approx(((1 - a_f2) ** 2 + (3 - a_f2) ** 2) / 2 + ((-2 - a_r2) ** 2 + a_r2**2) / 2)


def test_lecam_joins_ds_loss_and_is_logged():
    cfg = load_config(_cfg(lecam={"weight": 0.3}))
    tr = build_trainer(cfg, SPEC)
    m = tr.d_step(_images(16)[:, :1], None)
    assert {"lecam", "aug_p"} <= m.keys() and float(m["lecam"]) > 0 and float(m["aug_p"]) == 1.0


def test_resume_restores_p_the_statistics_and_the_anchors_bit_for_bit(tmp_path):
    ds = _digits(200)
    spec = DataSpec(tuple(ds.shape), 0, "image")
    cfg = load_config(_cfg(augment={"p": 0.2, "target": 0.0, "interval": 3, "kimg": 0.5}, lecam={"weight": 0.5},
                           train={"batch_size": 20}))
    full = build_trainer(cfg, spec)
    fit(full, BatchStream(ds, 20, seed=1), until_step=14)

    first = build_trainer(cfg, spec)
    stream = BatchStream(ds, 20, seed=1)
    fit(first, stream, until_step=7)  # 7 D steps: mid-interval, pending sign statistics are saved too
    path = save_checkpoint(tmp_path / "ckpt.pt", first, spec, stream.position)
    torch.manual_seed(999)
    payload = load_checkpoint(path)
    resumed = build_trainer(*checkpoint_config(payload))
    pos = restore(resumed, payload)
    fit(resumed, BatchStream(ds, 20, seed=1, position=pos), until_step=14)

    assert float(full.augment.p) != 0.2  # p moved
    for a, b in ((full.augment.state_dict(), resumed.augment.state_dict()),
                 (full.lecam.state_dict(), resumed.lecam.state_dict())):
        assert all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a), (a, b)
    assert all(torch.equal(v, resumed.G.state_dict()[k]) for k, v in full.G.state_dict().items())


@pytest.mark.parametrize("section,value,field", [
    ({"augment": {"policy": ["color", "color"]}}, None, "augment.policy"),
    ({"augment": {"policy": ["rotate"]}}, None, "augment.policy"),
    ({"augment": {"policy": POLICY, "p": 1.5}}, None, "augment.p"),
    ({"augment": {"policy": POLICY, "target": 1.0}}, None, "augment.target"),
    ({"augment": {"policy": POLICY, "kimg": 0}}, None, "augment.kimg"),
    ({"augment": {"target": 0.6}}, None, "augment.policy"),
    ({"lecam": {"weight": -1}}, None, "lecam.weight"),
    ({"lecam": {"weight": 1, "decay": 1.0}}, None, "lecam.decay"),
])
def test_bad_augment_and_lecam_settings_name_the_field(section, value, field):
    with pytest.raises(GanConfigError) as e:
        load_config(section)
    assert e.value.field.startswith(field), e.value


def test_augmenting_non_image_data_is_refused_before_training():
    with pytest.raises(GanConfigError) as e:
        build_trainer(load_config({"augment": {"policy": ["translation"]}}), DataSpec((2,), 0, "toy"))
    assert e.value.field == "augment.policy" and "toy" in str(e.value)
