"""Standard FID on Fashion-MNIST: the converted InceptionV3 against its TorchScript original, its CPU cost,
and the calibration (FID(train, test), noise and blur curves). Resumable: results are written after each
number and a rerun skips what is there; the 10,000 test images' features are cached on disk.

    python -m bench.fid_calibration [--n-floor 2000] [--n-levels 500] [--threads 1]

The floor uses the loss study's N (2,000 generated vs the 10,000 test images) by default; ``--n-floor 10000``
gives the standard protocol's (another ~40 CPU-minutes).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.common import RESULTS, host, write

NAME = "fid_calibration"


def cost(n: int = 100) -> dict:
    """CPU seconds per 1,000 28x28 images through preprocess + InceptionV3 (channels_last, batch 50)."""
    from gan_core.metrics.features import FidInceptionExtractor

    ex = FidInceptionExtractor()
    x = torch.rand(n, 1, 28, 28) * 2 - 1
    ex.extract(x[:50])  # warm-up
    t0 = time.process_time()
    ex.extract(x)
    return {"cpu_s_per_1000": round((time.process_time() - t0) / n * 1000, 1), "images": n,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-floor", type=int, default=2000)
    ap.add_argument("--n-levels", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from gan_core.metrics import inception
    from gan_core.metrics.calibration import fd_calibration

    path = RESULTS / f"{NAME}.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    res["host"] = host()
    if "conversion" not in res:
        _, diff = inception.convert(inception.wheel_script())
        res["conversion"] = {"max_abs_feature_diff_vs_torchscript": diff, "tolerance": inception.MATCH_TOL,
                             "probe": "2 random 299x299 inputs in [-1, 1), seed 0"}
        write(NAME, res)
    if "cost" not in res:
        res["cost"] = cost()
        write(NAME, res)
        print(res["cost"], flush=True)
    if "fashionmnist_inception" not in res or "blur" not in res["fashionmnist_inception"] or \
            len(res["fashionmnist_inception"]["blur"]) < 3:
        def progress(partial: dict) -> None:
            res["fashionmnist_inception"] = partial
            write(NAME, res)
            print(json.dumps(partial), flush=True)

        fd_calibration("fashionmnist", features="inception", n_fake=a.n_floor, n_levels=a.n_levels, progress=progress)


if __name__ == "__main__":
    main()
