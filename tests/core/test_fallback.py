"""The fallback floor: when it applies, what it gives for each source, and its bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.core.fallback import PLANNED_HORIZON, FallbackState, fallback_state, planned_floor
from autoscaler.core.schedule import Window

NOW = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)
AFTER = timedelta(minutes=2)


def state(**given: Any) -> FallbackState | None:
    fields: dict[str, Any] = {
        "instances": 12,
        "after": AFTER,
        "missing_since": NOW - timedelta(minutes=5),
        "now": NOW,
        "forecast": None,
        "planned": None,
        "min_instances": 2,
        "max_instances": 30,
        **given,
    }
    return fallback_state(**fields)


def test_no_fallback_while_metrics_are_present() -> None:
    assert state(missing_since=None) is None


def test_waits_for_after_then_applies() -> None:
    waiting = state(missing_since=NOW - timedelta(seconds=119))
    assert waiting is not None and waiting.status == "waiting" and waiting.instances is None
    assert waiting.in_force_from == NOW + timedelta(seconds=1)
    due = state(missing_since=NOW - AFTER)
    assert due is not None and due.in_force and due.instances == 12
    assert due.in_force_from == NOW
    assert "fallback in force since 2026-07-01T20:00:00+00:00" in due.describe()
    assert "missing since 2026-07-01T19:58:00+00:00" in due.describe()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"instances": "forecast", "forecast": 17}, 17),
        ({"instances": "schedule", "planned": 25}, 25),
        ({"instances": 100}, 30),  # max_instances
        ({"instances": 0}, 2),  # min_instances
        ({"instances": "forecast", "forecast": 99}, 30),
    ],
)
def test_each_source_within_bounds(given: dict[str, Any], expected: int) -> None:
    got = state(**given)
    assert got is not None and got.in_force
    assert got.instances == expected


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"instances": "forecast"}, "the forecast has no agreed count"),
        ({"instances": "schedule"}, "no schedule window"),
    ],
)
def test_a_source_without_a_count_holds(given: dict[str, Any], words: str) -> None:
    got = state(**given)
    assert got is not None and got.status == "unavailable" and got.instances is None
    assert words in got.describe() and "holding" in got.describe()


def window(name: str, *, starts_in: timedelta, lasts: timedelta, floor: int | None) -> Window:
    start = NOW + starts_in
    return Window(name=name, start=start, end=start + lasts, lead=timedelta(0), min_instances=floor, max_instances=None)


def test_planned_floor_takes_the_highest_in_force_or_soon() -> None:
    hour = timedelta(hours=1)
    windows = [
        window("now", starts_in=-hour, lasts=2 * hour, floor=8),
        window("tonight", starts_in=3 * hour, lasts=hour, floor=20),
        window("next-week", starts_in=7 * 24 * hour, lasts=hour, floor=50),  # beyond the horizon
        window("cap-only", starts_in=hour, lasts=hour, floor=None),
        window("over", starts_in=-3 * hour, lasts=hour, floor=40),  # ended
    ]
    assert planned_floor(windows, now=NOW) == 20
    assert planned_floor(windows[:1], now=NOW) == 8
    assert planned_floor(windows[2:], now=NOW) is None
    edge = window("edge", starts_in=PLANNED_HORIZON, lasts=hour, floor=9)
    assert planned_floor([edge], now=NOW) == 9


@given(
    instances=st.integers(min_value=0, max_value=500),
    low=st.integers(min_value=0, max_value=100),
    span=st.integers(min_value=0, max_value=100),
    missing_for=st.integers(min_value=0, max_value=3600),
)
def test_always_within_bounds_and_only_after_after(instances: int, low: int, span: int, missing_for: int) -> None:
    got = state(
        instances=instances,
        min_instances=low,
        max_instances=low + span,
        missing_since=NOW - timedelta(seconds=missing_for),
    )
    assert got is not None
    assert got.in_force == (missing_for >= AFTER.total_seconds())
    if got.in_force:
        assert got.instances is not None and low <= got.instances <= low + span
