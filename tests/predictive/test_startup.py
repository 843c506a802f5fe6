"""Start-up time learned from consecutive app states and the loop's writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from autoscaler.core.model import AppState
from autoscaler.core.startup import StartupTracker

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(instances: int, ready: int, **extra: object) -> AppState:
    return AppState("/shop/api", instances=instances, tasks_running=ready, **extra)  # type: ignore[arg-type]


def test_measures_from_our_write_until_ready() -> None:
    tracker = StartupTracker()
    assert tracker.observe(state(2, 2), at(0)) is None
    tracker.wrote("/shop/api", instances=4, at=at(0))
    assert tracker.observe(state(4, 2), at(15)) is None
    assert tracker.observe(state(4, 3), at(30)) is None
    estimate = tracker.observe(state(4, 4), at(45))
    assert estimate is not None and estimate.seconds == 45.0 and estimate.samples == (45.0,)


def test_healthy_counts_for_apps_with_health_checks() -> None:
    tracker = StartupTracker()
    tracker.observe(AppState("/a", 1, tasks_running=1, tasks_healthy=1, has_health_checks=True), at(0))
    tracker.wrote("/a", instances=2, at=at(0))
    assert tracker.observe(AppState("/a", 2, tasks_running=2, tasks_healthy=1, has_health_checks=True), at(30)) is None
    done = tracker.observe(AppState("/a", 2, tasks_running=2, tasks_healthy=2, has_health_checks=True), at(90))
    assert done is not None and done.seconds == 90.0


def test_a_scale_by_someone_else_is_dated_by_marathon() -> None:
    tracker = StartupTracker()
    tracker.observe(state(2, 2), at(0))
    tracker.observe(state(5, 2, last_scaled_at=at(10)), at(15))
    estimate = tracker.observe(state(5, 5, last_scaled_at=at(10)), at(75))
    assert estimate is not None and estimate.seconds == 65.0


def test_the_estimate_is_the_median_of_recent_measurements() -> None:
    tracker = StartupTracker(keep=5)
    clock = 0.0
    tracker.observe(state(1, 1), at(clock))
    for count, took in enumerate((60, 60, 600, 45, 60, 75, 60), start=2):
        tracker.wrote("/shop/api", instances=count, at=at(clock))
        clock += took
        tracker.observe(state(count, count), at(clock))
    estimate = tracker.estimate("/shop/api")
    assert estimate is not None
    assert estimate.samples == (600.0, 45.0, 60.0, 75.0, 60.0)  # the last five only
    assert estimate.seconds == 60.0  # one slow start does not move it


def test_cancelled_or_stuck_scale_ups_measure_nothing() -> None:
    tracker = StartupTracker(give_up=timedelta(minutes=10))
    tracker.observe(state(2, 2), at(0))
    tracker.wrote("/shop/api", instances=6, at=at(0))
    tracker.observe(state(6, 3), at(15))
    tracker.observe(state(3, 3), at(30))  # scaled back down before the 6 were ready
    assert tracker.observe(state(6, 6), at(45)) is None  # (a new scale-up seen now opens anew)
    tracker.observe(replace(state(8, 6), last_scaled_at=None), at(60))
    assert tracker.observe(state(8, 7), at(60 + 601)) is None
    assert tracker.observe(state(8, 8), at(60 + 700)) is None  # gave up after 10 min


def test_not_ready_while_the_deployment_runs_and_forget() -> None:
    tracker = StartupTracker()
    tracker.observe(state(1, 1), at(0))
    tracker.wrote("/shop/api", instances=2, at=at(0))
    assert tracker.observe(state(2, 2, deployment_ids=("d1",)), at(30)) is None
    assert tracker.observe(state(2, 2), at(45)) is not None
    tracker.forget(set())
    assert tracker.estimate("/shop/api") is None and tracker.estimates() == {}
