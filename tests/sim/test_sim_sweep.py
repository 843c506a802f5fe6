"""The target search of the benchmark against the full grid, on made-up cost curves."""

from __future__ import annotations

from collections.abc import Callable

from autoscaler.sim.sweep import Point, cheapest, coarse, grid, to_run

TARGETS = grid()


def search(curve: Callable[[float], tuple[float, float]], *, allowed: float) -> dict[float, Point]:
    points: dict[float, Point] = {}
    while wanted := to_run(points, allowed_pct=allowed, targets=TARGETS):
        for target in wanted:
            cost, unserved = curve(target)
            points[target] = Point(target, cost, unserved)
    return points


def full(curve: Callable[[float], tuple[float, float]], *, allowed: float) -> Point | None:
    return cheapest((Point(t, *curve(t)) for t in TARGETS), allowed_pct=allowed)


def test_the_grid_is_0_01_from_0_20_to_0_90_and_the_coarse_one_every_0_10() -> None:
    assert len(TARGETS) == 71 and TARGETS[0] == 0.2 and TARGETS[-1] == 0.9 and 0.57 in TARGETS
    assert coarse(TARGETS) == tuple(round(0.2 + 0.1 * i, 2) for i in range(8))
    assert coarse(TARGETS, every=5) == tuple(round(0.2 + 0.05 * i, 2) for i in range(15))


def test_a_monotone_curve_finds_the_fine_optimum_between_coarse_points() -> None:
    # unserved rises past the goal at 0.63: the coarse grid alone would stop at 0.60
    def curve(target: float) -> tuple[float, float]:
        return 100 - 50 * target, 0.05 if target <= 0.63 else 0.2

    points = search(curve, allowed=0.1)
    best = cheapest(points.values(), allowed_pct=0.1)
    assert best == full(curve, allowed=0.1)
    assert best is not None and best.target == 0.63
    assert {0.62, 0.64} <= set(points)  # both neighbours are known
    assert len(points) <= 12


def test_a_cheaper_island_past_a_miss_is_found_when_it_is_near() -> None:
    # misses at 0.66 and 0.67 only (a knife edge), serves again from 0.68 to 0.71
    def curve(target: float) -> tuple[float, float]:
        return 100 - 50 * target, 0.2 if target in (0.66, 0.67) or target > 0.71 else 0.05

    points = search(curve, allowed=0.1)
    assert cheapest(points.values(), allowed_pct=0.1) == full(curve, allowed=0.1)


def test_nothing_serves_the_goal_refines_around_the_least_unserved() -> None:
    def curve(target: float) -> tuple[float, float]:
        return 100 - 50 * target, 1 + target

    points = search(curve, allowed=0.1)
    assert cheapest(points.values(), allowed_pct=0.1) is None
    assert set(points) == {0.20, 0.21, 0.22, 0.90}


def test_the_bisection_runs_the_coarse_middle_between_a_serving_and_a_missing_target() -> None:
    def point(target: float, unserved: float) -> Point:
        return Point(target, 100 - target, unserved)

    assert to_run({}, allowed_pct=0.1, targets=TARGETS) == (0.2, 0.9)
    points = {0.2: point(0.2, 0.0), 0.9: point(0.9, 1.0)}
    assert to_run(points, allowed_pct=0.1, targets=TARGETS) == (0.6,)
    points[0.6] = point(0.6, 1.0)
    assert to_run(points, allowed_pct=0.1, targets=TARGETS) == (0.4,)
    points[0.4] = point(0.4, 0.0)
    assert to_run(points, allowed_pct=0.1, targets=TARGETS) == (0.5,)
    points[0.5] = point(0.5, 1.0)
    # 0.40 serves, 0.50 does not: the band around the cheapest that serves (0.40)
    assert to_run(points, allowed_pct=0.1, targets=TARGETS) == (0.38, 0.39, 0.41, 0.42)
