"""gan_core is pure PyTorch: it installs without the pipeline's packages and works where they are missing."""

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import gan_core

PIPELINE_ONLY = ("ray", "mlflow", "optuna")  # the [pipeline] extra
ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter where these packages (and pipeline/ itself) cannot be imported, as on a
# machine with `pip install ganarena` alone: a finder in front of sys.meta_path refuses them.
_HIDE = """
import importlib.abc, sys
HIDDEN = {hidden!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by test_purity)", name=name)
        return None
sys.meta_path.insert(0, Hide())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    hide = _HIDE.format(hidden=(*PIPELINE_ONLY, "pipeline"))
    return subprocess.run([sys.executable, "-c", hide + code], check=False, capture_output=True, text=True,
                          timeout=180, cwd=ROOT)


def test_core_dependencies_leave_the_pipeline_to_its_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {r.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}

    core, extra = names(project["dependencies"]), names(project["optional-dependencies"]["pipeline"])
    assert not core & set(PIPELINE_ONLY), core
    assert set(PIPELINE_ONLY) <= extra
    assert "torch" in core


def test_every_gan_core_module_imports_without_the_pipeline_packages() -> None:
    mods = [m.name for m in pkgutil.walk_packages(gan_core.__path__, "gan_core.")]
    assert len(mods) >= 30  # the walk really found the package's modules
    r = _run(f"import importlib\nfor m in {mods!r}: importlib.import_module(m)\nprint('ok')\n")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_gan_core_trains_and_evaluates_without_the_pipeline_packages() -> None:
    """The README's library example, small: load a config, train 60 steps, checkpoint, score modes."""
    code = """
import tempfile, torch
from pathlib import Path
from gan_core import BatchStream, build_trainer, fit, load_config, spec_of
from gan_core.checkpoint import load_checkpoint, save_checkpoint
from gan_core.data import build_dataset
from gan_core.tasks import make_evaluator
torch.manual_seed(0)
cfg = load_config("configs/toy_ring.yaml", ["data.n_samples=2000", "train.batch_size=64", "generator.width=32",
                                            "discriminator.width=32", "penalty.name=dragan", "penalty.weight=1",
                                            "penalty.params.c=0.5"])
ds = build_dataset(cfg.data, seed=0)
trainer = build_trainer(cfg, spec_of(ds))
fit(trainer, BatchStream(ds, cfg.train.batch_size, seed=0), 60, 20, lambda tr, logged: False)
with tempfile.TemporaryDirectory() as tmp:
    path = save_checkpoint(Path(tmp) / "s.pt", trainer, spec_of(ds), 0)
    assert load_checkpoint(path)["trainer"]["step"] == 60
metrics = make_evaluator(ds, n_fake=500)(trainer.sample(500))
assert 0 <= metrics["modes_hq"] <= 8, metrics
import sys
assert not [k for k in sys.modules if k.split('.')[0] in ("ray", "mlflow", "optuna", "pipeline")]
print("ok", trainer.step)
"""
    r = _run(code)
    assert r.returncode == 0 and r.stdout.split() == ["ok", "60"], (r.stdout, r.stderr[-3000:])
