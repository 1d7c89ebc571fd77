"""Data path: Ray Data Parquet reading and in-memory batches vs the DCGAN's consumption rate (mnist5k; --dataset).

Per repeat, back to back, in one process with one consumer (= one Train worker):
  * pipeline: shards from ``ganarena data prepare mnist5k`` -> pipeline.train.parquet_input (what
    ``ganarena train`` hands Ray Train: materialized once when it fits a fifth of the object store) ->
    iter_batches(batch_format="numpy") -> gan_core.data.parquet.decode_batch, a new iterator per
    epoch as pipeline.sessions.RayDataStream does (so per-epoch pipeline start-up is included);
  * streamed: the same from a plain ray.data.read_parquet (files re-read every epoch), for comparison;
  * memory: gan_core.loop.BatchStream over the in-memory GanDataset;
  * model: GANTrainer.train_step of configs/mnist5k_dcgan.yaml on pre-drawn batches, 1 torch thread.
Figure: pipeline samples/s / model samples/s (target >= 3: the data path is never the bottleneck).

    .venv/bin/python -m bench.data_path [--repeats 3] [--epochs 2] [--steps 30]
    .venv/bin/python -m bench.data_path --dataset fashionmnist --shard-size 10000 --epochs 1   # 60,000 images
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import REPO, clean_env, host, stats, write

CONFIG = "configs/mnist5k_dcgan.yaml"
NAMES = {"mnist5k": "data_path"}  # the result file of the default dataset keeps its name


def parquet_rate(ds, meta: dict, batch: int, epochs: int) -> tuple[float, float]:
    """samples/s over whole epochs (a new iterator each, as RayDataStream does) and mean s to each epoch's first batch."""
    from gan_core.data.parquet import decode_batch

    n, waits, t = 0, [], time.perf_counter()
    for _ in range(epochs):
        t_epoch = time.perf_counter()
        for i, cols in enumerate(ds.iter_batches(batch_size=batch, batch_format="numpy", drop_last=True)):
            if i == 0:
                waits.append(time.perf_counter() - t_epoch)
            x, _ = decode_batch(cols, meta)
            n += x.shape[0]
    return n / (time.perf_counter() - t), sum(waits) / len(waits)


def memory_rate(gan_ds, batch: int, epochs: int) -> float:
    from gan_core.loop import BatchStream

    stream = BatchStream(gan_ds, batch, seed=0)
    steps = epochs * stream.per_epoch
    t = time.perf_counter()
    for _ in range(steps):
        stream.next()
    return steps * batch / (time.perf_counter() - t)


def model_rate(cfg, gan_ds, steps: int) -> float:
    from gan_core.build import build_trainer, spec_of
    from gan_core.loop import BatchStream

    trainer = build_trainer(cfg, spec_of(gan_ds))
    stream = BatchStream(gan_ds, cfg.train.batch_size, seed=0)
    n_critic = cfg.train.n_critic
    batches = [[stream.next() for _ in range(n_critic)] for _ in range(steps + 3)]
    for b in batches[:3]:  # warm-up
        trainer.train_step(b)
    t = time.perf_counter()
    for b in batches[3:]:
        trainer.train_step(b)
    float(trainer.step)
    return steps * cfg.train.batch_size * n_critic / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the dataset per data measurement")
    ap.add_argument("--steps", type=int, default=30, help="timed DCGAN steps per model measurement")
    ap.add_argument("--dataset", default="mnist5k", help="any image dataset name (default mnist5k)")
    ap.add_argument("--shard-size", type=int, default=1000)
    args = ap.parse_args()
    start = host()  # load and code at the start; write() adds the end load
    import os

    os.environ.update(clean_env(RAY_DATA_DISABLE_PROGRESS_BARS="1"))
    os.environ.pop("RAY_ADDRESS", None)
    import ray
    import torch

    from gan_core.data import build_dataset
    from gan_core.data.parquet import read_meta
    from pipeline.experiment import load_experiment
    from pipeline.rayctl import init_ray

    torch.set_num_threads(1)
    cfg = load_experiment(REPO / CONFIG, [f"data.name={args.dataset}"]).gan
    batch = cfg.train.batch_size
    gan_ds = build_dataset(cfg.data, seed=cfg.seed)
    with tempfile.TemporaryDirectory(prefix="ganarena-bench-data-") as tmp:
        shards = Path(tmp) / "shards"
        subprocess.run([str(REPO / ".venv" / "bin" / "ganarena"), "data", "prepare", args.dataset, "--out", str(shards),
                        "--shard-size", str(args.shard_size)], check=True, cwd=REPO, env=clean_env(), capture_output=True)
        meta = read_meta(shards)
        n_shards = len(list(shards.glob("shard-*.parquet")))
        init_ray(num_cpus=2)
        ds = ray.data.read_parquet(str(shards))
        parquet_rate(ds, meta, batch, 1)  # warm-up: Ray Data workers and imports
        from pipeline.train import parquet_input

        materialized = parquet_input(str(shards), ray.cluster_resources().get("object_store_memory", 0.0))
        path = "materialized" if type(materialized).__name__ == "MaterializedDataset" else "streamed"
        pq, first, mat, mem, model = [], [], [], [], []
        for i in range(args.repeats):
            rate, wait = parquet_rate(ds, meta, batch, args.epochs)
            pq.append(rate)
            first.append(wait)
            mat.append(parquet_rate(materialized, meta, batch, args.epochs)[0])
            mem.append(memory_rate(gan_ds, batch, args.epochs))
            model.append(model_rate(cfg, gan_ds, args.steps))
            print(f"#{i}: streamed {pq[-1]:,.0f}/s (first batch after {wait:.1f} s), pipeline ({path}) {mat[-1]:,.0f}/s, "
                  f"memory {mem[-1]:,.0f}/s, DCGAN step {model[-1]:,.0f} samples/s", flush=True)
        ray.shutdown()
    result = {
        "host": start,
        "pipeline_input": path,
        "protocol": (f"{args.dataset} ({len(gan_ds):,} x {'x'.join(map(str, gan_ds.shape))} uint8), batch {batch}, "
                     f"one consumer process; {n_shards} Parquet shards of {args.shard_size:,} rows, "
                     f"local Ray (2 CPUs); pipeline = parquet_input ({path}), streamed = "
                     f"read_parquet; iter_batches numpy + decode_batch, new iterator per epoch, "
                     f"{args.epochs} epochs per measurement after a warm-up epoch; memory = BatchStream.next; "
                     f"model = GANTrainer.train_step of {CONFIG} (ns, no penalty, EMA), 1 torch thread, "
                     f"{args.steps} steps after 3 warm-up; the three back to back, {args.repeats} repeats"),
        "parquet_samples_per_s": stats(pq), "parquet_s_to_first_batch_per_epoch": stats(first),
        "parquet_materialized_samples_per_s": stats(mat), "memory_samples_per_s": stats(mem),
        "dcgan_consumption_samples_per_s": stats(model),
        "ratio_parquet_over_consumption": stats([a / b for a, b in zip(pq, model, strict=True)]),
        "ratio_materialized_over_consumption": stats([a / b for a, b in zip(mat, model, strict=True)]),
        "ratio_memory_over_consumption": stats([a / b for a, b in zip(mem, model, strict=True)]),
    }
    r = result["ratio_materialized_over_consumption"]["median"]
    print(f"pipeline ({path}) / DCGAN consumption = {r:.1f}x (target >= 3); streamed "
          f"{result['ratio_parquet_over_consumption']['median']:.1f}x; wrote {write(NAMES.get(args.dataset, f'data_path_{args.dataset}'), result)}")


if __name__ == "__main__":
    main()
