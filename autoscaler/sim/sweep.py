"""Which metric targets a benchmark sweep runs: a 0.01 grid, searched where the answer can be.

A service level is knife-edge in the target (one step of 0.01 can miss it by a tenth of a point), so
the cheapest target that serves the goal must be found on a 0.01 grid. Running every target of
0.20 to 0.90 for every scaler, trace and start-up time costs hours. The cost falls and the unserved
share rises with the target, so the answer lies where the goal is crossed. The search:

1. bisect the coarse grid (every tenth target: 0.20, 0.30, ... 0.90) for the highest target that
   serves the goal: run both ends, then the middle coarse target between the highest that serves
   and the lowest above it that does not, until they are neighbours on the coarse grid;
2. take the cheapest run that serves the goal (none: the run with the least unserved share) and run
   every grid target within `band` (0.02) of it that is not yet run;
3. repeat 2 until nothing is left to run: the cheapest is then surrounded by a fully run band, so
   its two neighbouring targets are always known.

It assumes that serving the goal at a coarse target means serving it at the lower coarse targets,
and that no target more than `band` away from the cheapest one found is cheaper and serves; the
benchmark's `--full-grid` runs all 71 targets to check that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LOW, HIGH, STEP, COARSE_EVERY, BAND = 0.20, 0.90, 0.01, 10, 0.02


def grid(*, low: float = LOW, high: float = HIGH, step: float = STEP) -> tuple[float, ...]:
    """The targets from low to high in steps (rounded to the step's decimals)."""
    count = round((high - low) / step)
    return tuple(round(low + step * index, 6) for index in range(count + 1))


def coarse(targets: tuple[float, ...], *, every: int = COARSE_EVERY) -> tuple[float, ...]:
    return targets[::every] if targets[-1] in targets[::every] else (*targets[::every], targets[-1])


@dataclass(frozen=True)
class Point:
    target: float
    cost: float
    unserved_pct: float


def serves(point: Point, *, allowed_pct: float) -> bool:
    return point.unserved_pct <= allowed_pct + 1e-12


def cheapest(points: Iterable[Point], *, allowed_pct: float) -> Point | None:
    """The cheapest point that serves the goal (ties: the lower target); None when none does."""
    passing = [p for p in points if serves(p, allowed_pct=allowed_pct)]
    return min(passing, key=lambda p: (p.cost, p.target)) if passing else None


def to_run(
    points: Mapping[float, Point], *, allowed_pct: float, targets: tuple[float, ...], band: float = BAND
) -> tuple[float, ...]:
    """The targets the next round runs for one sweep (see the module docstring); () when done."""
    rough = coarse(targets)
    ends = tuple(t for t in (rough[0], rough[-1]) if t not in points)
    if ends:
        return ends
    if serves(points[rough[0]], allowed_pct=allowed_pct) and not serves(points[rough[-1]], allowed_pct=allowed_pct):
        run = [t for t in rough if t in points]
        low = max(t for t in run if serves(points[t], allowed_pct=allowed_pct))
        above = [t for t in run if t > low and not serves(points[t], allowed_pct=allowed_pct)]
        between = [t for t in rough if low < t < min(above)] if above else []
        if between:
            return (between[len(between) // 2],)
    best = cheapest(points.values(), allowed_pct=allowed_pct)
    anchor = best if best is not None else min(points.values(), key=lambda p: (p.unserved_pct, p.target))
    return tuple(t for t in targets if abs(t - anchor.target) <= band + 1e-9 and t not in points)
