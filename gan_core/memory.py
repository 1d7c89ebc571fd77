"""Sizes a user can ask for that cannot fit: one rule, checked before anything is allocated.

Anything held whole in memory (a sampled dataset, the samples of an evaluation or of ``ganarena
sample``) may take at most a quarter of this machine's RAM; past that the allocator, not the user,
would get the error (a MemoryError or the OOM killer, after minutes).
"""

from __future__ import annotations

import os

from gan_core.errors import GanConfigError


def machine_bytes() -> int:
    """Physical memory of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_count(field: str, n: int, bytes_each: int, what: str) -> None:
    """Refuse ``n`` items of ``bytes_each`` bytes (``what``: e.g. "samples of shape (2,)") beyond a quarter of RAM."""
    budget = machine_bytes() // 4
    if n * bytes_each > budget:
        raise GanConfigError(field, f"{n:,} {what} need {n * bytes_each / 2**30:,.1f} GiB, more than a quarter "
                             f"of this machine's {4 * budget / 2**30:.0f} GiB", f"1..{budget // bytes_each:,}")
