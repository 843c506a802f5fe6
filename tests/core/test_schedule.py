"""When a schedule window is in force: plain tables of fixed instants, DST changes and midnight included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from autoscaler.core.policy import Schedule
from autoscaler.core.schedule import Window, active_windows, next_windows

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no DST
BERLIN = ZoneInfo("Europe/Berlin")  # 2026: CET -> CEST on 29 March 02:00, back on 25 October 03:00
NEW_YORK = ZoneInfo("America/New_York")  # 2026: EST -> EDT on 8 March 02:00, back on 1 November 02:00


def schedule(**fields: Any) -> Schedule:
    return Schedule.model_validate({"name": "s", "min_instances": 5, **fields})


def active(sched: Schedule, now: datetime) -> bool:
    return bool(active_windows([sched], now))


# Double 11: 2026-11-11 00:00 to 03:00 Beijing time (16:00 to 19:00 UTC on the 10th), 20 minutes lead.
SALE = schedule(start="2026-11-11T00:00:00+08:00", end="2026-11-11T03:00:00+08:00", lead="20m")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 10, 23, 0, tzinfo=SHANGHAI), False),  # long before
        (datetime(2026, 11, 10, 23, 39, 59, tzinfo=SHANGHAI), False),  # one second before the lead
        (datetime(2026, 11, 10, 23, 40, tzinfo=SHANGHAI), True),  # lead starts: 00:00 - 20m
        (datetime(2026, 11, 10, 15, 50, tzinfo=UTC), True),  # in the lead, written in UTC
        (datetime(2026, 11, 11, 0, 0, tzinfo=SHANGHAI), True),  # start
        (datetime(2026, 11, 11, 2, 59, 59, tzinfo=SHANGHAI), True),  # last second
        (datetime(2026, 11, 11, 3, 0, tzinfo=SHANGHAI), False),  # end is exclusive
        (datetime(2026, 11, 10, 19, 0, tzinfo=UTC), False),  # the same end instant in UTC
        (datetime(2026, 11, 12, 1, 0, tzinfo=SHANGHAI), False),  # the next day
    ],
)
def test_one_off_window_with_lead(now: datetime, expected: bool) -> None:
    assert active(SALE, now) is expected


def test_one_off_window_fields() -> None:
    [window] = active_windows([SALE], datetime(2026, 11, 11, 1, 0, tzinfo=SHANGHAI))
    assert window.start == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 00:00 +08:00
    assert window.end == datetime(2026, 11, 10, 19, 0, tzinfo=UTC)  # 03:00 +08:00
    assert window.applies_from == datetime(2026, 11, 10, 15, 40, tzinfo=UTC)  # 16:00 - 20m
    assert (window.min_instances, window.max_instances) == (5, None)


# The evening push: 20:00 Beijing time for one hour, ten minutes lead (12:00 to 13:00 UTC).
PUSH = schedule(cron="0 20 * * *", timezone="Asia/Shanghai", duration="1h", lead="10m")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 6, 1, 19, 49, 59, tzinfo=SHANGHAI), False),
        (datetime(2026, 6, 1, 19, 50, tzinfo=SHANGHAI), True),  # lead: 20:00 - 10m
        (datetime(2026, 6, 1, 20, 0, tzinfo=SHANGHAI), True),
        (datetime(2026, 6, 1, 20, 59, 59, tzinfo=SHANGHAI), True),
        (datetime(2026, 6, 1, 21, 0, tzinfo=SHANGHAI), False),  # 20:00 + 1h, exclusive
        (datetime(2026, 6, 1, 12, 30, tzinfo=UTC), True),  # 20:30 Beijing
        (datetime(2026, 6, 1, 13, 0, tzinfo=UTC), False),  # 21:00 Beijing
        (datetime(2026, 6, 2, 8, 0, tzinfo=SHANGHAI), False),  # morning
        # Shanghai has no DST: on the days Europe and America change, it is still 12:00 UTC
        (datetime(2026, 3, 29, 12, 5, tzinfo=UTC), True),
        (datetime(2026, 3, 8, 11, 55, tzinfo=UTC), True),
        (datetime(2026, 3, 8, 11, 49, tzinfo=UTC), False),
        (datetime(2026, 10, 25, 13, 0, tzinfo=UTC), False),
    ],
)
def test_recurring_window_in_shanghai(now: datetime, expected: bool) -> None:
    assert active(PUSH, now) is expected


def test_recurring_window_fields() -> None:
    [window] = active_windows([PUSH], datetime(2026, 6, 1, 20, 30, tzinfo=SHANGHAI))
    assert window.start == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 20:00 - 8h
    assert window.end == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert window.applies_from == datetime(2026, 6, 1, 11, 50, tzinfo=UTC)


def window_at(sched: Schedule, now: datetime) -> tuple[datetime, datetime] | None:
    windows = active_windows([sched], now)
    return (windows[0].start, windows[0].end) if windows else None


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


BERLIN_0230 = schedule(cron="30 2 * * *", timezone="Europe/Berlin", duration="1h")
BERLIN_2000 = schedule(cron="0 20 * * *", timezone="Europe/Berlin", duration="1h")
NY_0230 = schedule(cron="30 2 * * *", timezone="America/New_York", duration="1h")
NY_0130 = schedule(cron="30 1 * * *", timezone="America/New_York", duration="1h")
NY_2000 = schedule(cron="0 20 * * *", timezone="America/New_York", duration="1h")


@pytest.mark.parametrize(
    ("sched", "now", "expected"),
    [
        # Berlin, spring forward on 29 March: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        (BERLIN_0230, utc(2026, 3, 28, 1, 45), (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30))),  # 02:30 CET
        # the skipped 02:30 moves to the first valid time, 03:00 CEST = 01:00 UTC, for one hour
        (BERLIN_0230, utc(2026, 3, 29, 0, 59), None),
        (BERLIN_0230, utc(2026, 3, 29, 1, 0), (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))),
        (BERLIN_0230, utc(2026, 3, 29, 2, 0), None),
        (BERLIN_0230, utc(2026, 3, 30, 0, 45), (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30))),  # 02:30 CEST
        # 20:00 local is 19:00 UTC the day before the change and 18:00 UTC on the day itself
        (BERLIN_2000, utc(2026, 3, 28, 19, 30), (utc(2026, 3, 28, 19, 0), utc(2026, 3, 28, 20, 0))),
        (BERLIN_2000, utc(2026, 3, 29, 18, 30), (utc(2026, 3, 29, 18, 0), utc(2026, 3, 29, 19, 0))),
        (BERLIN_2000, utc(2026, 3, 29, 19, 30), None),
        # Berlin, fall back on 25 October: 03:00 CEST returns to 02:00 CET; 02:30 happens twice.
        # The window starts once, at the first 02:30 (CEST, 00:30 UTC), not again at 02:30 CET.
        (BERLIN_0230, utc(2026, 10, 25, 0, 45), (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))),
        (BERLIN_0230, utc(2026, 10, 25, 1, 45), None),
        (BERLIN_0230, utc(2026, 10, 26, 1, 45), (utc(2026, 10, 26, 1, 30), utc(2026, 10, 26, 2, 30))),  # 02:30 CET
        (BERLIN_2000, utc(2026, 10, 24, 18, 30), (utc(2026, 10, 24, 18, 0), utc(2026, 10, 24, 19, 0))),  # CEST
        (BERLIN_2000, utc(2026, 10, 25, 19, 30), (utc(2026, 10, 25, 19, 0), utc(2026, 10, 25, 20, 0))),  # CET
        (BERLIN_2000, utc(2026, 10, 25, 18, 30), None),
        # New York, spring forward on 8 March: 02:00 EST jumps to 03:00 EDT.
        (NY_0230, utc(2026, 3, 7, 7, 45), (utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 8, 30))),  # 02:30 EST
        (NY_0230, utc(2026, 3, 8, 7, 15), (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0))),  # moved to 03:00 EDT
        (NY_0230, utc(2026, 3, 8, 6, 59), None),
        (NY_2000, utc(2026, 3, 8, 1, 30), (utc(2026, 3, 8, 1, 0), utc(2026, 3, 8, 2, 0))),  # 7 March 20:00 EST
        (NY_2000, utc(2026, 3, 9, 0, 30), (utc(2026, 3, 9, 0, 0), utc(2026, 3, 9, 1, 0))),  # 8 March 20:00 EDT
        (NY_2000, utc(2026, 3, 9, 1, 30), None),
        # New York, fall back on 1 November: 02:00 EDT returns to 01:00 EST; 01:30 happens twice.
        (NY_0130, utc(2026, 11, 1, 5, 45), (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))),  # 01:30 EDT
        (NY_0130, utc(2026, 11, 1, 6, 45), None),  # 01:45 EST: the window already ran
        (NY_0130, utc(2026, 11, 2, 6, 45), (utc(2026, 11, 2, 6, 30), utc(2026, 11, 2, 7, 30))),  # 01:30 EST
        (NY_2000, utc(2026, 11, 2, 1, 30), (utc(2026, 11, 2, 1, 0), utc(2026, 11, 2, 2, 0))),  # 1 Nov 20:00 EST
    ],
)
def test_recurring_windows_across_dst_changes(
    sched: Schedule, now: datetime, expected: tuple[datetime, datetime] | None
) -> None:
    assert window_at(sched, now) == expected


@pytest.mark.parametrize(
    ("sched", "zone", "day"),
    [
        (BERLIN_2000, BERLIN, datetime(2026, 3, 29)),
        (BERLIN_2000, BERLIN, datetime(2026, 10, 25)),
        (NY_2000, NEW_YORK, datetime(2026, 3, 8)),
        (NY_2000, NEW_YORK, datetime(2026, 11, 1)),
    ],
)
def test_twenty_hundred_local_on_the_day_of_the_change_is_twenty_hundred_local(
    sched: Schedule, zone: ZoneInfo, day: datetime
) -> None:
    now = day.replace(hour=20, minute=30, tzinfo=zone)
    [window] = active_windows([sched], now)
    local = window.start.astimezone(zone)
    assert (local.date(), local.hour, local.minute) == (day.date(), 20, 0)
    assert window.end - window.start == timedelta(hours=1)


# A duration is elapsed time: a 3 h window across a DST change lasts 3 hours, not 2 or 4.
NIGHT = schedule(cron="30 0 * * *", timezone="Europe/Berlin", duration="3h")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 29 March: starts 00:30 CET = 23:30 UTC on the 28th, ends 3 h later at 02:30 UTC (04:30 CEST)
        (utc(2026, 3, 28, 23, 30), (utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 30))),
        (utc(2026, 3, 29, 2, 0), (utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 30))),
        (utc(2026, 3, 29, 2, 30), None),
        # 25 October: starts 00:30 CEST = 22:30 UTC on the 24th, ends at 01:30 UTC (02:30 CET)
        (utc(2026, 10, 25, 1, 29), (utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 1, 30))),
        (utc(2026, 10, 25, 1, 30), None),
    ],
)
def test_duration_across_dst_is_elapsed_time(now: datetime, expected: tuple[datetime, datetime] | None) -> None:
    assert window_at(NIGHT, now) == expected


@pytest.mark.parametrize("night", [utc(2026, 3, 28, 18, 0), utc(2026, 10, 24, 18, 0), utc(2026, 6, 1, 18, 0)])
def test_a_window_is_in_force_exactly_between_its_own_bounds(night: datetime) -> None:
    """Every minute of a DST night: active_windows agrees with the window's own start and end."""
    sched = schedule(cron="30 0 * * *", timezone="Europe/Berlin", duration="3h", lead="15m")
    [upcoming] = next_windows([sched], night)
    for minute in range(12 * 60):
        now = night + timedelta(minutes=minute)
        assert active(sched, now) is upcoming.active_at(now), now


# Across midnight: 23:00 Beijing time for 3 hours, so in force until 02:00 the next day.
LATE = schedule(cron="0 23 * * *", timezone="Asia/Shanghai", duration="3h")
FRIDAY_LATE = schedule(cron="0 23 * * 5", timezone="Asia/Shanghai", duration="3h")  # 2026-06-05 is a Friday


@pytest.mark.parametrize(
    ("sched", "now", "expected"),
    [
        (LATE, datetime(2026, 6, 1, 22, 59, tzinfo=SHANGHAI), False),
        (LATE, datetime(2026, 6, 1, 23, 0, tzinfo=SHANGHAI), True),
        (LATE, datetime(2026, 6, 2, 0, 0, tzinfo=SHANGHAI), True),
        (LATE, datetime(2026, 6, 2, 1, 0, tzinfo=SHANGHAI), True),  # the day after the start
        (LATE, datetime(2026, 6, 2, 1, 59, tzinfo=SHANGHAI), True),
        (LATE, datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI), False),
        (FRIDAY_LATE, datetime(2026, 6, 6, 1, 0, tzinfo=SHANGHAI), True),  # Saturday 01:00, started Friday
        (FRIDAY_LATE, datetime(2026, 6, 5, 1, 0, tzinfo=SHANGHAI), False),  # Friday 01:00: Thursday has none
        (FRIDAY_LATE, datetime(2026, 6, 7, 1, 0, tzinfo=SHANGHAI), False),  # Sunday 01:00
    ],
)
def test_window_across_midnight(sched: Schedule, now: datetime, expected: bool) -> None:
    assert active(sched, now) is expected


def test_window_across_midnight_starts_the_day_before() -> None:
    [window] = active_windows([LATE], datetime(2026, 6, 2, 1, 0, tzinfo=SHANGHAI))
    assert window.start == datetime(2026, 6, 1, 23, 0, tzinfo=SHANGHAI)
    assert window.end == datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)


def test_recurring_in_utc_only_when_it_says_so() -> None:
    sched = schedule(cron="0 20 * * *", timezone="UTC", duration="1h")
    assert active(sched, utc(2026, 6, 1, 20, 30))
    assert not active(sched, datetime(2026, 6, 1, 20, 30, tzinfo=SHANGHAI))  # 12:30 UTC
    with pytest.raises(ValidationError, match="needs a timezone"):
        schedule(cron="0 20 * * *", duration="1h")


def test_a_window_keeps_the_zone_it_was_written_in() -> None:
    [push] = next_windows([PUSH], utc(2026, 6, 1, 0, 0))
    assert push.timezone == "Asia/Shanghai"
    assert push.start.utcoffset() == timedelta(0)  # computed with in UTC
    assert push.local(push.start) == datetime(2026, 6, 1, 20, 0, tzinfo=SHANGHAI)
    assert push.local(push.start).isoformat() == "2026-06-01T20:00:00+08:00"
    one_off = schedule(start="2026-11-11T00:00:00+08:00", end="2026-11-11T03:00:00+08:00")
    [sale] = next_windows([one_off], utc(2026, 6, 1, 0, 0))
    assert sale.timezone == "UTC+08:00"
    assert sale.local(sale.start).isoformat() == "2026-11-11T00:00:00+08:00"
    [utc_sale] = next_windows([schedule(start="2026-11-11T00:00:00Z", end="2026-11-11T03:00:00Z")], utc(2026, 6, 1))
    assert utc_sale.timezone == "UTC"


def test_overlapping_occurrences_give_one_window_per_schedule() -> None:
    hourly_two_hours = schedule(cron="0 * * * *", timezone="UTC", duration="2h")
    windows = active_windows([hourly_two_hours], utc(2026, 6, 1, 10, 30))
    assert [(w.start, w.end) for w in windows] == [(utc(2026, 6, 1, 9, 0), utc(2026, 6, 1, 11, 0))]


def test_active_windows_of_several_schedules() -> None:
    ceiling = schedule(
        name="quiet", cron="0 2 * * *", timezone="Asia/Shanghai", duration="4h", min_instances=None, max_instances=6
    )
    now = datetime(2026, 6, 1, 3, 0, tzinfo=SHANGHAI)
    windows = active_windows([PUSH, ceiling, SALE], now)
    assert [(w.name, w.min_instances, w.max_instances) for w in windows] == [("quiet", None, 6)]


def test_next_windows_soonest_first_and_not_yet_in_force() -> None:
    lunch = schedule(name="lunch", cron="30 11 * * 1-5", timezone="Asia/Shanghai", duration="2h", lead="15m")
    sale = schedule(name="sale", start="2026-11-11T00:00:00+08:00", end="2026-11-11T03:00:00+08:00", lead="20m")
    push = schedule(name="push", cron="0 20 * * *", timezone="Asia/Shanghai", duration="1h", lead="10m")
    now = datetime(2026, 11, 10, 19, 55, tzinfo=SHANGHAI)  # a Tuesday; the push lead is in force
    upcoming: list[Window] = next_windows([lunch, sale, push], now)
    assert [(w.name, w.applies_from) for w in upcoming] == [
        ("sale", datetime(2026, 11, 10, 23, 40, tzinfo=SHANGHAI)),  # 00:00 - 20m
        ("lunch", datetime(2026, 11, 11, 11, 15, tzinfo=SHANGHAI)),  # Wednesday 11:30 - 15m
        ("push", datetime(2026, 11, 11, 19, 50, tzinfo=SHANGHAI)),  # tomorrow's push; today's is in force
    ]


def test_next_windows_skips_finished_and_running_one_off_windows() -> None:
    assert next_windows([SALE], datetime(2026, 11, 10, 23, 45, tzinfo=SHANGHAI)) == []  # in the lead
    assert next_windows([SALE], datetime(2026, 11, 12, tzinfo=SHANGHAI)) == []  # over
    [window] = next_windows([SALE], datetime(2026, 11, 1, tzinfo=SHANGHAI))
    assert window.start == datetime(2026, 11, 11, 0, 0, tzinfo=SHANGHAI)


def test_next_window_after_a_weekend() -> None:
    weekdays = schedule(cron="30 11 * * 1-5", timezone="Asia/Shanghai", duration="2h")
    saturday = datetime(2026, 6, 6, 12, 0, tzinfo=SHANGHAI)
    [window] = next_windows([weekdays], saturday)
    assert window.start == datetime(2026, 6, 8, 11, 30, tzinfo=SHANGHAI)  # Monday
