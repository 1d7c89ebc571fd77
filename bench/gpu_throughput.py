"""GPU throughput: images/s of GANTrainer.train_step for DCGAN 64x64 and ResNet 32x32, with fp32, bf16
autocast, channels_last and torch.compile; and 1-GPU Ray Train (`ganarena train --gpus-per-worker 1`)
vs the plain loop on the same config. Called by bench/gpu.sh; writes bench/results/gpu.json.

    .venv/bin/python -m bench.gpu_throughput [--steps 50] [--repeats 3] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.common import RESULTS, host, stats, write

MODELS = {"dcgan_64px": ("dcgan", (3, 64, 64), 64), "resnet_32px": ("resnet", (3, 32, 32), 128)}
# name: (amp, channels_last, torch.compile, TF32). "fp32" is strict fp32 (TF32 off for matmul and cuDNN);
# "tf32" is what PyTorch does by default for convolutions (cuDNN TF32 on) plus TF32 matmuls.
VARIANTS = {"fp32": ("none", False, False, False), "tf32": ("none", False, False, True),
            "bf16_autocast": ("bf16", False, False, False), "fp16_autocast": ("fp16", False, False, False),
            "channels_last": ("none", True, False, False), "bf16_channels_last": ("bf16", True, False, False),
            "compile": ("none", False, True, False), "bf16_compile": ("bf16", False, True, False)}


def make_cfg(arch: str, batch: int, amp: str):
    from gan_core.config import GanConfig, from_dict

    return from_dict(GanConfig, {"data": {"name": "cifar10"}, "generator": {"arch": arch, "z_dim": 128, "width": 64},
                                 "discriminator": {"arch": arch, "width": 64}, "loss": {"name": "hinge"},
                                 "penalty": {"name": "none"}, "train": {"batch_size": batch, "amp": amp}})


def images_per_s(arch: str, shape: tuple, batch: int, variant: str, steps: int, device: str = "cuda") -> float:
    """Steady-state train_step images/s on random data (data loading excluded), after warm-up."""
    import torch

    from gan_core.build import build_trainer
    from gan_core.models import DataSpec

    amp, channels_last, compiled, tf32 = VARIANTS[variant]
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    trainer = build_trainer(make_cfg(arch, batch, amp), DataSpec(shape, 0, "image"), device=device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        trainer.G.to(memory_format=fmt)
        trainer.D.to(memory_format=fmt)
    if compiled:  # compile the modules in place: the trainer keeps calling the same objects
        trainer.G.compile()
        trainer.D.compile()
    real = torch.randn(batch, *shape, device=device).contiguous(memory_format=fmt)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(10 if compiled else 3):
        trainer.train_step([(real, None)])
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.train_step([(real, None)])
    sync()
    return steps * batch / (time.perf_counter() - t)


def ray_vs_plain(steps: int) -> dict:
    """configs/mnist5k_dcgan.yaml on the GPU: `ganarena train --gpus-per-worker 1` vs gan_core.fit in-process.

    Same protocol as bench/train_overhead.py (median samples/s over the logged windows, eval and
    checkpoint at the last step only); its helpers are CPU-only, hence this small GPU variant.
    """
    import statistics
    import subprocess
    import sys
    import tempfile

    from mlflow.tracking import MlflowClient

    from bench.common import REPO, clean_env

    config = "configs/mnist5k_dcgan.yaml"
    ov = [f"train.steps={steps}", "train.log_every=25", f"eval.every={steps}", f"train.ckpt_every={steps}"]
    with tempfile.TemporaryDirectory(prefix="ganarena-gpu-") as tmp:
        cmd = [sys.executable, "-m", "pipeline.cli", "train", config, *[a for o in ov for a in ("--set", o)],
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

    # PyTorch's default TF32 settings, as in the Ray worker (the throughput variants change them)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
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
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-models", action="store_true", help="only the Ray Train vs plain loop figure")
    ap.add_argument("--batch", type=int, help="one batch size for both models (default: DCGAN 64, ResNet 128)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the figures already in bench/results/gpu.json (an earlier, time-boxed run)")
    ap.add_argument("--device", default="cuda", help="cpu only to smoke-test this script where no GPU is")
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    torch.backends.cudnn.benchmark = True
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none (cpu smoke test)"
    old = json.loads((RESULTS / "gpu.json").read_text()) if args.merge and (RESULTS / "gpu.json").is_file() else {}
    out: dict = {**old, "host": host() | {"gpu": gpu, "torch": torch.__version__},
                 "protocol": ("GANTrainer.train_step (hinge, no penalty, EMA, n_critic 1) on random data on the GPU, "
                              "each entry's `steps` timed after warm-up, variants interleaved per repeat, "
                              "`repeats` repeats; ratios vs fp32 of the same repeat; fp32 = TF32 off for "
                              "matmul and cuDNN, every other variant too except tf32"), "models": old.get("models", {})}
    if old:
        out["earlier_hosts"] = [*old.get("earlier_hosts", []), old["host"]]
    for base, (arch, shape, batch) in ({} if args.skip_models else MODELS).items():
        batch = args.batch or batch
        name = f"{base}_b{batch}"
        runs: dict[str, list[float]] = {v: [] for v in args.variants}
        for _ in range(args.repeats):
            for v in args.variants:
                runs[v].append(images_per_s(arch, shape, batch, v, args.steps, args.device))
        entry = {"arch": arch, "shape": list(shape), "batch": batch, "steps": args.steps, "repeats": args.repeats}
        for v, xs in runs.items():
            entry[v] = {"images_per_s": stats(xs)}
            if "fp32" in runs and v != "fp32":
                entry[v]["ratio_vs_fp32"] = stats([a / b for a, b in zip(xs, runs["fp32"], strict=True)])
        out["models"][name] = entry
        print(name, {v: round(entry[v]["images_per_s"]["median"]) for v in runs}, flush=True)
        write("gpu", out)  # a run cut short still leaves the models measured so far
    if not args.skip_ray and args.device == "cuda":
        pairs = [ray_vs_plain(300) for _ in range(args.repeats)]
        out["ray_train_1gpu"] = {"ratio": stats([p["ratio"] for p in pairs]), "runs": pairs,
                                 "protocol": "configs/mnist5k_dcgan.yaml, 300 steps, eval/ckpt at the end only; "
                                             "`ganarena train --gpus-per-worker 1` (Ray Train, nccl backend) vs "
                                             "gan_core.fit on cuda in one process; PyTorch's default TF32 settings"}
        print("ray_train_1gpu", {k: round(v, 3) for k, v in out["ray_train_1gpu"]["ratio"].items()}, flush=True)
    print(f"wrote {write('gpu', out)}")


if __name__ == "__main__":
    main()
