"""Run and sweep names: any text a user types, checked once, and its one escaped form (the key).

The name itself is what MLflow shows (run name, ``ganarena.name`` tag). Everything else gets the key:
Ray run and trial names (directories under the storage path, and Ray's metric tags, which must be
ASCII), the report folder, and MLflow search filters (the ``ganarena.key`` tag; pipeline.runs), so a
name with slashes, dots, quotes or non-ASCII letters can neither leave the workdir nor break a filter.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from gan_core.errors import GanConfigError

MAX_KEY = 200  # bytes of one path component, with room for Ray's suffixes (file systems allow 255)


def name_key(name: str) -> str:
    """``name`` percent-encoded to [A-Za-z0-9_.~%-], never starting with a dot: one safe path component,
    plain ASCII, and a literal that needs no escaping inside a quoted MLflow filter."""
    key = quote(name, safe="-_.")
    return "%2E" + key[1:] if key.startswith(".") else key


def check_name(field: str, name: str) -> str:
    """``name`` if it can name a run: not blank, no control characters, a key of at most MAX_KEY bytes."""
    if not name.strip():
        raise GanConfigError(field, "a run name must not be empty or blank", "any text, e.g. my-run")
    bad = sorted({repr(c) for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs")})
    if bad:
        raise GanConfigError(field, f"a run name must not contain control or invisible characters ({', '.join(bad)})",
                             "letters, digits, spaces, punctuation")
    if len(name_key(name)) > MAX_KEY:
        raise GanConfigError(field, f"a run name of {len(name)} characters is too long: its escaped form has "
                             f"{len(name_key(name))} bytes", f"up to {MAX_KEY} bytes escaped (~{MAX_KEY // 3}+ characters)")
    return name
