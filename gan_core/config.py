"""One typed, strict configuration for a GAN run, loadable from YAML.

A config file states only what differs from the defaults; unknown keys, wrong types and values
outside the allowed set are errors that name the field (``GanConfigError``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

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

    arch: str = "mlp"  # mlp | dcgan | resnet | lstm-gumbel | conv1d-softmax
    z_dim: int = 64
    width: int = 128  # hidden units (mlp, lstm) or base channels (conv)
    depth: int = 3  # hidden layers (mlp)
    prior: Literal["gaussian", "mixture"] = "gaussian"
    prior_components: int = 10  # mixture prior: number K of learnable Gaussians
    embed_dim: int = 32  # label embedding (mlp) / token embedding (text)


@dataclass
class DiscriminatorConfig:
    """Discriminator architecture; ``conditioning`` is used only when data.conditional is true."""

    arch: str = "mlp"  # mlp | dcgan | resnet | patchgan | text-cnn | conv1d
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
    ema_decay: float = 0.999  # 0 turns the generator EMA off
    amp: Literal["none", "bf16", "fp16"] = "none"
    grad_clip: float | None = None  # clip each player's gradient norm
    log_every: int = 50
    eval_every: int = 500
    ckpt_every: int = 500
    eval_samples: int = 2500  # generated samples per evaluation
    mle_pretrain_steps: int = 0  # text generators: teacher-forced pretraining before the game
    gumbel_beta_max: float = 100.0  # text generators: final inverse temperature
    inject_nan_at: int = 0  # testing aid: from this generator step on, D's loss is NaN (0 = off)


@dataclass
class MetricsConfig:
    """What evaluations measure with. Images need a feature network: the shipped CNN of the dataset's
    domain (digits, mnist5k) by default; any other data (an ImageFolder of your own, CIFAR-10, ...)
    needs ``feature_weights``: a CNN from ``scripts/train_feature_net.py`` (``F.pt`` beside ``F.json``)
    or an InceptionV3 weights file."""

    feature_weights: str | None = None


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
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def validate(self, path: str = "") -> None:
        """Cross-field checks that a single field's type cannot express."""
        p = f"{path}." if path else ""
        t = self.train
        for name in ("steps", "batch_size", "n_critic", "log_every", "eval_every", "ckpt_every",
                     "eval_samples"):
            if getattr(t, name) < 1:
                raise GanConfigError(f"{p}train.{name}", f"must be >= 1, got {getattr(t, name)}")
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


# ----------------------------------------------------------------------------- strict loading


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (e.g. list -> tuple)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is Literal:
        if value not in args:
            raise GanConfigError(path, f"got {value!r}", [repr(a) if isinstance(a, str) else a for a in args])
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, path)
            except GanConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise GanConfigError(path, f"expected a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise GanConfigError(path, f"expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise GanConfigError(path, f"expected a mapping, got {value!r}")
        if not args:
            return dict(value)
        return {_coerce(args[0], k, path): _coerce(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise GanConfigError(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GanConfigError(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                raise GanConfigError(path, f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GanConfigError(path, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise GanConfigError(path, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise GanConfigError(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"{path}: unsupported annotation {_type_name(tp)}")  # a bug in a config class


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad values raise GanConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GanConfigError(path or "<config>", f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise GanConfigError(f"{path}.{key}" if path else str(key), "unknown key", names)
    kwargs = {k: _coerce(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) that ``from_dict`` reads back to an equal config."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return conv(dataclasses.asdict(cfg))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; used for MLflow params and search spaces."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise GanConfigError("--set", f"expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        if not key.strip() or any(not part.strip() for part in key.split(".")):
            raise GanConfigError("--set", f"expected key=value with a dotted key such as train.steps, got {item!r}")
        try:
            value = yaml.load(raw, Loader=_StrictLoader)
        except (yaml.YAMLError, RecursionError):
            raise GanConfigError(f"--set {key}", f"cannot parse value {raw!r}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GanConfigError(f"--set {key}", f"{part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # after expanding aliases: a few hundred in any real config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (else the last one silently wins) and alias expansion beyond
    MAX_YAML_NODES nodes (a "billion laughs" document is a few lines that expand to 10^9)."""

    def compose_document(self):
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n) -> int:
            if id(n) not in sizes:
                sizes[id(n)] = 0  # a recursive alias counts once, then is refused by the constructor
                kids = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else \
                    n.value if isinstance(n, yaml.SequenceNode) else []
                sizes[id(n)] = 1 + sum(size(c) for c in kids)
                if sizes[id(n)] > MAX_YAML_NODES:
                    raise yaml.YAMLError(f"aliases expand to more than {MAX_YAML_NODES:,} nodes")
            return sizes[id(n)]

        if node is not None:
            size(node)
        return node

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is a GanConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise GanConfigError(str(path), "config file not found")
    raw = p.read_bytes()
    if len(raw) > MAX_CONFIG_BYTES:
        raise GanConfigError(str(path), f"{len(raw):,} bytes is not a config", f"a YAML file up to {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GanConfigError(str(path), f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}",
                             "a UTF-8 (or ASCII) YAML file") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        kind = "syntax error" if isinstance(e, yaml.scanner.ScannerError | yaml.parser.ParserError) else "error"
        raise GanConfigError(str(path), f"YAML {kind}{where}: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise GanConfigError(str(path), "YAML nested too deeply", "a config a few levels deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanConfigError(str(path), "the top level of a config must be a mapping")
    return data


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> GanConfig:
    """Load and validate a GanConfig from a YAML path or a dict, applying ``--set`` overrides."""
    data = read_yaml(source) if isinstance(source, str | Path) else dict(source)
    apply_overrides(data, overrides or [])
    cfg = from_dict(GanConfig, data)
    cfg.validate()
    return cfg
