#!/usr/bin/env bash
# The system packages the test suite needs beyond .venv, installed when missing (called by `make test`).
#   chromium               Debian's headless browser, driven by Playwright in tests/test_browser.py (no download)
#   dataset-fashion-mnist  the full Fashion-MNIST (IDX files in /usr/share/datasets/fashion-mnist), the
#                          default root of data.name=fashionmnist (configs/*fashion*.yaml, the loss study)
#   postgresql             MLflow's database behind `cluster/local.sh up --with-mlflow` (tests/test_cluster_local.py);
#                          only its binaries are used (local.sh runs a server of its own, on its own port)
# As root they are installed with apt-get; otherwise this stops at once with the command to run.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
FASHION=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
[[ -f $FASHION ]] || missing+=(dataset-fashion-mnist)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
(( ${#missing[@]} )) || exit 0

if [[ "$(id -u)" != 0 ]]; then
  echo "error: the tests need the Debian package(s): ${missing[*]}" >&2
  echo "       run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}   then 'make test' again" >&2
  exit 2
fi
echo "[system_deps] installing ${missing[*]} (apt-get; a few minutes the first time)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "error: apt-get installed chromium but it is not on PATH" >&2; exit 2; }
[[ -f $FASHION ]] || { echo "error: apt-get installed dataset-fashion-mnist but $FASHION is missing" >&2; exit 2; }
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null \
  || { echo "error: apt-get installed postgresql but /usr/lib/postgresql/*/bin/postgres is missing" >&2; exit 2; }
