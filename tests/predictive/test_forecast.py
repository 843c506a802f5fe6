"""The seasonal forecast on hand-made periodic load: a daily step is seen coming from previous days."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core.forecast import LoadHistory, load_of, quantile, spread_of

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
STEP_AT = timedelta(hours=12)  # every day the load steps from 10 to 50 instances' worth at 12:00


def daily_step(at: datetime) -> float:
    return 50.0 if (at - at.replace(hour=0, minute=0, second=0, microsecond=0)) >= STEP_AT else 10.0


def filled(
    days: int, *, bucket: timedelta = timedelta(minutes=5), every: timedelta = timedelta(seconds=15)
) -> LoadHistory:
    history = LoadHistory(lookback=timedelta(days=7), bucket=bucket)
    at = DAY0
    end = DAY0 + timedelta(days=days)
    while at < end:
        history.add(at, daily_step(at))
        at += every
    return history


def test_no_forecast_before_enough_previous_days() -> None:
    history = filled(2)
    now = DAY0 + timedelta(days=2, hours=11, minutes=59)
    assert history.forecast(metric="cpu", target=1.0, now=now, horizon=timedelta(seconds=75)) is None
    assert history.forecast(metric="cpu", target=1.0, now=now, horizon=timedelta(seconds=75), min_samples=2)


def test_the_daily_step_is_anticipated_by_the_horizon() -> None:
    history = filled(7)
    horizon = timedelta(seconds=75)  # start-up 60 s + one 15 s tick
    before = DAY0 + timedelta(days=7, hours=11, minutes=50)
    just_before = DAY0 + timedelta(days=7, hours=11, minutes=58, seconds=50)
    quiet = history.forecast(metric="cpu", target=0.5, now=before, horizon=horizon, margin=0.1)
    coming = history.forecast(metric="cpu", target=0.5, now=just_before, horizon=horizon, margin=0.1)
    assert quiet is not None and coming is not None
    assert quiet.samples == (10.0,) * 7 and quiet.proposal == math.ceil(10 * 1.1 / 0.5)
    # 11:58:50 + 75 s reaches 12:00:05: the 12:00 bucket of the previous days is in the window
    assert coming.samples == (50.0,) * 7
    assert coming.load == pytest.approx(55.0) and coming.proposal == 110
    assert "7 previous periods" in coming.describe()


def test_one_unusual_day_does_not_move_a_median_forecast() -> None:
    history = filled(7)
    spike = DAY0 + timedelta(days=3, hours=6)
    history.add(spike, 500.0)  # out of order: an older bucket changes, the cache must see it
    now = DAY0 + timedelta(days=7, hours=6)
    result = history.forecast(metric="q", target=1.0, now=now, horizon=timedelta(minutes=1), q=0.5, margin=0.0)
    assert result is not None and result.load == 10.0
    high = history.forecast(metric="q", target=1.0, now=now, horizon=timedelta(minutes=1), q=1.0, margin=0.0)
    assert high is not None and high.load == 500.0


def test_days_that_disagree_give_a_forecast_that_does_not_act() -> None:
    history = LoadHistory(lookback=timedelta(days=7), bucket=timedelta(minutes=5))
    for day in range(7):
        # a match on odd days only: the same clock time is busy one day and quiet the next
        history.add(DAY0 + timedelta(days=day, hours=20), 80.0 if day % 2 else 8.0)
        history.add(DAY0 + timedelta(days=day, hours=3), 10.0 + day % 2)  # nights look alike
    evening = DAY0 + timedelta(days=7, hours=20)
    night = DAY0 + timedelta(days=7, hours=3)
    match = history.forecast(metric="q", target=1.0, now=evening, horizon=timedelta(minutes=1))
    quiet = history.forecast(metric="q", target=1.0, now=night, horizon=timedelta(minutes=1))
    assert match is not None and quiet is not None
    # samples 8 and 80: q0.9 = 80, q0.1 = 8, spread 90 %
    assert match.spread == pytest.approx(0.9) and not match.agreed
    assert "periods disagree (spread 90% > 25%): does not act" in match.describe()
    # samples 10 and 11: q0.9 = 11, q0.1 = 10, spread 1/11
    assert quiet.spread == pytest.approx(1 / 11) and quiet.agreed
    assert "periods agree" in quiet.describe()
    # the limit is the policy's
    loose = history.forecast(metric="q", target=1.0, now=evening, horizon=timedelta(minutes=1), max_spread=1.0)
    assert loose is not None and loose.agreed


def test_spread_is_the_relative_distance_between_the_outer_deciles() -> None:
    assert spread_of([5.0, 5.0, 5.0]) == 0.0
    assert spread_of([0.0, 0.0]) == 0.0
    # q0.9 of 1..11 = 10, q0.1 = 2: (10 - 2) / 10
    assert spread_of([float(v) for v in range(1, 12)]) == pytest.approx(0.8)


def test_weekly_period_uses_the_same_weekday() -> None:
    history = LoadHistory(lookback=timedelta(days=21), bucket=timedelta(minutes=5))
    for week in range(3):
        for day in range(7):
            at = DAY0 + timedelta(days=7 * week + day, hours=9)
            history.add(at, 100.0 if day == 0 else 5.0)  # Mondays are busy
    monday = DAY0 + timedelta(days=21, hours=9)
    weekly = history.forecast(
        metric="q", target=1.0, now=monday, horizon=timedelta(minutes=1), period=timedelta(days=7), margin=0.0
    )
    daily = history.forecast(metric="q", target=1.0, now=monday, horizon=timedelta(minutes=1), margin=0.0, q=0.5)
    assert weekly is not None and weekly.samples == (100.0, 100.0, 100.0)
    assert daily is not None and daily.load == 5.0


def test_memory_is_bounded_and_old_buckets_expire() -> None:
    history = LoadHistory(lookback=timedelta(days=1), bucket=timedelta(minutes=5))
    slots = history.slots
    for minute in range(0, 3 * 24 * 60, 5):
        history.add(DAY0 + timedelta(minutes=minute), float(minute))
    assert history.slots == slots and len(history) <= slots
    assert history.get(history.bucket_of(DAY0)) is None  # two days ago: gone
    newest = DAY0 + timedelta(days=3) - timedelta(minutes=5)
    assert history.get(history.bucket_of(newest)) == float(3 * 24 * 60 - 5)
    history.add(DAY0, 1e6)  # older than the ring: dropped
    assert history.get(history.bucket_of(DAY0)) is None


def test_a_bucket_keeps_its_highest_load_and_gaps_are_empty() -> None:
    history = LoadHistory(lookback=timedelta(days=1), bucket=timedelta(minutes=5))
    history.add(DAY0, 3.0)
    history.add(DAY0 + timedelta(minutes=1), 7.0)
    history.add(DAY0 + timedelta(minutes=2), 5.0)
    history.add(DAY0 + timedelta(hours=2), 1.0)
    assert history.get(history.bucket_of(DAY0)) == 7.0
    assert history.get(history.bucket_of(DAY0 + timedelta(hours=1))) is None
    history.add(DAY0, math.nan)
    history.add(DAY0, -1.0)
    assert history.get(history.bucket_of(DAY0)) == 7.0


def test_the_forecast_is_cached_per_bucket() -> None:
    history = filled(7)
    now = DAY0 + timedelta(days=7, hours=3)
    first = history.forecast(metric="cpu", target=1.0, now=now, horizon=timedelta(seconds=75))
    again = history.forecast(metric="cpu", target=1.0, now=now + timedelta(seconds=15), horizon=timedelta(seconds=75))
    assert first is again
    history.load([(DAY0 + timedelta(days=6, hours=3), 99.0)])  # history loaded in bulk: recomputed
    changed = history.forecast(metric="cpu", target=1.0, now=now + timedelta(seconds=15), horizon=timedelta(seconds=75))
    assert changed is not first and changed is not None and max(changed.samples) == 99.0


def test_saturated_and_unmeasurable_samples_are_not_load() -> None:
    assert load_of(0.5, kind="average", ready=4, target=0.6, saturation=1.0) == 2.0
    assert load_of(1.0, kind="average", ready=4, target=0.6, saturation=1.0) is None  # at the cap
    assert load_of(1.0, kind="average", ready=4, target=0.6, saturation=None) == 4.0  # not a utilisation
    assert load_of(0.5, kind="average", ready=0, target=0.6, saturation=1.0) is None
    assert load_of(900.0, kind="per_instance", ready=0, target=100, saturation=1.0) == 900.0
    assert load_of(None, kind="per_instance", ready=1, target=100, saturation=None) is None
    assert load_of(math.inf, kind="per_instance", ready=1, target=100, saturation=None) is None


def test_quantile_interpolates_between_ranks() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert quantile([5.0, 1.0], 1.0) == 5.0
    assert quantile([1.0, 2.0], 0.25) == 1.25
    with pytest.raises(ValueError, match="nothing"):
        quantile([], 0.5)
