"""Divergence on demand, for the tests only: production code carries no testing aid.

The tests' shared Ray instance (conftest ``ray_local``) runs ``install`` in every worker process it
starts (Ray's ``worker_process_setup_hook``). From then on, a GANTrainer built inside search trial K
of a sweep whose name ends in ``-nan<K>`` gets a discriminator loss that is NaN from its first step,
so the real path a diverging run takes (DivergedError at the first logging step, a FAILED run, the
worst score for the searcher, never chosen for seed re-runs) is exercised by a real sweep.
"""

from __future__ import annotations

import re
import warnings

NAME = re.compile(r".*-nan(\d+)-search")  # the Tune experiment of a sweep's search phase is <sweep>-search


def forced_trial(experiment: str, trial_dir: str, trial_id: str) -> bool:
    """Whether this Tune trial is the one its sweep's name asks to diverge (trial dirs: trial_<id>_<k>)."""
    m = NAME.fullmatch(experiment or "")
    if m is None:
        return False
    tail = trial_dir.rstrip("/").rsplit("/", 1)[-1].split(f"{trial_id}_", 1)[-1]
    return tail.split("_", 1)[0] == m.group(1)


def install() -> None:
    """Patch ``gan_core.losses.get`` (see module doc) when a worker first imports it: a worker that never
    trains (Ray's controllers, Tune's driver-side actors) does not pay for importing torch here."""
    import importlib.abc
    import importlib.util
    import sys

    class PatchOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "gan_core.losses":
                return None
            sys.meta_path.remove(self)  # one shot; and the real finders locate the module
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module

            def exec_module(module) -> None:
                run(module)
                _patch(module)

            spec.loader.exec_module = exec_module
            return spec

    if "gan_core.losses" in sys.modules:
        _patch(sys.modules["gan_core.losses"])
    else:
        sys.meta_path.insert(0, PatchOnImport())


def _patch(losses) -> None:
    import dataclasses

    real_get = losses.get

    def get(name: str, label_smoothing: float = 0.0):
        loss = real_get(name, label_smoothing)
        try:
            from ray import tune

            with warnings.catch_warnings():  # outside a Tune trial (a Train worker) the getters warn
                warnings.simplefilter("ignore")
                ctx = tune.get_context()
                forced = forced_trial(ctx.get_experiment_name() or "", ctx.get_trial_dir() or "",
                                      ctx.get_trial_id() or "")
        except Exception:  # noqa: BLE001 - not inside a Tune trial
            forced = False
        if not forced:
            return loss
        d_loss = loss.d_loss
        return dataclasses.replace(loss, d_loss=lambda real, fake: d_loss(real, fake) * float("nan"))

    losses.get = get
