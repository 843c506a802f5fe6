"""The backtest's replay: the real engine at every tick over recorded history, open loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoscaler.backtest import Fleet, Period, render_svg, replay
from autoscaler.core.policy import Policy

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = Policy.model_validate(
    {
        "app": "/shop/api",
        "min_instances": 1,
        "max_instances": 4,
        "metrics": [{"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.5}],
    }
)


def flat_then_high(minutes: int, low: float, high: float) -> list[tuple[datetime, float | None]]:
    return [(T0 + i * MINUTE, low if i < minutes // 2 else high) for i in range(minutes)]


def test_one_scale_up_when_the_load_doubles_with_the_fleet_rescaled() -> None:
    history = {"cpu": flat_then_high(60, 0.3, 0.9)}
    result = replay(
        POLICY,
        history,
        period=Period(start=T0, end=T0 + 60 * MINUTE, step=MINUTE),
        fleet=Fleet(initial_instances=2, historical_instances=2),
    )
    # first half: 2 x 0.3 / 0.5 = 1.2 -> 2 (no change). Second half: 2 x 0.9 / 0.5 = 3.6 -> 4; afterwards the
    # recorded 0.9 over the historical 2 is 0.45 on our 4: within tolerance of 0.5, so nothing more.
    assert result.actions == 1
    [up] = [t for t in result.ticks if t.desired != t.current]
    assert (up.at, up.current, up.desired) == (T0 + 30 * MINUTE, 2, 4)
    assert result.time_at_max == 30 * MINUTE  # at max 4 from minute 30 to 59
    assert result.summary()["highest_instances"] == 4


def test_without_the_historical_count_values_are_taken_as_they_were() -> None:
    history = {"cpu": flat_then_high(60, 0.3, 0.9)}
    result = replay(
        POLICY, history, period=Period(start=T0, end=T0 + 60 * MINUTE, step=MINUTE), fleet=Fleet(initial_instances=2)
    )
    # 0.9 stays 0.9 whatever we run: 2 -> 4 (step limit +4 would allow more, max is 4), then it stays at max.
    assert [t.desired for t in result.ticks if t.desired != t.current] == [4]
    assert {t.desired for t in result.ticks[31:]} == {4}
    assert result.time_at_max == 30 * MINUTE


def test_a_gap_in_history_never_scales_down() -> None:
    history = {"cpu": [(T0, 0.1)]}  # one old sample, then nothing: stale after max_metric_age (3m)
    result = replay(
        POLICY, history, period=Period(start=T0, end=T0 + 30 * MINUTE, step=MINUTE), fleet=Fleet(initial_instances=4)
    )
    stale = [t for t in result.ticks if t.at - T0 > 3 * MINUTE]
    assert stale and all(t.desired >= t.current for t in stale)
    assert {t.code for t in stale} == {"missing_metrics"}


def test_metrics_without_any_history_are_named_and_the_plot_renders() -> None:
    result = replay(
        POLICY, {"cpu": []}, period=Period(start=T0, end=T0 + 5 * MINUTE, step=MINUTE), fleet=Fleet(initial_instances=2)
    )
    assert result.missing_history == ("cpu",)
    svg = render_svg(result, POLICY)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
