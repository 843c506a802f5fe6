"""The start-up-aware bound on traces small enough to work out by hand."""

from __future__ import annotations

import pytest

from autoscaler.sim.bound import startup_aware_bound
from autoscaler.sim.runner import ScalerSpec, SimSetup, simulate

from .helpers import minutes


def test_without_startup_the_bound_is_the_tick_by_tick_oracle() -> None:
    # capacity 1 req/s; rates 1, 3, 2 req/s need 1, 3, 2 for 60 s each; ticks at the minutes
    trace = minutes(60, 180, 120)
    assert startup_aware_bound(trace=trace, capacity=1.0, startup=0.0, tick=60.0) == pytest.approx(6 * 60 / 3600)
    oracle = simulate(trace, scaler=ScalerSpec(baseline="oracle"), setup=SimSetup(peak_instances=3, tick=60.0))
    assert oracle.instance_hours == pytest.approx(6 * 60 / 3600)


def test_the_bound_covers_the_highest_demand_of_startup_plus_one_tick() -> None:
    # ticks every 30 s, start-up 60 s: each tick covers 90 s ahead.
    # rates (per minute) 1, 1, 1, 4, 1 req/s; the 4 in [180, 240) s is seen by the ticks at 120..210 s
    # (the tick at 90 covers [90, 180), not 180)
    trace = minutes(60, 60, 60, 240, 60)
    hours = startup_aware_bound(trace=trace, capacity=1.0, startup=60.0, tick=30.0)
    # ticks 0..90 (4): 1 each; ticks 120..210 (4): 4; ticks 240, 270: 1 -> (4 + 16 + 2) x 30 s
    assert hours == pytest.approx(22 * 30 / 3600)


def test_the_bound_counts_after_the_warmup_only_and_stops_at_the_end() -> None:
    trace = minutes(60, 120)  # 1 then 2 req/s, 120 s in all; tick 45 s, no start-up
    # ticks at 0 (covers [0, 45): 1), 45 (covers [45, 90): 2), 90 ([90, 120): 2, 30 s only)
    assert startup_aware_bound(trace=trace, capacity=1.0, startup=0.0, tick=45.0) == pytest.approx(
        (45 + 90 + 60) / 3600
    )
    # warm-up 50 s: the tick at 45 counts from 50 s
    assert startup_aware_bound(trace=trace, capacity=1.0, startup=0.0, tick=45.0, warmup=50.0) == pytest.approx(
        (80 + 60) / 3600
    )


def test_no_scaler_beats_the_bound_while_serving_everything() -> None:
    trace = minutes(*([60] * 10 + [600] * 10 + [60] * 10))
    capacity = 600 / 60 / 10  # 10 instances at the peak
    bound = startup_aware_bound(trace=trace, capacity=capacity, startup=60.0, tick=15.0)
    static = simulate(trace, scaler=ScalerSpec(baseline="static"), setup=SimSetup(startup=60.0, peak_instances=10))
    assert static.unserved_pct == 0
    assert bound <= static.instance_hours
    oracle = simulate(trace, scaler=ScalerSpec(baseline="oracle"), setup=SimSetup(peak_instances=10))
    assert oracle.instance_hours < bound
