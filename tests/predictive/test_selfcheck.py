"""The forecast's self-check: a forecast acts only at the level the load it forecast then reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core.decide import History, decide
from autoscaler.core.forecast import CHECK_MIN_WINDOWS, LoadHistory
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.predict import Forecaster
from autoscaler.core.selfcheck import ForecastCheck, backfill, checked

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
BUCKET = timedelta(minutes=5)
HORIZON = 75.0
T0 = DAY0.timestamp()


def check_of(*, base: float, measured: float, windows: int, start: float = T0) -> ForecastCheck:
    """A check that saw `windows` forecasts of `base`, one per bucket, each followed by `measured`."""
    check = ForecastCheck(lookback=timedelta(days=7), bucket=BUCKET)
    for index in range(windows):
        at = start + index * BUCKET.total_seconds()
        check.forecast_made(at=at, horizon=HORIZON, load=base)
        check.measured(at=at + 15, load=measured)
        check.measured(at=at + 30, load=measured / 2)
    check.measured(at=start + windows * BUCKET.total_seconds() + 1, load=None)  # the last window is over
    return check


def test_no_factor_before_enough_windows_are_checked() -> None:
    assert check_of(base=10, measured=10, windows=CHECK_MIN_WINDOWS - 1).factor() == (0.0, CHECK_MIN_WINDOWS - 1)
    factor, windows = check_of(base=10, measured=10, windows=CHECK_MIN_WINDOWS).factor()
    assert windows == CHECK_MIN_WINDOWS and factor == pytest.approx(1.0)


def test_the_factor_is_the_share_of_the_forecast_the_load_reached() -> None:
    # the highest load of each window counts: 6, not the 3 measured after it
    factor, windows = check_of(base=10, measured=6, windows=50).factor()
    assert windows == 50 and factor == pytest.approx(0.6)


def test_a_forecast_below_what_came_is_not_raised() -> None:
    assert check_of(base=10, measured=30, windows=50).factor()[0] == 1.0


def test_one_forecast_per_bucket_and_windows_without_a_measurement_say_nothing() -> None:
    check = ForecastCheck(lookback=timedelta(days=7), bucket=BUCKET)
    for index in range(CHECK_MIN_WINDOWS * 2):
        at = T0 + index * BUCKET.total_seconds()
        check.forecast_made(at=at, horizon=HORIZON, load=10)
        check.forecast_made(at=at + 15, horizon=HORIZON, load=1000)  # the same bucket: not taken
        check.measured(at=at + 15, load=10 if index % 2 else None)
    check.measured(at=T0 + 10 * 86400, load=None)
    assert check.factor() == (pytest.approx(1.0), CHECK_MIN_WINDOWS)


def test_windows_older_than_the_lookback_no_longer_count() -> None:
    check = ForecastCheck(lookback=timedelta(days=1), bucket=BUCKET)
    per_day = 288
    for index in range(per_day + 20):
        at = T0 + index * BUCKET.total_seconds()
        check.forecast_made(at=at, horizon=HORIZON, load=10)
        check.measured(at=at + 15, load=2 if index < per_day // 2 else 8)
    # the first half day (ratio 0.2) is more than a day older than the newest forecast for 20 of its
    # windows: the 10 % quantile of what is left is still 0.2, but fewer windows count
    factor, windows = check.factor()
    assert windows == per_day - 1  # the newest window is not over yet
    assert factor == pytest.approx(0.2)
    for index in range(per_day + 20, 2 * per_day):
        at = T0 + index * BUCKET.total_seconds()
        check.forecast_made(at=at, horizon=HORIZON, load=10)
        check.measured(at=at + 15, load=8)
    assert check.factor()[0] == pytest.approx(0.8)


def test_the_checked_forecast_scales_the_base_and_keeps_the_margin() -> None:
    history = LoadHistory(lookback=timedelta(days=7), bucket=BUCKET)
    for day in range(3):
        history.add(DAY0 + timedelta(days=day, hours=12), 40.0)
    forecast = history.forecast(
        metric="cpu", target=2.0, now=DAY0 + timedelta(days=3, hours=12), horizon=timedelta(seconds=75)
    )
    assert forecast is not None and forecast.base == 40.0 and forecast.proposal == 22  # 40 x 1.1 / 2
    half = checked(forecast, factor=0.5, windows=100)
    assert half.load == pytest.approx(22.0) and half.proposal == 11 and half.check == 0.5
    assert "x 0.50 (self-check" in half.describe() and "100 checked windows" in half.describe()
    unproven = checked(forecast, factor=0.0, windows=3)
    assert unproven.proposal == 0 and f"3 of {CHECK_MIN_WINDOWS} windows checked" in unproven.describe()


def loaded(days: int, load_on: object) -> LoadHistory:
    history = LoadHistory(lookback=timedelta(days=7), bucket=BUCKET)
    points = []
    for minute in range(days * 1440):
        at = DAY0 + timedelta(minutes=minute)
        points.append((at, load_on(at)))  # type: ignore[operator]
    history.load(points)
    return history


def backfilled(history: LoadHistory) -> tuple[float, int]:
    check = ForecastCheck(lookback=timedelta(days=7), bucket=BUCKET)
    backfill(
        check,
        history,
        target=1.0,
        horizon=timedelta(seconds=75),
        period=timedelta(days=1),
        lookback=timedelta(days=7),
        q=0.9,
        margin=0.1,
        max_spread=1.0,
    )
    return check.factor()


def test_history_loaded_in_bulk_is_checked_at_once() -> None:
    # every day the same: the forecast of each bucket was what came
    factor, windows = backfilled(loaded(3, lambda at: 50.0 if at.hour == 12 else 10.0))
    assert windows > 500 and factor == pytest.approx(1.0)
    # busy every other day: the quiet days reached a fifth of what the busy ones forecast, or 10 / 46
    # where a busy and a quiet day were before them (their q0.9: 10 + 0.9 x 40)
    factor, windows = backfilled(loaded(4, lambda at: 50.0 if at.day % 2 else 10.0))
    assert windows > 500 and 0.2 <= factor <= 10 / 46 + 1e-9


def policy() -> Policy:
    return Policy.model_validate(
        {
            "app": "/shop/api",
            "min_instances": 1,
            "max_instances": 50,
            "metrics": [{"name": "depth", "source": "graphite", "query": "q", "target_per_instance": 10}],
            "predictive": {"mode": "on", "lookback": "3d", "max_spread": "100%"},
        }
    )


def test_a_forecast_that_the_load_does_not_follow_stops_acting() -> None:
    """History says 400 around the clock; the app now carries 100. Two days of history agreed with
    itself, so the forecast acts at first; once more than a tenth of the checked windows (8 hours of
    them) saw a quarter of what it forecast, it proposes what came."""
    chosen = policy()
    forecaster = Forecaster(chosen.predictive)
    forecaster.history("depth").load([(DAY0 + timedelta(minutes=minute), 400.0) for minute in range(3 * 1440)])
    state = AppState("/shop/api", instances=1, tasks_running=1)
    now = DAY0 + timedelta(days=3)
    proposals = []
    for _ in range(int(timedelta(hours=8) / timedelta(seconds=15))):
        outlook = forecaster.outlook(chosen, now, startup=timedelta(seconds=60), tick=timedelta(seconds=15))
        observations = {"depth": Observation(value=100.0, timestamp=now)}
        decision = decide(chosen, state, observations, History(), now, outlook=outlook)
        forecaster.record(chosen, decision, History())
        assert outlook.forecast is not None
        proposals.append(outlook.forecast.proposal)
        now += timedelta(seconds=15)
    assert proposals[0] == 44  # backfilled: the history agreed with itself, 400 x 1.1 / 10
    assert proposals[-1] <= 11  # a quarter of the forecast is what came: 100 x 1.1 / 10
    assert proposals[len(proposals) // 4] == 44  # two hours in, the days of history still outweigh it
