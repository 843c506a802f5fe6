"""backtest with `predictive`: the live loop's Forecaster over the replayed period, its history
from the source before the period and from the period's own earlier ticks, a warm-up left out."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.backtest import Fleet, Period, replay, write_csv
from autoscaler.core.forecast import LoadHistory
from autoscaler.core.policy import Policy

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def policy(mode: str | None) -> Policy:
    data: dict[str, object] = {
        "app": "/jobs/worker",
        "min_instances": 1,
        "max_instances": 20,
        "metrics": [{"name": "depth", "source": "graphite", "query": "q", "target_per_instance": 100}],
    }
    if mode is not None:
        data["predictive"] = {"mode": mode, "lookback": "3d"}
    return Policy.model_validate(data)


def daily(start: datetime, end: datetime) -> list[tuple[datetime, float | None]]:
    """400 messages from 12:00 to 13:00 every day, 100 otherwise."""
    points: list[tuple[datetime, float | None]] = []
    at = start
    while at < end:
        points.append((at, 400.0 if at.hour == 12 else 100.0))
        at += MINUTE
    return points


def first_at_five(ticks: list[tuple[datetime, int]], count: int = 5) -> datetime:
    return next(at for at, desired in ticks if desired >= count)


def test_the_warm_up_teaches_the_forecast_and_is_not_counted() -> None:
    end = DAY0 + 3 * DAY + timedelta(hours=13)
    history = {"depth": daily(DAY0, end)}
    on = replay(
        policy("on"),
        history,
        period=Period(start=DAY0, end=end, step=MINUTE, warmup=3 * DAY),
        fleet=Fleet(initial_instances=1),
    )
    assert on.start == DAY0 + 3 * DAY and on.ticks[0].at == DAY0 + 3 * DAY and on.warmup == 3 * DAY
    # the 4th day: up to 5 (400 + 10 % over 100 per instance) before 12:00, on the forecast
    # (2m fallback start-up + one 1m tick), while the metric still says 1
    up = first_at_five([(t.at, t.desired) for t in on.ticks])
    assert up == DAY0 + 3 * DAY + timedelta(hours=11, minutes=57)
    tick = next(t for t in on.ticks if t.at == up)
    assert (tick.cause, tick.proposed_by, tick.forecast, tick.values["depth"]) == ("forecast", "forecast", 5, 100.0)
    summary = on.summary()
    assert summary["predictive_mode"] == "on" and summary["warmup_minutes"] == 3 * 24 * 60
    assert summary["ticks_with_forecast"] == len(on.ticks) and summary["ticks_won_by_forecast"] >= 1

    # without prediction the same day scales (to 400 / 100 = 4) at 12:00, when the metric shows the load
    off = replay(
        policy(None),
        history,
        period=Period(start=DAY0, end=end, step=MINUTE, warmup=3 * DAY),
        fleet=Fleet(initial_instances=1),
    )
    assert first_at_five([(t.at, t.desired) for t in off.ticks], 4) == DAY0 + 3 * DAY + timedelta(hours=12)
    assert "predictive_mode" not in off.summary()

    # forecast_only: every count as without prediction, the forecast still recorded per tick
    only = replay(
        policy("forecast_only"),
        history,
        period=Period(start=DAY0, end=end, step=MINUTE, warmup=3 * DAY),
        fleet=Fleet(initial_instances=1),
    )
    assert [t.desired for t in only.ticks] == [t.desired for t in off.ticks]
    assert {t.forecast for t in only.ticks if t.at.hour == 11 and t.at.minute >= 58} == {5}
    assert {t.proposed_by for t in only.ticks} == {"reactive"}


def test_history_from_the_source_before_the_period_and_a_given_start_up(tmp_path: Path) -> None:
    start = DAY0 + 3 * DAY
    end = start + timedelta(hours=13)
    before = LoadHistory(lookback=3 * DAY)  # what load_history returns for [start - lookback, start]
    before.load([(at, value) for at, value in daily(DAY0, start) if value is not None])
    result = replay(
        policy("on"),
        {"depth": daily(start, end)},
        period=Period(start=start, end=end, step=MINUTE),
        fleet=Fleet(initial_instances=1, startup=timedelta(minutes=10)),
        prior={"depth": before},
    )
    # horizon 10 min + one tick: 5 instances from 11:49
    assert first_at_five([(t.at, t.desired) for t in result.ticks]) == start + timedelta(hours=11, minutes=49)
    write_csv(result, tmp_path / "backtest.csv")
    rows = list(csv.DictReader((tmp_path / "backtest.csv").open()))
    assert rows[0]["forecast"] == "2" and {r["proposed_by"] for r in rows} == {"reactive", "forecast"}


def test_a_warm_up_as_long_as_the_period_is_refused() -> None:
    with pytest.raises(ValueError, match="warm-up"):
        replay(policy("on"), {"depth": []}, period=Period(start=DAY0, end=DAY0 + DAY, step=MINUTE, warmup=DAY))
