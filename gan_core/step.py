"""The one training step shared by every model: n_critic D updates, then one G update.

Rules it keeps (docs/architecture.md explains why): the penalty (and LeCam's term) joins the adversarial
loss in ONE backward; D's gradients are off during G's step and G's step calls the unwrapped D (so DDP
never waits for D gradients that do not come); penalties run in fp32 under autocast; metrics stay on the device
(no host sync per step) and are read only when logged. With augmentation on, D only ever sees
T(x): real and fake in D's step, the fake in G's step (G's gradient passes through T), the reals
relativistic losses score, and the penalty's inputs (``gan_core.augment``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from gan_core import losses, penalties
from gan_core.augment import Augment, LeCam
from gan_core.config import GanConfig, to_dict
from gan_core.noise import DEFAULT_NOISE, TorchNoise

Batch = tuple[Tensor, Tensor | None]
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _grad_norm(params: list[nn.Parameter], clip: float | None) -> Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if clip is not None:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())


class GANTrainer:
    """Owns G, D, G_ema, both Adam optimisers and grad scalers; ``train_step`` advances one G step.

    ``wrap`` (e.g. DistributedDataParallel) wraps G and D for the passes that need gradient
    synchronisation; ``noise`` supplies latent and penalty randomness (see gan_core.noise).
    """

    def __init__(self, G: nn.Module, D: nn.Module, cfg: GanConfig, device: torch.device | str = "cpu",
                 wrap: Callable[[nn.Module], nn.Module] | None = None, noise: TorchNoise = DEFAULT_NOISE):
        self.cfg = cfg
        self.device = torch.device(device)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.G_train = wrap(self.G) if wrap else self.G
        self.D_train = wrap(self.D) if wrap else self.D
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if cfg.train.ema_decay > 0 else None
        self.loss = losses.get(cfg.loss.name, cfg.loss.label_smoothing)
        self.penalty = penalties.get(cfg.penalty.name, cfg.penalty.params)
        self.penalty_weight = cfg.penalty.weight if cfg.penalty.name != "none" else 0.0
        self.d_steps = 0  # D updates so far (lazy regularisation counts them)
        self._last_pen: Tensor | None = None  # the latest penalty value, reported on the steps that skip it
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=o.betas_g)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=o.betas_d)
        fp16 = cfg.train.amp == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.noise = noise
        a = cfg.augment
        self.augment = Augment(a.policy, a.p, a.target, a.interval, a.kimg, device=self.device)
        self.lecam = LeCam(cfg.lecam.decay, device=self.device) if cfg.lecam.weight > 0 else None
        self.step = 0
        self.num_classes = getattr(G, "num_classes", 0)

    # ------------------------------------------------------------------ helpers
    def _autocast(self) -> Any:
        amp = self.cfg.train.amp
        if amp == "none":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[amp])

    def latent(self, n: int) -> Tensor:
        """Noise for ``n`` samples (width = the generator's prior noise_dim)."""
        return self.noise.randn((n, self.G.noise_dim), torch.empty(0, device=self.device))

    def _progress(self) -> None:
        # Models with schedules (e.g. Gumbel-softmax temperature) follow training progress.
        hook = getattr(self.G, "set_progress", None)
        if hook is not None:
            hook(self.step / max(1, self.cfg.train.steps))

    # ------------------------------------------------------------------ the step
    def d_step(self, real: Tensor, y: Tensor | None) -> dict[str, Tensor]:
        """One discriminator update: adversarial loss + weight * penalty, one backward."""
        real = real.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True) if y is not None else None
        with torch.no_grad(), self._autocast():
            fake = self.G(self.latent(real.shape[0]), y)
        real, fake = self.augment(real, self.noise), self.augment(fake, self.noise)
        with self._autocast():
            d_real = self.D_train(real, y) if y is not None else self.D_train(real)
            d_fake = self.D_train(fake, y) if y is not None else self.D_train(fake)
        adv = self.loss.d_loss(d_real.float(), d_fake.float())
        total = adv
        extra: dict[str, Tensor] = {}
        if self.lecam is not None:
            extra["lecam"] = self.lecam(d_real, d_fake)
            total = total + self.cfg.lecam.weight * extra["lecam"]
        every = self.cfg.penalty.every
        if self.penalty_weight > 0 and self.d_steps % every == 0:
            pen = self.penalty(self.D_train, real, fake, y, noise=self.noise)
            total = total + self.penalty_weight * every * pen
            self._last_pen = pen.detach()
        else:
            pen = self._last_pen if self._last_pen is not None else adv.new_zeros(())
        self.d_steps += 1
        self.augment.observe(d_real)
        if self.augment.policy:
            extra["aug_p"] = self.augment.p.float()
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(total).backward()
        self.scaler_d.unscale_(self.opt_d)
        gnorm = _grad_norm(list(self.D.parameters()), self.cfg.train.grad_clip)
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        if self.cfg.loss.weight_clip is not None:
            losses.clip_weights_(self.D, self.cfg.loss.weight_clip)
        return {"d_loss": adv.detach(), "penalty": pen.detach(), "d_real": d_real.detach().float().mean(),
                "d_fake": d_fake.detach().float().mean(), "grad_norm_d": gnorm.detach(),
                **{k: v.detach() for k, v in extra.items()}}

    def g_step(self, n: int, y: Tensor | None, real: Tensor | None = None) -> dict[str, Tensor]:
        """One generator update against the frozen, unwrapped discriminator.

        Relativistic losses also score ``real`` (a real batch of ``n``; no gradient flows through it).
        """
        y = y.to(self.device, non_blocking=True) if y is not None else None
        d_real = None
        if self.loss.relativistic:
            if real is None:
                raise ValueError(f"loss {self.loss.name!r} is relativistic: g_step needs a real batch")
            with torch.no_grad(), self._autocast():
                real = self.augment(real.to(self.device, non_blocking=True), self.noise)
                d_real = (self.D(real, y) if y is not None else self.D(real)).float()
        self.D.requires_grad_(False)
        try:
            with self._autocast():
                fake = self.augment(self.G_train(self.latent(n), y), self.noise)
                d_fake = self.D(fake, y) if y is not None else self.D(fake)
            g_loss = self.loss.g_loss(d_fake.float(), d_real)
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(g_loss).backward()
            self.scaler_g.unscale_(self.opt_g)
            gnorm = _grad_norm(list(self.G.parameters()), self.cfg.train.grad_clip)
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        finally:
            self.D.requires_grad_(True)
        self.update_ema()
        return {"g_loss": g_loss.detach(), "grad_norm_g": gnorm.detach()}

    def train_step(self, batches: list[Batch]) -> dict[str, Tensor]:
        """n_critic D updates (one per real batch) then one G update; returns device-side metrics."""
        if len(batches) != self.cfg.train.n_critic:
            raise ValueError(f"train_step needs n_critic={self.cfg.train.n_critic} batches, got {len(batches)}")
        self._progress()
        for real, y in batches:
            metrics = self.d_step(real, y)
        real, y = batches[-1]
        metrics.update(self.g_step(real.shape[0], y, real))
        self.step += 1
        return metrics

    def ema_decay_at(self, step: int) -> float:
        """The EMA's decay at generator update ``step`` (0-based): ``train.ema_decay``, warmed up as TensorFlow's
        ExponentialMovingAverage with ``num_updates`` does, min(decay, (1 + step) / (10 + step)). Without the
        warm-up a 0.999 average still holds exp(-1) = 37% of the random initial weights after 1,000 updates
        (9% after 2,400), and with BatchNorm statistics copied from G those weights give garbage samples."""
        return min(self.cfg.train.ema_decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- decay * G_ema + (1 - decay) * G (buffers copied), with the warmed-up decay."""
        if self.G_ema is None:
            return
        decay = self.ema_decay_at(self.step)
        ema_p = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in self.G.parameters()], 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, y: Tensor | None = None, ema: bool = True, batch: int = 1000) -> Tensor:
        """``n`` samples from G_ema (or G), in eval mode; labels cycle over classes when conditional."""
        return sample(self.G_ema if ema and self.G_ema is not None else self.G, n, y, self.device, batch)

    def retune(self, cfg: GanConfig) -> None:
        """Continue under ``cfg``'s hyperparameters: learning rates and betas, penalty weight, n_critic, the
        augmentation target, the LeCam weight (a PBT clone or a replayed schedule; a plain resume passes the
        config it was saved with). The state (weights, optimiser moments, EMA, p, anchors) is kept; the
        models' and loss's settings must be the ones the trainer was built with."""
        if to_dict(cfg.generator) != to_dict(self.cfg.generator) or to_dict(cfg.discriminator) != \
                to_dict(self.cfg.discriminator) or cfg.loss.name != self.cfg.loss.name \
                or cfg.penalty.name != self.cfg.penalty.name or (cfg.lecam.weight > 0) != (self.lecam is not None):
            raise ValueError("retune changes hyperparameters only, not the models, loss, penalty or LeCam on/off")
        self.cfg = cfg
        o = cfg.optim
        for opt, lr, betas in ((self.opt_g, o.lr_g, o.betas_g), (self.opt_d, o.lr_d, o.betas_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = float(lr), (float(betas[0]), float(betas[1]))
        self.penalty_weight = cfg.penalty.weight if cfg.penalty.name != "none" else 0.0
        self.augment.target = cfg.augment.target

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: models, optimisers, scalers, step, RNG states."""
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
            "step": self.step, "d_steps": self.d_steps, "rng_cpu": torch.get_rng_state(),
            "augment": self.augment.state_dict(),
            "lecam": self.lecam.state_dict() if self.lecam is not None else None,
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any], restore_rng: bool = True) -> None:
        """Restore what ``state_dict`` saved (the models' shapes must match)."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None and state.get("G_ema") is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.step = int(state["step"])
        self.d_steps = int(state.get("d_steps", self.step * self.cfg.train.n_critic))  # older checkpoints
        if "augment" in state:  # checkpoints from before augmentation existed have neither
            self.augment.load_state_dict(state["augment"])
        if self.lecam is not None and state.get("lecam") is not None:
            self.lecam.load_state_dict(state["lecam"])
        self.retune(self.cfg)  # the optimisers' saved groups carry the writer's learning rates
        if restore_rng:
            torch.set_rng_state(state["rng_cpu"])
            if "rng_cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng_cuda"])


@torch.no_grad()
def sample(G: nn.Module, n: int, y: Tensor | None = None, device: torch.device | str = "cpu",
           batch: int = 1000) -> Tensor:
    """``n`` samples from generator ``G`` in eval mode (restoring its mode afterwards)."""
    was_training = G.training
    G.eval()
    classes = getattr(G, "num_classes", 0)
    if y is None and classes:
        y = torch.arange(n) % classes
    out = []
    for i in range(0, n, batch):
        m = min(batch, n - i)
        z = torch.randn(m, G.noise_dim, device=device)
        yy = y[i:i + m].to(device) if y is not None else None
        out.append(G(z, yy).float().cpu())
    G.train(was_training)
    return torch.cat(out)
