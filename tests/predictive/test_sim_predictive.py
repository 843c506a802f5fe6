"""The same forecast in `simulate`: a known daily step is anticipated by the start-up time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoscaler.core.policy import Predictive
from autoscaler.sim.runner import ScalerSpec, SimResult, SimSetup, simulate
from autoscaler.sim.trace import Trace

MIDNIGHT = datetime(2024, 3, 4, tzinfo=UTC)
DAYS = 5


def daily_step_trace() -> Trace:
    """Requests per minute: 100, and 1,000 from 12:00 to 14:00 every day."""
    values = tuple(1000.0 if 12 * 60 <= minute % 1440 < 14 * 60 else 100.0 for minute in range(DAYS * 1440))
    return Trace(start=MIDNIGHT, interval=60.0, values=values, name="daily step")


def run(predictive: Predictive | None) -> SimResult:
    return simulate(
        daily_step_trace(),
        scaler=ScalerSpec(target=0.6, predictive=predictive),
        setup=SimSetup(startup=60.0, warmup=3 * 86400.0),
        keep_timeline=True,
    )


def at_the_step(result: SimResult, day: int) -> list[tuple[float, float]]:
    """(demand, ready capacity) at the ticks of the first two minutes of the step on `day`."""
    step = MIDNIGHT + timedelta(days=day, hours=12)
    return [
        (tick.demand_rps, tick.ready_capacity_rps)
        for tick in result.timeline
        if step <= tick.time < step + timedelta(minutes=2)
    ]


def test_the_daily_step_is_ready_in_time_with_the_forecast_on() -> None:
    settings = Predictive(mode="on", lookback=timedelta(days=3), min_samples=3)
    reactive, predictive = run(None), run(settings)
    for day in (3, 4):  # after the warm-up: three previous days to learn from
        assert all(capacity >= demand for demand, capacity in at_the_step(predictive, day))
        assert any(capacity < demand for demand, capacity in at_the_step(reactive, day))
    assert predictive.unserved_pct == 0.0 < reactive.unserved_pct
    assert predictive.scaler == "predictive"
    # the instances came up one start-up time (plus a tick) before the step, not an hour before
    step = MIDNIGHT + timedelta(days=4, hours=12)
    raised = next(t.time for t in predictive.timeline if t.time > step - timedelta(hours=1) and t.action == "up")
    assert step - timedelta(minutes=5) <= raised <= step - timedelta(seconds=60)


def test_forecast_only_runs_exactly_as_without_prediction() -> None:
    shown = run(Predictive(mode="forecast_only", lookback=timedelta(days=3)))
    plain = run(None)
    assert [t.desired for t in shown.timeline] == [t.desired for t in plain.timeline]
    assert shown.instance_hours == plain.instance_hours


def test_a_run_without_a_timeline_has_the_same_figures() -> None:
    """Without a timeline the decisions' texts are never written: nothing else may change."""
    settings = Predictive(mode="on", lookback=timedelta(days=3), min_samples=3)
    kept = run(settings)
    bare = simulate(
        daily_step_trace(),
        scaler=ScalerSpec(target=0.6, predictive=settings),
        setup=SimSetup(startup=60.0, warmup=3 * 86400.0),
        keep_timeline=False,
    )
    assert bare.timeline == () and kept.timeline
    assert (bare.instance_hours, bare.unserved_pct, bare.scale_actions) == (
        kept.instance_hours,
        kept.unserved_pct,
        kept.scale_actions,
    )
    assert bare.whole == kept.whole
