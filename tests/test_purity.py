"""gan_core is pure PyTorch: importing all of it pulls in neither ray, mlflow nor optuna."""

import pkgutil
import subprocess
import sys

import gan_core


def test_gan_core_imports_no_pipeline_packages() -> None:
    mods = [m.name for m in pkgutil.walk_packages(gan_core.__path__, "gan_core.")]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('ray', 'mlflow', 'optuna', 'pipeline'))\n"
        "print(len(sys.modules)); assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(mods) >= 10  # the walk really found the package's modules
