"""When is a schedule window in force? A pure function of (schedule, now), DST-correct.

A window runs from `start` to `end`; its floor applies from `start - lead` (instances need time to
start). `lead: auto` is the app's start-up time learned from Marathon plus one tick, which the caller
passes as `auto_lead`; before anything is learned it is AUTO_LEAD_FALLBACK. Recurring windows take
their start times from a cron expression evaluated in the schedule's
IANA timezone, so "0 20 * * *" in Asia/Shanghai is 20:00 local on every day, across DST changes
elsewhere and in zones that have them (a start inside a skipped hour moves to the first valid time).
Every window keeps the zone it was written in, so that whoever shows its times shows them there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cronsim import CronSim

from autoscaler.core.policy import Schedule

# How many recurring starts to look at when searching for the next window (cron "every minute" with
# a long lead would otherwise loop for a long time; no sensible schedule needs more).
_MAX_SCAN = 1000

# `lead: auto` before the app's start-up time has been measured: long enough for most apps.
AUTO_LEAD_FALLBACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Window:
    """One occurrence of a schedule: when it starts, ends (both in UTC), and from when its floor
    applies; `zone` is where the schedule was written: its IANA zone, or a one-off's UTC offset."""

    name: str
    start: datetime
    end: datetime
    lead: timedelta
    min_instances: int | None
    max_instances: int | None
    zone: tzinfo = UTC
    ramp_up: timedelta = timedelta(0)  # the floor fades in over this, ending at `applies_from`
    ramp_down: timedelta = timedelta(0)  # and out over this, after `end` (core.ramp)

    @property
    def timezone(self) -> str:
        """The zone's name: `Asia/Shanghai`, or `UTC+08:00` for a one-off written with an offset."""
        if isinstance(self.zone, ZoneInfo):
            return self.zone.key
        offset = self.start.astimezone(self.zone).utcoffset() or timedelta(0)
        if not offset:
            return "UTC"
        sign, minutes = (
            ("-", -offset // timedelta(minutes=1)) if offset < timedelta(0) else ("+", offset // timedelta(minutes=1))
        )
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def local(self, moment: datetime) -> datetime:
        """`moment` on the wall clock of the schedule's zone."""
        return moment.astimezone(self.zone)

    @property
    def applies_from(self) -> datetime:
        return self.start - self.lead

    def active_at(self, now: datetime) -> bool:
        return self.applies_from <= now < self.end


def _occurrences(schedule: Schedule, after: datetime, auto_lead: timedelta | None = None) -> Iterator[Window]:
    """Windows of `schedule` whose end is after `after`, in start order."""
    if schedule.cron is None:
        assert schedule.start is not None and schedule.end is not None
        if schedule.end > after:
            yield _window(schedule, schedule.start, schedule.end, auto_lead)
        return
    assert schedule.duration is not None and schedule.timezone is not None  # a valid cron schedule has both
    zone = ZoneInfo(schedule.timezone)
    # A window that ends after `after` started after `after - duration`.
    for count, start in enumerate(CronSim(schedule.cron, (after - schedule.duration).astimezone(zone))):
        if count >= _MAX_SCAN:
            return
        # The duration is elapsed time (as the scan above assumes): add it in UTC, not on the local
        # wall clock, or a window spanning a DST change would last an hour more or less.
        yield _window(schedule, start, start.astimezone(UTC) + schedule.duration, auto_lead)


def lead_of(schedule: Schedule, auto_lead: timedelta | None = None) -> timedelta:
    """The schedule's lead; for `lead: auto`, `auto_lead` (or the fallback before it is known)."""
    if schedule.lead is not None:
        return schedule.lead
    return auto_lead if auto_lead is not None else AUTO_LEAD_FALLBACK


def _window(schedule: Schedule, start: datetime, end: datetime, auto_lead: timedelta | None) -> Window:
    zone = ZoneInfo(schedule.timezone) if schedule.timezone is not None else start.tzinfo
    return Window(
        name=schedule.name,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        lead=lead_of(schedule, auto_lead),
        min_instances=schedule.min_instances,
        max_instances=schedule.max_instances,
        zone=zone or UTC,
        ramp_up=schedule.ramp_up,
        ramp_down=schedule.ramp_down,
    )


def active_windows(schedules: Iterable[Schedule], now: datetime, *, auto_lead: timedelta | None = None) -> list[Window]:
    """Every window in force at `now` (lead included), at most one per schedule."""
    active = []
    for schedule in schedules:
        for window in _occurrences(schedule, now, auto_lead):
            if window.active_at(now):
                active.append(window)
                break
            if window.applies_from > now:
                break
    return active


def next_windows(schedules: Iterable[Schedule], now: datetime, *, auto_lead: timedelta | None = None) -> list[Window]:
    """For each schedule, its next window whose floor is not yet in force, soonest first."""
    upcoming = []
    for schedule in schedules:
        for window in _occurrences(schedule, now, auto_lead):
            if window.applies_from > now:
                upcoming.append(window)
                break
    return sorted(upcoming, key=lambda window: window.applies_from)


def windows_from(schedule: Schedule, after: datetime, *, auto_lead: timedelta | None = None) -> Iterator[Window]:
    """The windows of `schedule` that end after `after`, in start order (for ramps, which reach
    beyond a window's own times)."""
    return _occurrences(schedule, after, auto_lead)
