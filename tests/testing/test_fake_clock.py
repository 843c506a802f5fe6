"""The one fake clock moves the service's view (datetimes) and the fakes' view (epoch seconds) together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.testing.marathon import FakeMarathon


def test_advancing_moves_both_views_and_nothing_else_does() -> None:
    clock = FakeClock()
    first = clock()
    assert clock() == first == DEFAULT_START

    clock.advance(90.5)

    assert clock() - first == timedelta(seconds=90.5)
    assert clock.seconds() == pytest.approx(DEFAULT_START.timestamp() + 90.5)


def test_a_clock_from_epoch_seconds_and_a_naive_start_is_refused() -> None:
    assert FakeClock.at_epoch(1_714_640_000.25)() == datetime(2024, 5, 2, 8, 53, 20, 250000, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 1, 1))


def test_the_fake_marathon_reads_the_same_clock() -> None:
    clock = FakeClock()
    marathon = FakeMarathon(clock=clock.seconds, task_start_delay=10.0)
    marathon.add_app("/a", instances=1)
    clock.advance(3600)
    marathon.add_app("/b", instances=1)

    assert marathon.app_json("/a")["version"] == "2026-11-26T12:00:00.000Z"
    assert marathon.app_json("/b")["version"] == "2026-11-26T13:00:00.000Z"
