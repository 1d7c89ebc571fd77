"""Errors a user can cause: one clear message naming the field and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


class GanConfigError(ValueError):
    """Bad user input (config value, name, path, shape). The CLI prints it and exits with status 2.

    It crosses process boundaries intact: Ray pickles an exception raised in a Train worker or a
    Tune trial, and ``__reduce__`` rebuilds it from its three fields (the default would call
    ``__init__`` with the message alone and fail to unpickle).
    """

    def __init__(self, field: str, problem: str, allowed: Iterable[object] | str | None = None):
        self.field = field
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.allowed = allowed
        msg = f"{field}: {problem}" if allowed is None else f"{field}: {problem} (allowed: {allowed})"
        super().__init__(msg)

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:
        return type(self), (self.field, self.problem, self.allowed)


def unknown_name(field: str, value: object, valid: Iterable[str]) -> GanConfigError:
    """The error for a name that is not in a registry."""
    return GanConfigError(field, f"unknown name {value!r}", sorted(valid))


def key_path(path: str, key: object) -> str:
    """``path.key``, or ``path['key']`` for a key that would not read as one (empty, not text, or holding dots,
    brackets, spaces or control characters)."""
    plain = (isinstance(key, str) and key != "" and key.isprintable() and not any(c.isspace() for c in key)
             and "." not in key and "[" not in key)
    if plain:
        return f"{path}.{key}" if path else str(key)
    return f"{path}[{key!r}]"
