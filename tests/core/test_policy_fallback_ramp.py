"""The policy fields of the fallback and of ramps: what they accept, and the errors at their fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from autoscaler.core.policy import DEFAULT_FALLBACK_AFTER, Policy
from autoscaler.core.schedule import next_windows

CPU = {"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.5}
SALE = {"name": "sale", "start": "2026-11-11T00:00:00+08:00", "end": "2026-11-11T03:00:00+08:00", "min_instances": 9}


def policy(**changes: Any) -> Policy:
    return Policy.model_validate(
        {"app": "/shop/api", "min_instances": 1, "max_instances": 20, "metrics": [CPU]} | changes
    )


def error_at(**changes: Any) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as caught:
        policy(**changes)
    first = caught.value.errors()[0]
    return tuple(first["loc"]), first["msg"]


@pytest.mark.parametrize(
    ("given", "after", "instances"),
    [
        ({"instances": 8}, DEFAULT_FALLBACK_AFTER, 8),
        ({"after": "5m", "instances": "schedule"}, timedelta(minutes=5), "schedule"),
        ({"after": "30s", "instances": "forecast"}, timedelta(seconds=30), "forecast"),
    ],
)
def test_fallback_accepts_a_count_the_forecast_or_the_schedule(
    given: dict[str, Any], after: timedelta, instances: Any
) -> None:
    loaded = policy(fallback=given, schedules=[SALE], predictive={"mode": "forecast_only"})
    assert loaded.fallback is not None
    assert (loaded.fallback.after, loaded.fallback.instances) == (after, instances)


@pytest.mark.parametrize(
    ("changes", "where", "words"),
    [
        ({"fallback": {"instances": 21}}, ("fallback", "instances"), "above max_instances (20)"),
        ({"fallback": {"instances": -1}}, ("fallback", "instances"), "0 or more"),
        ({"fallback": {"instances": "most"}}, ("fallback", "instances"), "a count (like 10), forecast or schedule"),
        ({"fallback": {"instances": True}}, ("fallback", "instances"), "a count"),
        ({"fallback": {}}, ("fallback", "instances"), "Field required"),
        ({"fallback": {"instances": 3, "after": "2"}}, ("fallback", "after"), "needs a unit"),
        ({"fallback": {"instances": 3, "when": "2m"}}, ("fallback", "when"), "Extra inputs"),
        ({"fallback": {"instances": "forecast"}}, ("fallback", "instances"), "needs the policy's predictive block"),
        ({"fallback": {"instances": "schedule"}}, ("fallback", "instances"), "needs a schedule with min_instances"),
        ({"fallback": {"instances": 3}, "metrics": []}, ("fallback",), "the policy has none"),
        ({"schedules": [{**SALE, "ramp_up": "10"}]}, ("schedules", 0, "ramp_up"), "needs a unit"),
        (
            {"schedules": [{**SALE, "min_instances": None, "max_instances": 5, "ramp_down": "10m"}]},
            ("schedules", 0, "ramp_down"),
            "needs min_instances",
        ),
    ],
)
def test_errors_name_the_field(changes: dict[str, Any], where: tuple[str | int, ...], words: str) -> None:
    loc, message = error_at(**changes)
    assert loc == where
    assert words in message


def test_ramps_on_a_window_and_into_its_windows() -> None:
    loaded = policy(schedules=[{**SALE, "ramp_up": "10m", "ramp_down": "30m"}])
    assert (loaded.schedules[0].ramp_up, loaded.schedules[0].ramp_down) == (
        timedelta(minutes=10),
        timedelta(minutes=30),
    )
    (window,) = next_windows(loaded.schedules, loaded.schedules[0].start - timedelta(days=1))  # type: ignore[operator]
    assert (window.ramp_up, window.ramp_down) == (timedelta(minutes=10), timedelta(minutes=30))
    assert policy().schedules == () and policy().fallback is None
