"""GPU throughput: images/s of GANTrainer.train_step for DCGAN 64x64 and ResNet 32x32, with fp32, bf16
autocast, channels_last and torch.compile; and 1-GPU Ray Train (`ganarena train --gpus-per-worker 1`)
vs the plain loop on the same config. Called by bench/gpu.sh; writes bench/results/gpu.json.

    .venv/bin/python -m bench.gpu_throughput [--steps 50] [--repeats 3] [--skip-ray]
"""

from __future__ import annotations

import argparse
import time

from bench.common import host, stats, write

MODELS = {"dcgan_64px": ("dcgan", (3, 64, 64), 64), "resnet_32px": ("resnet", (3, 32, 32), 128)}
VARIANTS = {"fp32": ("none", False, False), "bf16_autocast": ("bf16", False, False),
            "channels_last": ("none", True, False), "bf16_channels_last": ("bf16", True, False),
            "compile": ("none", False, True), "bf16_compile": ("bf16", False, True)}


def make_cfg(arch: str, batch: int, amp: str):
    from gan_core.config import GanConfig, from_dict

    return from_dict(GanConfig, {"data": {"name": "cifar10"}, "generator": {"arch": arch, "z_dim": 128, "width": 64},
                                 "discriminator": {"arch": arch, "width": 64}, "loss": {"name": "hinge"},
                                 "penalty": {"name": "none"}, "train": {"batch_size": batch, "amp": amp}})


def images_per_s(arch: str, shape: tuple, batch: int, variant: str, steps: int) -> float:
    """Steady-state train_step images/s on random data (data loading excluded), after warm-up."""
    import torch

    from gan_core.build import build_trainer
    from gan_core.models import DataSpec

    amp, channels_last, compiled = VARIANTS[variant]
    trainer = build_trainer(make_cfg(arch, batch, amp), DataSpec(shape, 0, "image"), device="cuda")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        trainer.G.to(memory_format=fmt)
        trainer.D.to(memory_format=fmt)
    if compiled:  # compile the modules in place: the trainer keeps calling the same objects
        trainer.G.compile()
        trainer.D.compile()
    real = torch.randn(batch, *shape, device="cuda").contiguous(memory_format=fmt)
    for _ in range(10 if compiled else 3):
        trainer.train_step([(real, None)])
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step([(real, None)])
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


def ray_vs_plain(steps: int) -> dict:
    """configs/mnist5k_dcgan.yaml on the GPU: `ganarena train --gpus-per-worker 1` vs gan_core.fit in-process.

    Same protocol as bench/train_overhead.py (median samples/s over the logged windows, eval and
    checkpoint at the last step only); its helpers are CPU-only, hence this small GPU variant.
    """
    import statistics
    import subprocess
    import tempfile

    from mlflow.tracking import MlflowClient

    from bench.common import REPO, clean_env

    config = "configs/mnist5k_dcgan.yaml"
    ov = [f"train.steps={steps}", "train.log_every=25", f"train.eval_every={steps}", f"train.ckpt_every={steps}"]
    with tempfile.TemporaryDirectory(prefix="ganarena-gpu-") as tmp:
        cmd = [str(REPO / ".venv" / "bin" / "ganarena"), "train", config, *[a for o in ov for a in ("--set", o)],
               "--gpus-per-worker", "1", "--workdir", tmp, "--name", "bench"]
        subprocess.run(cmd, cwd=REPO, env=clean_env(), check=True, capture_output=True)
        client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
        exp = client.get_experiment_by_name("ganarena-train")
        (run,) = client.search_runs([exp.experiment_id])
        pipe = statistics.median(m.value for m in client.get_metric_history(run.info.run_id, "samples_per_s"))
    plain = plain_rate(config, ov)
    return {"ganarena_train_samples_per_s": pipe, "plain_samples_per_s": plain, "ratio": pipe / plain}


def plain_rate(config: str, ov: list[str]) -> float:
    import itertools
    import statistics

    import torch

    from gan_core.build import build_trainer, spec_of
    from gan_core.data import build_dataset
    from gan_core.loop import BatchStream, fit
    from pipeline.experiment import load_experiment

    cfg = load_experiment(config, ov).gan
    ds = build_dataset(cfg.data, seed=cfg.seed)
    trainer = build_trainer(cfg, spec_of(ds), device="cuda")
    stamps: list[float] = []
    fit(trainer, BatchStream(ds, cfg.train.batch_size, seed=cfg.seed), cfg.train.steps, cfg.train.log_every,
        lambda tr, logged: stamps.append(time.perf_counter()) if logged is not None else None)
    torch.cuda.synchronize()
    per_window = cfg.train.log_every * cfg.train.batch_size * cfg.train.n_critic
    return statistics.median(per_window / (b - a) for a, b in itertools.pairwise(stamps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    out: dict = {"host": host() | {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__},
                 "protocol": (f"GANTrainer.train_step (hinge, no penalty, EMA, n_critic 1) on random data on the GPU, "
                              f"{args.steps} timed steps after warm-up, variants interleaved per repeat, "
                              f"{args.repeats} repeats; ratios vs fp32 of the same repeat"), "models": {}}
    for name, (arch, shape, batch) in MODELS.items():
        runs: dict[str, list[float]] = {v: [] for v in args.variants}
        for _ in range(args.repeats):
            for v in args.variants:
                runs[v].append(images_per_s(arch, shape, batch, v, args.steps))
        entry = {"arch": arch, "shape": list(shape), "batch": batch}
        for v, xs in runs.items():
            entry[v] = {"images_per_s": stats(xs)}
            if "fp32" in runs and v != "fp32":
                entry[v]["ratio_vs_fp32"] = stats([a / b for a, b in zip(xs, runs["fp32"], strict=True)])
        out["models"][name] = entry
        print(name, {v: round(entry[v]["images_per_s"]["median"]) for v in runs}, flush=True)
    if not args.skip_ray:
        pairs = [ray_vs_plain(300) for _ in range(args.repeats)]
        out["ray_train_1gpu"] = {"ratio": stats([p["ratio"] for p in pairs]), "runs": pairs,
                                 "protocol": "configs/mnist5k_dcgan.yaml, 300 steps, eval/ckpt at the end only; "
                                             "`ganarena train --gpus-per-worker 1` vs gan_core.fit on cuda"}
    print(f"wrote {write('gpu', out)}")


if __name__ == "__main__":
    main()
