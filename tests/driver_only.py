"""Stop ``ganarena train``/``sweep`` where Ray would start: the suites of hostile input check the driver alone."""

from __future__ import annotations

import pytest

import pipeline.rayctl


class RayWouldStart(Exception):
    """The input passed every driver-side check: here Ray would be started or joined."""


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace ``pipeline.rayctl.init_ray`` (looked up at call time) by a function raising RayWouldStart."""
    def sentinel(*args, **kwargs):
        raise RayWouldStart

    monkeypatch.setattr(pipeline.rayctl, "init_ray", sentinel)
