"""``ganarena interpolate``: a grid walking between latent points of a trained generator.

Each row walks from one latent vector to another in ``--steps`` points (``--slerp``: along the sphere);
for a conditional generator the row also walks from one class to the next (row r: class r mod C to
r + 1 mod C) by mixing their embeddings (``gan_core.latent.soft_labels``). Every point is generated on
its own, so the first and last column are exactly the direct samples of their latent vector and class.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_core.errors import GanConfigError
from gan_core.latent import soft_labels, walk
from gan_core.tasks import task_of
from pipeline.inspect import EXTENSIONS, check_fits, load_trainer, resolve_checkpoint, write_samples

MAX_POINTS = 4096


def walk_inputs(noise_dim: int, classes: int, rows: int, steps: int, spherical: bool,
                seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(latents (rows * steps, noise_dim), class weights (rows * steps, classes) or None), row by row."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(rows, noise_dim, generator=g), torch.randn(rows, noise_dim, generator=g)
    z = walk(a, b, steps, spherical).reshape(rows * steps, noise_dim)
    if not classes:
        return z, None
    eye = torch.eye(classes)
    start, end = eye[torch.arange(rows) % classes], eye[(torch.arange(rows) + 1) % classes]
    return z, walk(start, end, steps).reshape(rows * steps, classes)


def generate(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """One forward per point (eval mode), so a point never depends on the others in its batch."""
    was = G.training
    G.eval()
    try:
        with torch.no_grad(), soft_labels(G):
            return torch.cat([G(z[i:i + 1], None if y is None else y[i:i + 1]).float() for i in range(len(z))])
    finally:
        G.train(was)


def interpolate_command(source: str | Path, out: Path, steps: int, rows: int, spherical: bool, which: str,
                        workdir: Path, tracking_uri: str | None, seed: int | None = None) -> str:
    out = Path(out)
    if out.suffix.lower() not in EXTENSIONS:
        raise GanConfigError("--out", f"unsupported file type {out.suffix or '(none)'!r} in {out}", list(EXTENSIONS))
    if steps < 2:
        raise GanConfigError("--steps", f"must be >= 2 (the two end points), got {steps}")
    if rows < 1:
        raise GanConfigError("--rows", f"must be >= 1, got {rows}")
    if rows * steps > MAX_POINTS:
        raise GanConfigError("--rows/--steps", f"{rows} x {steps} points is more than a grid can show",
                             f"rows x steps <= {MAX_POINTS}")
    with resolve_checkpoint(source, which, workdir, tracking_uri) as (path, what):
        trainer, cfg, spec, step = load_trainer(path)
    if task_of(spec).kind == "text":
        raise GanConfigError("source", "a text generator draws its tokens at random beyond its latent vector, so a "
                             "latent walk shows nothing", "a run on images or toy data")
    check_fits(rows * steps, spec)
    G = trainer.G_ema if trainer.G_ema is not None else trainer.G
    classes = trainer.num_classes
    z, y = walk_inputs(G.noise_dim, classes, rows, steps, spherical, cfg.seed if seed is None else seed)
    fake = generate(G, z, y)
    write_samples(fake, cfg, spec, out, f"{cfg.name} step {step}: {'slerp' if spherical else 'lerp'}", columns=steps)
    between = f", and from class r mod {classes} to the next" if classes else ""
    return (f"[ganarena] wrote {rows} walks of {steps} points ({'spherical' if spherical else 'linear'} in the "
            f"latent space{between}) of {cfg.name!r} (step {step}) from {what} to {out}")
