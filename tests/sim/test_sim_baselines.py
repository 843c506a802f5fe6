"""The baselines against cases computed by hand: HPA arithmetic and limits, the threshold rule, static
and oracle in the runner."""

from __future__ import annotations

import math

import pytest

from autoscaler.sim.baselines import HpaSimpleScaler, ThresholdScaler, TickView
from autoscaler.sim.runner import ScalerSpec, SimSetup, simulate

from .helpers import minutes


def view(seconds: float, requested: int, cpu: float, ready: int | None = None) -> TickView:
    return TickView(
        seconds=seconds, requested=requested, ready=requested if ready is None else ready, cpu=cpu, backlog=0
    )


def hpa(target: float = 0.5) -> HpaSimpleScaler:
    return HpaSimpleScaler(target=target, min_instances=1, max_instances=1000)


def test_hpa_proportional_step() -> None:
    # 10 ready at 0.9 with target 0.5: ceil(10 x 0.9 / 0.5) = 18, inside the limit max(2 x 10, 10 + 4) = 20
    assert hpa().step(view(0, 10, 0.9)).desired == 18


def test_hpa_counts_ready_instances_not_requested_ones() -> None:
    # 10 requested, 4 ready at 1.0, target 0.5: ceil(4 x 2) = 8, below 10: the 300 s window starts
    # empty, so the HPA would go down to 8 (it does not know the 6 are starting)
    assert hpa().step(view(0, 10, 1.0, ready=4)).desired == 8


def test_hpa_tolerance_keeps_the_count() -> None:
    # 0.54 / 0.5 = 1.08, within 0.1 of 1
    assert hpa().step(view(0, 10, 0.54)).desired == 10
    # 0.56 / 0.5 = 1.12: ceil(11.2) = 12
    assert hpa().step(view(0, 10, 0.56)).desired == 12


@pytest.mark.parametrize(
    ("current", "wanted", "limit"),
    [
        (2, 10, 6),  # +4 beats +100 % when small: max(4, 2 + 4) = 6
        (10, 50, 20),  # +100 % beats +4: max(20, 14) = 20
        (4, 10, 8),  # both allow 8
    ],
)
def test_hpa_scale_up_limit_is_the_larger_of_double_and_plus_four(current: int, wanted: int, limit: int) -> None:
    # cpu 1.0 with target 1/(wanted/current) asks for `wanted`
    scaler = hpa(target=current / wanted)
    assert scaler.step(view(0, current, 1.0)).desired == limit


def test_hpa_scale_up_limit_counts_what_was_added_in_the_last_15_s() -> None:
    scaler = hpa(target=0.1)
    assert scaler.step(view(0, 10, 1.0)).desired == 20  # asks 100, limited to 20
    # 5 s later (a faster loop): the period started at 10 instances, so 20 is still the limit
    assert scaler.step(view(5, 20, 1.0, ready=10)).desired == 20
    # 15 s after the first action the period restarts from 20: max(40, 24)
    assert scaler.step(view(15, 20, 1.0, ready=10)).desired == 40


def test_hpa_scale_down_waits_for_the_highest_recommendation_of_300_s() -> None:
    scaler = hpa()
    assert scaler.step(view(0, 10, 0.5)).desired == 10  # on target: recommends 10
    for seconds in range(15, 300, 15):
        # load halves: ceil(10 x 0.25 / 0.5) = 5, but 10 was recommended less than 300 s ago
        verdict = scaler.step(view(seconds, 10, 0.25))
        assert verdict.desired == 10, seconds
    assert verdict.code == "stabilizing"
    # at 300 s the recommendation of 0 s is out of the window: down to 5 at once (no step limit)
    assert scaler.step(view(300, 10, 0.25)).desired == 5


def test_hpa_without_ready_instances_holds() -> None:
    assert hpa().step(view(0, 3, 1.0, ready=0)).desired == 3


def test_threshold_needs_three_consecutive_ticks() -> None:
    scaler = ThresholdScaler(min_instances=1, max_instances=100)
    assert scaler.step(view(0, 4, 0.9)).desired == 4
    assert scaler.step(view(15, 4, 0.9)).desired == 4
    assert scaler.step(view(30, 4, 0.5)).desired == 4  # the streak is broken
    assert scaler.step(view(45, 4, 0.9)).desired == 4
    assert scaler.step(view(60, 4, 0.9)).desired == 4
    assert scaler.step(view(75, 4, 0.85)).desired == math.ceil(4 * 1.5)  # 6
    # the streak restarts after an action
    assert scaler.step(view(90, 6, 0.9)).desired == 6
    assert scaler.step(view(105, 6, 0.1)).desired == 6
    assert scaler.step(view(120, 6, 0.1)).desired == 6
    assert scaler.step(view(135, 6, 0.1)).desired == 4  # floor(6 / 1.5)


def test_threshold_stays_within_bounds() -> None:
    scaler = ThresholdScaler(min_instances=1, max_instances=5)
    for seconds in (0, 15, 30):
        verdict = scaler.step(view(seconds, 1, 0.0))
    assert verdict.desired == 1  # floor(1 / 1.5) = 0, raised to min 1
    for seconds in (45, 60, 75):
        verdict = scaler.step(view(seconds, 4, 1.0))
    assert verdict.desired == 5  # ceil(4 x 1.5) = 6, capped at 5


def test_static_always_runs_the_peak_count() -> None:
    # peak 6 req/s over 3 instances: capacity 2 req/s; 3 instances for 4 minutes = 0.2 h
    result = simulate(minutes(60, 360, 120, 60), scaler=ScalerSpec(baseline="static"), setup=SimSetup(peak_instances=3))
    assert result.capacity_rps == pytest.approx(2.0)
    assert result.instance_hours == pytest.approx(3 * 240 / 3600)
    assert result.unserved_pct == 0
    assert result.scale_actions == 0


def test_oracle_serves_everything_at_the_least_cost() -> None:
    # peak 12 req/s over 4 instances: capacity 3 req/s. Rates 1, 12, 4, 0 req/s need 1, 4, 2, 0.
    trace = minutes(60, 720, 240, 0)
    off_the_minute_grid = SimSetup(peak_instances=4, tick=45)
    result = simulate(trace, scaler=ScalerSpec(baseline="oracle"), setup=off_the_minute_grid)
    assert result.unserved_pct == 0
    assert result.overload_minutes == 0
    assert result.instance_hours == pytest.approx((1 + 4 + 2 + 0) * 60 / 3600)
    assert result.scale_actions == 3
    hpa_run = simulate(trace, scaler=ScalerSpec(baseline="hpa"), setup=SimSetup(peak_instances=4))
    assert hpa_run.unserved_pct > 0  # the step to 12 req/s arrives before any new instance is ready


def test_target_applies_to_hpa_only() -> None:
    trace = minutes(60, 120)
    assert simulate(trace, scaler=ScalerSpec(baseline="hpa", target=0.3)).target == 0.3
    for name in ("threshold", "static", "oracle"):
        with pytest.raises(ValueError, match="takes no target"):
            simulate(trace, scaler=ScalerSpec(baseline=name, target=0.3))
