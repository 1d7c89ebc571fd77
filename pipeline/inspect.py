"""``ganarena sample`` and ``ganarena evaluate``: look at a trained generator after the fact.

The source is a checkpoint file or an MLflow run (id, or the run name given to ``ganarena train``),
whose ``checkpoints/best.pt`` or ``checkpoints/latest.pt`` artifact is downloaded to a temporary
folder. The trainer is rebuilt from the config stored in the checkpoint and samples come from the
EMA generator, with a fixed seed, so the same command gives the same output.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from gan_core.build import build_trainer
from gan_core.checkpoint import checkpoint_config, load_checkpoint, restore
from gan_core.config import GanConfig
from gan_core.errors import GanConfigError
from gan_core.latent import class_rows
from gan_core.memory import check_count
from gan_core.models import DataSpec
from gan_core.step import GANTrainer
from gan_core.tasks import TASKS, run_evaluator, task_of
from pipeline import runs
from pipeline.tracking import database_missing, fluent_uri, resolve_tracking_uri

WHICH = ("best", "latest")
EXTENSIONS = sorted({suffix for task in TASKS.values() for suffix in task.formats})  # each kind writes some


# ----------------------------------------------------------------------------- resolving the source


def _looks_like_path(source: str) -> bool:
    return os.sep in source or source.endswith((".pt", ".pth")) or source.startswith(".")


@contextlib.contextmanager
def resolve_checkpoint(source: str | Path, which: str, workdir: Path,
                       tracking_uri: str | None) -> Iterator[tuple[Path, str]]:
    """Yield (local checkpoint path, description); MLflow artifacts live in a temp dir for the duration."""
    if which not in WHICH:
        raise GanConfigError("--which", f"got {which!r}", WHICH)
    src = str(source)
    if Path(src).is_file():
        yield Path(src), f"checkpoint {src}"
        return
    if Path(src).exists():
        raise GanConfigError("source", f"{src} is a folder, not a checkpoint file",
                             "a checkpoint .pt file or an MLflow run id")
    not_a_file = GanConfigError("source", f"checkpoint file {src} not found", "a checkpoint .pt file or an MLflow run id")
    uri = resolve_tracking_uri(tracking_uri, workdir)
    if src.startswith("models:/"):
        with registered_checkpoint(src, uri) as found:
            yield found
        return
    if database_missing(uri):
        if _looks_like_path(src):
            raise not_a_file
        raise GanConfigError("source", f"{src!r} is not a file and there is no MLflow database at {uri}",
                             "a checkpoint .pt file, or a run id with --workdir/--tracking-uri of its training")
    client = runs.client(uri)
    try:
        run = runs.find_by_id_or_name(client, src)  # a run name may look like a path ("../x", "a/b.pt")
    except Exception as e:  # noqa: BLE001 - server/database errors have many types
        raise GanConfigError("--tracking-uri", f"cannot query MLflow at {uri} ({type(e).__name__})") from None
    if run is None and _looks_like_path(src):
        raise not_a_file
    if run is None:
        raise GanConfigError("source", f"no MLflow run with id or name {src!r} at {uri}",
                             "a run id printed by `ganarena train` / shown by `ganarena ui`, or a checkpoint file")
    run_id = run.info.run_id
    try:
        have = sorted(Path(f.path).name for f in client.list_artifacts(run_id, "checkpoints"))
    except Exception:  # noqa: BLE001
        have = []
    if f"{which}.pt" not in have:
        allowed = [h[:-3] for h in have if h.endswith(".pt")] or "none: the run logged no checkpoint yet"
        raise GanConfigError("--which", f"run {run_id} has no checkpoints/{which}.pt", allowed)
    import mlflow.artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="ganarena-ckpt-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"checkpoints/{which}.pt",
                                                        dst_path=tmp, tracking_uri=uri)
        except Exception as e:  # noqa: BLE001
            raise GanConfigError("source", f"cannot download checkpoints/{which}.pt of run {run_id} "
                                 f"({type(e).__name__})") from None
        yield Path(local), f"MLflow run {run_id} ({run.info.run_name}), checkpoints/{which}.pt"


@contextlib.contextmanager
def registered_checkpoint(src: str, uri: str) -> Iterator[tuple[Path, str]]:
    """The checkpoint inside a registered generator (``models:/<name>@<alias>`` or ``models:/<name>/<version>``)."""
    import mlflow.artifacts

    if database_missing(uri):
        raise GanConfigError("source", f"no MLflow database at {uri} to look {src} up in",
                             "--workdir/--tracking-uri of the sweep that registered it")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="ganarena-model-") as tmp:
        try:
            with fluent_uri(uri):
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=src, dst_path=tmp))
        except Exception as e:  # noqa: BLE001 - unknown name, alias or version: MLflow raises several types
            raise GanConfigError("source", f"cannot load registered model {src} from {uri} "
                                 f"({(str(e).strip().splitlines() or [type(e).__name__])[0][:160]})",
                                 "models:/<sweep>-generator@champion, or a run id, or a checkpoint file") from None
        found = sorted(local.glob("artifacts/*.pt"))
        if len(found) != 1:
            raise GanConfigError("source", f"{src} is not a ganarena generator (no checkpoint in its artifacts)",
                                 "a model registered by `ganarena sweep`")
        yield found[0], f"registered model {src}"


def load_trainer(path: Path) -> tuple[GANTrainer, GanConfig, DataSpec, int]:
    """Rebuild the trainer of a checkpoint on CPU: (trainer, config, data spec, step)."""
    payload = load_checkpoint(path)
    cfg, spec = checkpoint_config(payload)
    trainer = build_trainer(cfg, spec)
    restore(trainer, payload, restore_rng=False, source=str(path))
    return trainer, cfg, spec, trainer.step


def _samples(trainer: GANTrainer, n: int, seed: int, y: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` samples from G_ema with a fixed seed (labels ``y`` for a conditional one), leaving the caller's
    RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return trainer.sample(n, y)


def check_class(label: int | None, classes: int) -> None:
    """``--class`` needs a conditional generator (of ``classes`` classes; 0: unconditional) and one of them."""
    if label is None:
        return
    if not classes:
        raise GanConfigError("--class", "this run's generator is unconditional (trained with data.conditional: "
                             "false)", "leave --class out")
    if not 0 <= label < classes:
        raise GanConfigError("--class", f"got {label}", f"0..{classes - 1}")


def _check_n(n: int | None, minimum: int = 1) -> None:
    if n is not None and n < minimum:
        raise GanConfigError("--n", f"must be >= {minimum}, got {n}")


def check_fits(n: int, spec: DataSpec) -> None:
    """``n`` float32 samples of ``spec`` must fit in a quarter of this machine's memory."""
    check_count("--n", n, 4 * math.prod(spec.shape), f"samples of shape {tuple(spec.shape)}")


# ----------------------------------------------------------------------------- writing atomically


@contextlib.contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    """A temp path beside ``out`` (same suffix, so writers pick the format) renamed onto it on success."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    except OSError as e:
        raise GanConfigError("--out", f"cannot write {out}: {e.strerror or e}",
                             "a file path in a writable folder") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_samples(fake: torch.Tensor, cfg: GanConfig, spec: DataSpec, out: Path, title: str,
           columns: int | None = None) -> None:
    """The data kind's Task writes the file (its dataset, for centres or a vocabulary, built only if needed)."""
    def dataset() -> Any:
        from gan_core.data import build_dataset

        return build_dataset(cfg.data, seed=cfg.seed)

    task = task_of(spec)
    if out.suffix.lower() not in task.formats:
        raise task.refuse(out.suffix.lower())
    with _atomic(out) as tmp:
        task.write(fake, tmp, dataset, title, columns)


# ----------------------------------------------------------------------------- commands


def sample_command(source: str | Path, out: Path, n: int | None, which: str, workdir: Path,
                   tracking_uri: str | None, label: int | None = None) -> str:
    """Write ``n`` samples of the source's generator to ``out`` (.png, .npy or .txt); returns a report line.

    A conditional generator draws class ``label`` (``--class``), or without one every class in turn, one
    class per grid row."""
    out = Path(out)
    if out.suffix.lower() not in EXTENSIONS:
        raise GanConfigError("--out", f"unsupported file type {out.suffix or '(none)'!r} in {out}", list(EXTENSIONS))
    if out.exists() and out.is_dir():
        raise GanConfigError("--out", f"{out} is a folder", "a file path ending in .png, .npy or .txt")
    _check_n(n)
    with resolve_checkpoint(source, which, workdir, tracking_uri) as (path, what):
        trainer, cfg, spec, step = load_trainer(path)
    classes = trainer.num_classes
    check_class(label, classes)
    count = n if n is not None else (8 * classes if classes and label is None else task_of(spec).default_samples)
    check_fits(count, spec)
    y, columns, which_classes = None, None, ""
    if label is not None:
        y, which_classes = torch.full((count,), label, dtype=torch.long), f" of class {label}"
    elif classes:
        (y, columns), which_classes = class_rows(count, classes), f", one class per row (0..{classes - 1})"
    fake = _samples(trainer, count, cfg.seed, y)
    write_samples(fake, cfg, spec, out, f"{cfg.name} step {step}", columns)
    return (f"[ganarena] wrote {count} samples {tuple(fake.shape[1:])}{which_classes} of {cfg.name!r} (step {step}, "
            f"{'EMA generator' if trainer.G_ema is not None else 'generator'}) from {what} to {out}")


def evaluate_command(source: str | Path, n: int | None, which: str, workdir: Path,
                     tracking_uri: str | None, feature_weights: str | None = None, features: str | None = None) -> str:
    """Score the source's generator on the run's evaluation reference; the numbers come with their protocol.

    ``feature_weights`` (``--feature-weights``, a file) or ``features`` (``--features``, a network's name such
    as ``inception``) replaces the run's feature network."""
    if feature_weights and features:
        raise GanConfigError("--features", "give --features (a name) or --feature-weights (a file), not both")
    _check_n(n, 2)
    with resolve_checkpoint(source, which, workdir, tracking_uri) as (path, what):
        trainer, cfg, spec, step = load_trainer(path)
    check_fits(n or cfg.eval.samples, spec)
    weights = str(Path(feature_weights).expanduser().resolve()) if feature_weights else None
    task = task_of(spec)
    ev = run_evaluator(cfg, n_fake=n, features=weights or features)
    with torch.random.fork_rng(devices=[]):  # as in training: what the Task gives its evaluator
        torch.manual_seed(cfg.seed)
        result, _ = task.evaluate(ev, trainer)
    head = (f"[ganarena] {cfg.name!r} step {step} ({'EMA generator' if trainer.G_ema is not None else 'generator'}) "
            f"from {what}")
    body = "\n".join(f"  {k:<14} {v:.6g}" for k, v in result.items())
    proto = "\n".join(f"  {k:<26} {v}" for k, v in ev.protocol.items())
    intra = intra_class_lines(ev, trainer, cfg) if trainer.num_classes and task.kind == "image" else ""
    return (f"{head}\nmetrics (primary: {ev.primary}, {'higher' if ev.mode == 'max' else 'lower'} is better):\n"
            f"{body}\n{intra}protocol:\n{proto}\n{ev.describe(result)}")


def intra_class_lines(ev: Any, trainer: GANTrainer, cfg: GanConfig) -> str:
    """A conditional image generator's intra-class FD per class and mean, beside the real-vs-real floor."""
    from gan_core.data import build_dataset
    from gan_core.metrics.intra_class import intra_class_fd

    classes = trainer.num_classes
    per = max(2, ev.n_fake // classes)

    def sample(labels: torch.Tensor) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            return trainer.sample(len(labels), labels)

    gen, floor = intra_class_fd(ev.extractor, ev.ds, build_dataset(cfg.data, seed=cfg.seed), sample, per, classes,
                                cfg.seed)
    rows = [f"  class {c:<4} {gen[f'fd_class_{c}']:<12.5g} {floor[f'fd_class_{c}']:.5g}" for c in range(classes)]
    return (f"intra-class FD ({per} samples of each class vs the class's reference images; floor: {per} training "
            f"images of each class):\n  {'':<10} {'generator':<12} floor\n" + "\n".join(rows) +
            f"\n  {'mean':<10} {gen['intra_fd']:<12.5g} {floor['intra_fd']:.5g}  (intra_fd; "
            f"{gen['intra_fd'] / floor['intra_fd']:.2f}x the floor)\n")
