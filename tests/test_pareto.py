"""The quality-vs-cost Pareto front (pipeline.pareto) against its definition."""

from __future__ import annotations

import random

import pytest

from pipeline.pareto import front


def _dominated(i: int, pts: list[tuple[float, float]], signs: tuple[float, float]) -> bool:
    a = [(signs[0] * x, signs[1] * y) for x, y in pts]
    return any(a[j][0] <= a[i][0] and a[j][1] <= a[i][1] and a[j] != a[i] for j in range(len(a)))


def test_a_small_front_by_hand() -> None:
    pts = [(10.0, 5.0), (8.0, 9.0), (12.0, 4.0), (11.0, 6.0), (8.0, 9.0)]  # fd (min), cost (min)
    assert front(pts, ("min", "min")) == [0, 1, 2, 4]  # (11, 6) loses to (10, 5); equal points both stay
    assert front([(0.9, 3.0), (0.5, 1.0), (0.95, 5.0)], ("max", "min")) == [0, 1, 2]


@pytest.mark.parametrize("modes", [("min", "min"), ("max", "min")])
def test_front_is_exactly_the_non_dominated_points(modes) -> None:
    rng = random.Random(0)
    signs = tuple(1.0 if m == "min" else -1.0 for m in modes)
    for _ in range(200):
        pts = [(rng.choice([1.0, 2.0, 3.0, rng.random()]), rng.random()) for _ in range(rng.randint(1, 12))]
        assert front(pts, modes) == [i for i in range(len(pts)) if not _dominated(i, pts, signs)]
