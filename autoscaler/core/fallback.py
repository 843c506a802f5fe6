"""The fallback floor: what an app may rise to while its metrics are gone.

Without metrics the engine holds the count (missing data never scales down). Holding can be wrong:
during a planned peak, or when the app was small when the outage began. A policy's
`fallback: {after: 2m, instances: N | forecast | schedule}` raises the app, once every one of its
metrics has been missing for `after`, to at least:

- `N`: a fixed count;
- `forecast`: the learned forecast's proposal (the policy's `predictive` history; whatever its mode,
  as long as the previous periods agree);
- `schedule`: the highest floor among the app's schedule windows in force now or starting within
  PLANNED_HORIZON (the planned capacity the app needs soonest).

It is a floor: it never lowers the count, it stays within min_instances and max_instances, and it
ends as soon as a metric is back, after which the count comes down through stabilisation like any
other (the engine remembers the fallback as its recommendation). This module computes the floor and
its account; the engine applies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.policy import Policy
from autoscaler.core.schedule import Window, next_windows
from autoscaler.core.units import format_duration

# `instances: schedule` looks this far ahead for the next planned floor.
PLANNED_HORIZON = timedelta(hours=24)

FallbackInstances = int | Literal["forecast", "schedule"]
Status = Literal["waiting", "in_force", "unavailable"]

__all__ = [
    "PLANNED_HORIZON",
    "FallbackInstances",
    "FallbackState",
    "fallback_for",
    "fallback_state",
    "planned_floor",
]


@dataclass(frozen=True)
class FallbackState:
    """Where an app's fallback stands while its metrics are missing.

    `waiting`: missing for less than `after`; `in_force`: the floor `instances` applies;
    `unavailable`: due, but its source has no count to give (no agreed forecast, no planned window),
    so the app holds as it would without a fallback.
    """

    status: Status
    source: FallbackInstances
    missing_since: datetime
    in_force_from: datetime
    instances: int | None = None
    why: str = ""

    @property
    def in_force(self) -> bool:
        return self.status == "in_force"

    def describe(self) -> str:
        """One line for explain and the log."""
        since = self.missing_since.isoformat()
        if self.status == "waiting":
            return (
                f"fallback: every metric missing since {since}; the fallback ({_source(self.source)}) applies from "
                f"{self.in_force_from.isoformat()}"
            )
        if self.status == "unavailable":
            return f"fallback: every metric missing since {since}, but {self.why}: holding"
        return (
            f"fallback in force since {self.in_force_from.isoformat()} (every metric missing since {since}): "
            f"at least {self.instances} ({_source(self.source)}{', ' + self.why if self.why else ''})"
        )


def _source(source: FallbackInstances) -> str:
    return f"fixed {source}" if isinstance(source, int) else source


def fallback_state(
    *,
    instances: FallbackInstances,
    after: timedelta,
    missing_since: datetime | None,
    now: datetime,
    forecast: int | None,
    planned: int | None,
    min_instances: int,
    max_instances: int,
) -> FallbackState | None:
    """The fallback of an app whose metrics have all been missing since `missing_since` (None: they are
    not, so there is no fallback). `forecast`: the forecast's proposal when it has an agreed one;
    `planned`: `planned_floor()` of the app's windows. The floor is kept within the bounds."""
    if missing_since is None:
        return None
    due = missing_since + after
    if now < due:
        return FallbackState("waiting", instances, missing_since, due)
    if isinstance(instances, int):
        wanted = instances
    elif instances == "forecast":
        if forecast is None:
            return FallbackState("unavailable", instances, missing_since, due, why="the forecast has no agreed count")
        wanted = forecast
    else:
        if planned is None:
            why = f"no schedule window is in force or starts within {format_duration(PLANNED_HORIZON)}"
            return FallbackState("unavailable", instances, missing_since, due, why=why)
        wanted = planned
    bounded = min(max(wanted, min_instances), max_instances)
    why = ""
    if bounded != wanted:
        why = f"{wanted} kept within min_instances {min_instances} and max_instances {max_instances}"
    return FallbackState("in_force", instances, missing_since, due, instances=bounded, why=why)


def planned_floor(windows: Iterable[Window], *, now: datetime, horizon: timedelta = PLANNED_HORIZON) -> int | None:
    """The highest floor among `windows` (those in force and the next of each schedule) that is in
    force at `now` or applies within `horizon`; None when there is none."""
    floors = [
        window.min_instances
        for window in windows
        if window.min_instances is not None and window.applies_from <= now + horizon and window.end > now
    ]
    return max(floors) if floors else None


def fallback_for(
    policy: Policy,
    *,
    missing_since: datetime | None,
    now: datetime,
    windows: Sequence[Window],
    forecast: int | None,
    auto_lead: timedelta | None = None,
) -> FallbackState | None:
    """The policy's fallback at `now` for an app whose metrics have all been missing since
    `missing_since` (None: they are not). `windows`: those in force; `forecast`: an agreed proposal."""
    fallback = policy.fallback
    if fallback is None or missing_since is None:
        return None
    planned = None
    if fallback.instances == "schedule":
        upcoming = next_windows(policy.schedules, now, auto_lead=auto_lead)
        planned = planned_floor([*windows, *upcoming], now=now)
    return fallback_state(
        instances=fallback.instances,
        after=fallback.after,
        missing_since=missing_since,
        now=now,
        forecast=forecast,
        planned=planned,
        min_instances=policy.min_instances,
        max_instances=policy.max_instances,
    )
