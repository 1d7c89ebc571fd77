#!/usr/bin/env bash
# GPU figures (run only where a GPU exists): DCGAN 64x64 and ResNet 32x32 images/s with fp32, bf16
# autocast, channels_last and torch.compile, and 1-GPU Ray Train vs the plain loop.
#   bash bench/gpu.sh [args for bench/gpu_throughput.py, e.g. --steps 30 --repeats 2 --skip-ray]
# Writes bench/results/gpu.json. Exits 0 with a message where no CUDA GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench/gpu.sh: no NVIDIA GPU here (nvidia-smi missing or sees none); nothing to measure."
    exit 0
fi
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "bench/gpu.sh: a GPU is present but this torch build cannot use it (CPU-only wheel?); nothing measured."
    exit 0
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# the nccl backend (what Ray Train's GPU workers use): one all-reduce on a 1-process group
"$PY" -c 'import torch, torch.distributed as d
d.init_process_group("nccl", init_method="tcp://127.0.0.1:29511", rank=0, world_size=1)
t = torch.ones(4, device="cuda"); d.all_reduce(t); torch.cuda.synchronize()
print("nccl all_reduce ok:", d.get_backend(), "nccl", ".".join(map(str, torch.cuda.nccl.version())))
d.destroy_process_group()'
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
unset RAY_ADDRESS MLFLOW_TRACKING_URI
exec "$PY" -m bench.gpu_throughput "$@"
