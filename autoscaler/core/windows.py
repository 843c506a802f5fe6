"""The planned windows of the policy language: an app's schedules and the campaigns of many apps.

A schedule raises an app's floor (and may lower its ceiling) for a window, one-off or recurring
(cron start times read in an IANA time zone, never a silent UTC); a campaign is one planned event
for many apps, a floor per app, which the loader turns into a one-off schedule of each app it names
(`core.policy.with_campaigns`). When a window is in force is `core.schedule`'s arithmetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import Field, field_validator, model_validator

from autoscaler.core.appid import validate_app_id
from autoscaler.core.fields import Duration, Lead, Model, field_errors
from autoscaler.core.units import format_duration

__all__ = ["Campaign", "Schedule", "check_timezone"]


def check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    if not name.strip():
        raise ValueError("timezone is empty (use an IANA name like Asia/Shanghai)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name like Asia/Shanghai)") from exc
    return name


_UNAWARE = "{field} needs a UTC offset, like 2026-11-11T00:00:00+08:00"
_NEEDS_ZONE = (
    "a cron schedule needs a timezone (an IANA name like Asia/Shanghai): set it on the schedule, "
    "or site-wide as `timezone` in _defaults.yaml"
)


class Schedule(Model):
    """A planned window that raises the floor (and may lower the ceiling) of one app.

    Either one-off (`start` and `end`, each with its UTC offset) or recurring (`cron` start times,
    `duration`, and the IANA `timezone` the cron times are read in: the schedule's own, else the
    policy's, which usually comes from `_defaults.yaml`; never a silent UTC).
    `lead` makes the floor apply that long before the start, so instances are ready in time.
    `ramp_up` raises the floor in steps over that time, ending when it applies (`core.ramp`);
    `ramp_down` lowers it in steps over that time after `end`.
    """

    name: str = Field(min_length=1)
    start: datetime | None = None
    end: datetime | None = None
    cron: str | None = None
    timezone: str | None = None
    duration: Duration | None = None
    lead: Lead = timedelta(0)
    min_instances: int | None = Field(default=None, ge=0)
    max_instances: int | None = Field(default=None, ge=0)
    ramp_up: Duration = timedelta(0)
    ramp_down: Duration = timedelta(0)

    _check_tz = field_validator("timezone")(check_timezone)

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            CronSim(value, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
        except (CronSimError, ValueError, KeyError) as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> Schedule:  # noqa: PLR0912 - one branch per rule of a schedule's shape, each with its message
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None
        if one_off and recurring:
            raise ValueError("a schedule is either one-off (start, end) or recurring (cron), not both")
        if not one_off and not recurring:
            raise ValueError("a schedule needs start and end, or cron and duration")
        errors: list[tuple[tuple[str | int, ...], str, object]] = []
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off schedule needs both start and end")
            for name, moment in (("start", self.start), ("end", self.end)):
                if moment.utcoffset() is None:
                    errors.append(((name,), _UNAWARE.format(field=name), moment.isoformat()))
            if not errors and self.end <= self.start:
                message = f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
                errors.append((("end",), message, self.end.isoformat()))
            for name in ("duration", "timezone"):
                if getattr(self, name) is not None:
                    errors.append(((name,), f"{name} belongs to recurring (cron) schedules", str(getattr(self, name))))
        if recurring:
            if self.duration is None or self.duration <= timedelta(0):
                errors.append((("duration",), "a recurring schedule needs a positive duration, like 1h", None))
            if self.timezone is None:
                errors.append((("timezone",), _NEEDS_ZONE, None))
        if self.min_instances is None and self.max_instances is None:
            raise ValueError("a schedule needs min_instances (a floor), max_instances (a ceiling), or both")
        if (
            self.min_instances is not None
            and self.max_instances is not None
            and self.min_instances > self.max_instances
        ):
            message = (
                f"the schedule's min_instances ({self.min_instances}) is above its max_instances ({self.max_instances})"
            )
            errors.append((("min_instances",), message, self.min_instances))
        for name in ("ramp_up", "ramp_down"):
            if getattr(self, name) > timedelta(0) and self.min_instances is None:
                message = f"{name} ramps a floor: it needs min_instances"
                errors.append(((name,), message, format_duration(getattr(self, name))))
        if errors:
            raise field_errors("Schedule", errors)
        return self


class Campaign(Model):
    """One planned event for many apps: a floor per app between start and end (with lead)."""

    name: str = Field(min_length=1)
    start: datetime
    end: datetime
    lead: Lead = timedelta(0)
    apps: dict[str, int] = Field(min_length=1)

    @field_validator("apps")
    @classmethod
    def _check_apps(cls, value: dict[str, int]) -> dict[str, int]:
        errors: list[tuple[tuple[str | int, ...], str, object]] = []
        for app_id, floor in value.items():
            try:
                validate_app_id(app_id)
            except ValueError as exc:
                errors.append(((app_id,), str(exc), app_id))
            if isinstance(floor, bool) or floor < 0:
                errors.append(((app_id,), f"the floor for {app_id} must be a count of 0 or more", floor))
        if errors:
            raise field_errors("Campaign", errors)
        return value

    @model_validator(mode="after")
    def _check_window(self) -> Campaign:
        errors: list[tuple[tuple[str | int, ...], str, object]] = [
            ((name,), _UNAWARE.format(field=name), moment.isoformat())
            for name, moment in (("start", self.start), ("end", self.end))
            if moment.utcoffset() is None
        ]
        if not errors and self.end <= self.start:
            message = f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            errors.append((("end",), message, self.end.isoformat()))
        if errors:
            raise field_errors("Campaign", errors)
        return self

    def schedule_for(self, app_id: str) -> Schedule:
        return Schedule(
            name=f"campaign:{self.name}",
            start=self.start,
            end=self.end,
            lead=self.lead,
            min_instances=self.apps[app_id],
        )
