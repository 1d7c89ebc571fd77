"""Errors a user can cause: one clear message naming the field and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


class GanConfigError(ValueError):
    """Bad user input (config value, name, path, shape). The CLI prints it and exits with status 2."""

    def __init__(self, field: str, problem: str, allowed: Iterable[object] | str | None = None):
        self.field = field
        self.problem = problem
        if allowed is None:
            msg = f"{field}: {problem}"
        else:
            if not isinstance(allowed, str):
                allowed = ", ".join(str(a) for a in allowed)
            msg = f"{field}: {problem} (allowed: {allowed})"
        super().__init__(msg)


def unknown_name(field: str, value: object, valid: Iterable[str]) -> GanConfigError:
    """The error for a name that is not in a registry."""
    return GanConfigError(field, f"unknown name {value!r}", sorted(valid))
