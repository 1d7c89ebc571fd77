"""The quality-vs-cost Pareto front of a multi-objective sweep (``sweep.objectives``), for its report.

A search trial is on the front when no other completed trial is at least as good on both objectives and
strictly better on one. Only trials trained to the full budget count: a trial ASHA stopped early is cheap
because it was stopped, not because its configuration is.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def front(points: list[tuple[float, float]], modes: tuple[str, str]) -> list[int]:
    """Indices of the non-dominated points (each objective minimised or maximised per ``modes``), in order."""
    signs = [1.0 if m == "min" else -1.0 for m in modes]
    keyed = [(signs[0] * a, signs[1] * b) for a, b in points]

    def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return p[0] <= q[0] and p[1] <= q[1] and p != q

    return [i for i, q in enumerate(keyed) if not any(dominates(p, q) for p in keyed)]


def pareto_section(rows: list[dict[str, Any]], metric: str, mode: str, cost: str, out: Path) -> tuple[list[str], list[str]]:
    """(markdown lines, plot file names) of the front over the completed search trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["phase"] == "search" and r["status"] == "completed"
            and math.isfinite(r.get(metric, math.nan)) and math.isfinite(r.get(cost, math.nan))]
    if not done:
        return ["## Quality vs cost", "", "(no search trial completed its full budget)", ""], []
    points = [(r[metric], r[cost]) for r in done]
    best = front(points, (mode, "min"))
    on = sorted((done[i] for i in best), key=lambda r: r[cost])
    lines = ["## Quality vs cost", "",
             (f"Pareto front of the {len(done)} search trials trained to the full budget: no other trial has both a "
             f"{'higher' if mode == 'max' else 'lower'} {metric} and a lower {cost}."), "",
             f"| configuration | {metric} | {cost} |", "|---|---:|---:|",
             *[f"| {r['config']} | {r[metric]:.4g} | {r[cost]:,.4g} |" for r in on], ""]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.scatter([p[1] for p in points], [p[0] for p in points], s=14, color="0.6", label="completed trials")
    ax.plot([r[cost] for r in on], [r[metric] for r in on], "o-", color="C3", ms=5, label="Pareto front")
    ax.set_xlabel(cost)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pareto.png")
    plt.close(fig)
    return lines, ["pareto.png"]
