"""The sections of a GAN run's config, one dataclass each, and the checks across fields.

Defaults are the values a config file does not state; ``GanConfig.validate`` holds what a single
field's type cannot express. Loading (YAML, ``--set``, strict types) is ``gan_core.config.loading``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gan_core import losses, penalties
from gan_core.errors import GanConfigError


@dataclass
class DataConfig:
    """Which dataset, where it lives and how it is shaped (see ``gan_core.data``)."""

    name: str = "ring8"  # registry name, see gan_core.data.DATASETS
    setting: Literal["pacgan", "wgangp"] = "wgangp"  # toy mixtures: which published geometry
    n_samples: int = 50_000  # toy mixtures: size of the sampled training set
    root: str | None = None  # torchvision / imagefolder / parquet / text: a local path
    image_size: int | None = None  # resize images to this size (default: the dataset's own)
    channels: int | None = None  # force 1 (grayscale) or 3 (RGB) channels
    conditional: bool = False  # feed class labels y to G and D
    split: Literal["train", "test"] = "train"
    # text (see gan_core.data.text)
    level: Literal["word", "char"] = "word"
    vocab_size: int = 5000
    seq_len: int = 20


@dataclass
class GeneratorConfig:
    """Generator architecture; ``prior`` = 'mixture' learns P(z) (DeLiGAN) in front of any net."""

    arch: str = "mlp"  # mlp | dcgan | infogan | resnet | lstm-gumbel | conv1d-softmax
    z_dim: int = 64
    width: int = 128  # hidden units (mlp, lstm) or base channels (conv)
    depth: int = 3  # hidden layers (mlp)
    prior: Literal["gaussian", "mixture"] = "gaussian"
    prior_components: int = 10  # mixture prior: number K of learnable Gaussians
    embed_dim: int = 32  # label embedding (mlp) / token embedding (text)


@dataclass
class DiscriminatorConfig:
    """Discriminator architecture; ``conditioning`` is used only when data.conditional is true."""

    arch: str = "mlp"  # mlp | dcgan | infogan | resnet | patchgan | text-cnn | conv1d
    width: int = 128
    depth: int = 3  # hidden layers (mlp) or downsampling layers (patchgan)
    spectral_norm: bool = False
    norm: Literal["none", "batch", "layer"] = "none"
    conditioning: Literal["projection", "concat"] = "projection"
    embed_dim: int = 32


@dataclass
class LossConfig:
    """Adversarial loss by name; smoothing applies to logistic losses, clip gives the original WGAN."""

    name: str = "ns"  # a gan_core.losses.LOSSES name
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - s (minimax, ns)
    weight_clip: float | None = None  # clamp D weights to [-c, c] after each D step (wgan)


@dataclass
class PenaltyConfig:
    """Gradient penalty by name with its weight; weight 0 turns it off.

    ``every`` > 1 is lazy regularisation (StyleGAN2, Karras et al. 2020): the penalty is computed on
    every k-th D step only, with weight x k, so its average strength is unchanged at 1/k of its cost.
    ``params`` sets the penalty's own parameters (e.g. DRAGAN's ``c``); each has a default."""

    name: str = "none"  # a gan_core.penalties.PENALTIES name
    weight: float = 0.0
    every: int = 1
    params: dict[str, float] = field(default_factory=dict)


AugmentOp = Literal["color", "translation", "cutout"]


@dataclass
class AugmentConfig:
    """Differentiable augmentation of every image D sees (DiffAugment), optionally with ADA's adaptive
    probability; formulas in ``gan_core.augment``. An empty policy turns it off."""

    policy: list[AugmentOp] = field(default_factory=list)  # e.g. [color, translation, cutout]
    p: float = 1.0  # probability each op is applied to a sample (ADA: the starting value)
    target: float | None = None  # ADA: adapt p so that E[sign(D(real))] stays at this (paper: 0.6)
    interval: int = 4  # ADA: D steps between two adjustments of p
    kimg: float = 100.0  # ADA: thousands of real images over which p can move from 0 to 1 (paper: 500)


@dataclass
class LeCamConfig:
    """LeCam regularisation of D's outputs toward EMA anchors (Tseng et al. 2021); weight 0 turns it off."""

    weight: float = 0.0
    decay: float = 0.99  # EMA decay of the anchors


@dataclass
class OptimConfig:
    """Adam for both players; separate learning rates (TTUR) and betas."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)


@dataclass
class TrainConfig:
    """Training step and loop settings. ``steps`` counts generator updates."""

    steps: int = 2000
    batch_size: int = 256  # global batch, split across data-parallel workers
    n_critic: int = 1  # discriminator updates per generator update
    ema_decay: float = 0.999  # 0 turns the generator EMA off; warmed up: min(decay, (1 + t) / (10 + t))
    amp: Literal["none", "bf16", "fp16"] = "none"
    grad_clip: float | None = None  # clip each player's gradient norm
    log_every: int = 50
    ckpt_every: int = 500
    mle_pretrain_steps: int = 0  # text generators: teacher-forced pretraining before the game
    gumbel_beta_max: float = 100.0  # text generators: final inverse temperature


@dataclass
class EvalConfig:
    """When a run is evaluated, with how many samples, against which real data and in which feature space.

    ``reference``: ``test`` compares with the dataset's test split (an error if it has none), ``train``
    with the training set, ``auto`` with the test split where one exists, else the training set (the
    evaluator's protocol says which it used, and why: MLflow tag ``protocol.eval_split``). Images need a feature network: the
    shipped CNN of the dataset's domain (digits, mnist5k) by default; any other data (an ImageFolder
    of your own, CIFAR-10, ...) needs ``feature_weights``: a CNN from ``scripts/train_feature_net.py``
    (``F.pt`` beside ``F.json``) or an InceptionV3 weights file; or ``features`` naming a network:
    ``inception`` (the standard FID InceptionV3, extra ``ganarena[inception]``) or a shipped domain's CNN."""

    every: int = 500  # generator steps between evaluations (and always at the last step)
    samples: int = 2500  # generated samples per evaluation
    reference: Literal["auto", "test", "train"] = "auto"
    feature_weights: str | None = None
    features: str | None = None  # inception | a shipped domain (digits, mnist5k, fashionmnist); null: the data's
    # One more evaluation of the final (EMA) generator when training ends, logged as final_<metric>: with
    # final_samples samples (null: samples) in final_features' space (null: the run's), e.g. Inception
    # FID of 10,000 samples after training on the small CNN's FD. Off when both are null.
    final_samples: int | None = None
    final_features: str | None = None

    def has_final(self) -> bool:
        return self.final_samples is not None or self.final_features is not None

    def feature_spec(self) -> str | None:
        """What the evaluator's feature network is built from: the weights file, else the name, else None."""
        return self.feature_weights or self.features


# Keys older versions had elsewhere (old dotted path -> new one) or had and dropped (-> why). A config
# naming one is an error saying so; a checkpoint written before the change is upgraded on load.
MOVED_KEYS = {"train.eval_every": "eval.every", "train.eval_samples": "eval.samples",
              "metrics": "eval", "metrics.feature_weights": "eval.feature_weights"}
REMOVED_KEYS = {"train.inject_nan_at": "a testing aid the tests now install themselves (tests/divergence_hook.py)"}


MAX_IMAGE_SIZE = 1024  # StyleGAN-class sizes; beyond, the resized dataset alone (held in memory) cannot fit
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds; runs derive per-step seeds from it


@dataclass
class GanConfig:
    """Everything gan_core needs to build and train one GAN."""

    name: str = "gan"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    lecam: LeCamConfig = field(default_factory=LeCamConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self, path: str = "") -> None:
        """Cross-field checks that a single field's type cannot express."""
        p = f"{path}." if path else ""
        t = self.train
        for name in ("steps", "batch_size", "n_critic", "log_every", "ckpt_every"):
            if getattr(t, name) < 1:
                raise GanConfigError(f"{p}train.{name}", f"must be >= 1, got {getattr(t, name)}")
        if self.eval.features is not None and self.eval.feature_weights is not None:
            raise GanConfigError(f"{p}eval.features", "set eval.features (a network's name) or eval.feature_weights "
                                 "(a file), not both")
        if self.eval.final_samples is not None and self.eval.final_samples < 2:
            raise GanConfigError(f"{p}eval.final_samples", f"must be >= 2 or null, got {self.eval.final_samples}")
        for name in ("every", "samples"):
            if getattr(self.eval, name) < 1:
                raise GanConfigError(f"{p}eval.{name}", f"must be >= 1, got {getattr(self.eval, name)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise GanConfigError(f"{p}seed", f"must be in [0, {MAX_SEED}], got {self.seed}")
        if t.mle_pretrain_steps < 0:
            raise GanConfigError(f"{p}train.mle_pretrain_steps", "must be >= 0")
        if not 0.0 <= t.ema_decay < 1.0:
            raise GanConfigError(f"{p}train.ema_decay", f"must be in [0, 1), got {t.ema_decay}")
        if t.grad_clip is not None and t.grad_clip <= 0:
            raise GanConfigError(f"{p}train.grad_clip", "must be > 0 or null")
        losses.check_name(self.loss.name, f"{p}loss.name")
        penalties.check(self.penalty.name, self.penalty.params, f"{p}penalty")
        if self.penalty.weight < 0:
            raise GanConfigError(f"{p}penalty.weight", f"must be >= 0, got {self.penalty.weight}")
        if self.penalty.every < 1:
            raise GanConfigError(f"{p}penalty.every", f"must be >= 1 (D steps between penalties), got {self.penalty.every}")
        if not 0.0 <= self.loss.label_smoothing < 0.5:
            raise GanConfigError(f"{p}loss.label_smoothing", "must be in [0, 0.5)")
        if self.loss.label_smoothing and not losses.LOSSES[self.loss.name].logistic:
            raise GanConfigError(f"{p}loss.label_smoothing", "applies only to logistic losses",
                                 losses.logistic_names())
        if self.loss.weight_clip is not None and self.loss.weight_clip <= 0:
            raise GanConfigError(f"{p}loss.weight_clip", "must be > 0 or null")
        a = self.augment
        if len(set(a.policy)) != len(a.policy):
            raise GanConfigError(f"{p}augment.policy", f"lists an op twice: {a.policy}", ["color", "translation",
                                                                                          "cutout"])
        if not 0.0 <= a.p <= 1.0:
            raise GanConfigError(f"{p}augment.p", f"must be in [0, 1], got {a.p}")
        if a.target is not None and not -1.0 < a.target < 1.0:
            raise GanConfigError(f"{p}augment.target", f"must be in (-1, 1) (a mean of signs) or null, got {a.target}")
        if a.interval < 1:
            raise GanConfigError(f"{p}augment.interval", f"must be >= 1, got {a.interval}")
        if a.kimg <= 0:
            raise GanConfigError(f"{p}augment.kimg", f"must be > 0, got {a.kimg}")
        if (a.target is not None or a.p != 1.0) and not a.policy:
            raise GanConfigError(f"{p}augment.policy", "is empty, so augment.p / augment.target do nothing",
                                 ["color", "translation", "cutout"])
        if self.lecam.weight < 0:
            raise GanConfigError(f"{p}lecam.weight", f"must be >= 0, got {self.lecam.weight}")
        if not 0.0 <= self.lecam.decay < 1.0:
            raise GanConfigError(f"{p}lecam.decay", f"must be in [0, 1), got {self.lecam.decay}")
        for who in ("g", "d"):
            lr = getattr(self.optim, f"lr_{who}")
            if not 0 < lr < 1:
                raise GanConfigError(f"{p}optim.lr_{who}", f"must be in (0, 1), got {lr}")
            for b in getattr(self.optim, f"betas_{who}"):
                if not 0 <= b < 1:
                    raise GanConfigError(f"{p}optim.betas_{who}", f"each beta must be in [0, 1), got {b}")
        for name in ("z_dim", "width", "depth", "prior_components", "embed_dim"):
            if getattr(self.generator, name) < 1:
                raise GanConfigError(f"{p}generator.{name}", "must be >= 1")
        for name in ("width", "depth", "embed_dim"):
            if getattr(self.discriminator, name) < 1:
                raise GanConfigError(f"{p}discriminator.{name}", "must be >= 1")
        d = self.data
        if d.n_samples < 1:
            raise GanConfigError(f"{p}data.n_samples", "must be >= 1")
        if d.image_size is not None and not 4 <= d.image_size <= MAX_IMAGE_SIZE:
            raise GanConfigError(f"{p}data.image_size", f"must be in [4, {MAX_IMAGE_SIZE}] or null, got {d.image_size}")
        if d.channels not in (None, 1, 3):
            raise GanConfigError(f"{p}data.channels", f"got {d.channels}", ["null", 1, 3])
        if d.vocab_size < 2 or d.seq_len < 2:
            raise GanConfigError(f"{p}data.vocab_size/seq_len", "must be >= 2")
