"""Strict loading of a config: YAML that refuses duplicate keys and alias bombs, ``key=value``
overrides, and dataclasses built field by field so that unknown keys, wrong types and values outside
the allowed set are errors that name the field (``GanConfigError``)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from gan_core.config.schema import MOVED_KEYS, REMOVED_KEYS
from gan_core.errors import GanConfigError, key_path


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (e.g. list -> tuple)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is Literal:
        if value not in args:
            raise GanConfigError(path, f"got {value!r}", [repr(a) if isinstance(a, str) else a for a in args])
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, path)
            except GanConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise GanConfigError(path, f"expected a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise GanConfigError(path, f"expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise GanConfigError(path, f"expected a mapping, got {value!r}")
        if not args:
            return dict(value)
        return {_coerce(args[0], k, path): _coerce(args[1], v, key_path(path, k)) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise GanConfigError(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GanConfigError(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                raise GanConfigError(path, f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GanConfigError(path, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise GanConfigError(path, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise GanConfigError(path, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"{path}: unsupported annotation {_type_name(tp)}")  # a bug in a config class


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and bad values raise GanConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GanConfigError(path or "<config>", f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            where = f"{path}.{key}" if path else str(key)
            if where in MOVED_KEYS:
                raise GanConfigError(where, f"moved to {MOVED_KEYS[where]}", [MOVED_KEYS[where]])
            if where in REMOVED_KEYS:
                raise GanConfigError(where, f"no longer a setting: {REMOVED_KEYS[where]}")
            raise GanConfigError(where, "unknown key", names)
    for f in dataclasses.fields(cls):
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise GanConfigError(f"{path}.{f.name}" if path else f.name, "is required")
    kwargs = {k: _coerce(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) that ``from_dict`` reads back to an equal config."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return conv(dataclasses.asdict(cfg))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; used for MLflow params and search spaces."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise GanConfigError("--set", f"expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        if not key.strip() or any(not part.strip() for part in key.split(".")):
            raise GanConfigError("--set", f"expected key=value with a dotted key such as train.steps, got {item!r}")
        try:
            value = yaml.load(raw, Loader=_StrictLoader)
        except (yaml.YAMLError, RecursionError):
            raise GanConfigError(f"--set {key}", f"cannot parse value {raw!r}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GanConfigError(f"--set {key}", f"{part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # after expanding aliases: a few hundred in any real config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (else the last one silently wins) and alias expansion beyond
    MAX_YAML_NODES nodes (a "billion laughs" document is a few lines that expand to 10^9)."""

    def compose_document(self):
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n) -> int:
            if id(n) not in sizes:
                sizes[id(n)] = 0  # a recursive alias counts once, then is refused by the constructor
                kids = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else \
                    n.value if isinstance(n, yaml.SequenceNode) else []
                sizes[id(n)] = 1 + sum(size(c) for c in kids)
                if sizes[id(n)] > MAX_YAML_NODES:
                    raise yaml.YAMLError(f"aliases expand to more than {MAX_YAML_NODES:,} nodes")
            return sizes[id(n)]

        if node is not None:
            size(node)
        return node

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is a GanConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise GanConfigError(str(path), "config file not found")
    raw = p.read_bytes()
    if len(raw) > MAX_CONFIG_BYTES:
        raise GanConfigError(str(path), f"{len(raw):,} bytes is not a config", f"a YAML file up to {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GanConfigError(str(path), f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start}",
                             "a UTF-8 (or ASCII) YAML file") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.reader.ReaderError as e:  # a control character YAML does not allow
        raise GanConfigError(str(path), f"character #x{e.character:04x} at offset {e.position} is not allowed in "
                             "YAML", "printable text, tabs and newlines") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        kind = "syntax error" if isinstance(e, yaml.scanner.ScannerError | yaml.parser.ParserError) else "error"
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # one line, whatever the parser said
        raise GanConfigError(str(path), f"YAML {kind}{where}: {problem}") from None
    except RecursionError:
        raise GanConfigError(str(path), "YAML nested too deeply", "a config a few levels deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanConfigError(str(path), "the top level of a config must be a mapping")
    return data


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config dict written by an older version with its moved keys in their new place
    (``MOVED_KEYS``) and its dropped ones left out (``REMOVED_KEYS``); a section left empty is dropped."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for old in REMOVED_KEYS:
        sec, key = old.split(".", 1)
        if isinstance(out.get(sec), dict):
            out[sec].pop(key, None)
    for old, new in MOVED_KEYS.items():
        if "." not in old or "." not in new:
            continue  # a whole section: its keys are listed one by one
        (sec, key), (new_sec, new_key) = old.split(".", 1), new.split(".", 1)
        if isinstance(out.get(sec), dict) and key in out[sec]:
            out.setdefault(new_sec, {}).setdefault(new_key, out[sec].pop(key))
            if not out[sec]:
                del out[sec]
    return out
