"""The policy language: pydantic models of one service's policy YAML and of campaign files.

Models parse plain dicts (never files: reading and YAML live outside the engine). Field names are a
contract that other tools read; unknown fields are errors, so a typo like `max_instance` is caught
instead of silently ignored. Every optional setting has a documented default here.

What a person writes is what it means: durations carry a unit (`20` is refused, `20m` is not), every
fraction takes `10%` as well as `0.1`, and a cron schedule names its time zone (or the site's,
`timezone` in `_defaults.yaml`). A check that involves several fields reports its error at the field
it is about (`schedules.2.min_instances`), so a file loader can point at that line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from autoscaler.core.forecast import (
    DEFAULT_BUCKET,
    DEFAULT_LOOKBACK,
    DEFAULT_MARGIN,
    DEFAULT_MAX_SPREAD,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_PERIOD,
    DEFAULT_QUANTILE,
    DEFAULT_SATURATION,
    MAX_HORIZON,
)
from autoscaler.core.units import (
    FRACTION_FORMS,
    Step,
    format_duration,
    parse_duration,
    parse_fraction,
    parse_step,
)


def _duration(value: object, info: ValidationInfo) -> timedelta:
    """A duration with its unit; a bare number (`lead: 20`: seconds or minutes?) names the field."""
    try:
        return parse_duration(value, bare_seconds=False)
    except ValueError as exc:
        raise ValueError(f"{info.field_name}: {exc}") from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _parse_steps(value: object) -> tuple[Step, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("max_step needs at least one count or percentage")
    return tuple(parse_step(item) for item in items)


StepLimits = Annotated[
    tuple[Step, ...],
    BeforeValidator(_parse_steps),
    PlainSerializer(lambda steps: [str(step) for step in steps], return_type=list[str]),
]

MinStep = Annotated[Step, BeforeValidator(parse_step), PlainSerializer(str, return_type=str)]


def _parse_lead(value: object, info: ValidationInfo) -> timedelta | None:
    """`auto` (None: the app's learned start-up time plus one tick) or a duration."""
    if value is None or (isinstance(value, str) and value.strip() == "auto"):
        return None
    try:
        return parse_duration(value, bare_seconds=False)
    except ValueError as exc:
        raise ValueError(f"{info.field_name} (a duration, or auto): {exc}") from None


# A lead time: a duration, or `auto` (None here): the start-up time learned from Marathon plus one tick.
Lead = Annotated[
    timedelta | None,
    BeforeValidator(_parse_lead),
    PlainSerializer(lambda lead: "auto" if lead is None else format_duration(lead), return_type=str),
]
# `horizon` of a forecast: a duration or `auto` (None here), like Lead.
Horizon = Lead


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _fraction(*, low: float, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Any:
    """A fraction field written `10%` or `0.1`, within [low, high] (an open end excludes its bound).

    Parsing and range share one message that names the field, the range and the accepted forms.
    """
    shown_low = "0" if low == 0 else _percent(low)
    above = f"above {shown_low}" if low_open else f"at least {shown_low}"
    below = "" if high is None else f" and {'below' if high_open else 'at most'} {_percent(high)}"
    expected = f"{above}{below}, written as {FRACTION_FORMS}"

    def parse(value: object, info: ValidationInfo) -> float:
        try:
            number = parse_fraction(value)
        except ValueError:
            raise ValueError(f"{info.field_name} must be {expected}; got {value!r}") from None
        too_low = number <= low if low_open else number < low
        too_high = high is not None and (number >= high if high_open else number > high)
        if too_low or too_high:
            raise ValueError(f"{info.field_name} must be {expected}; got {value!r}")
        return number

    return BeforeValidator(parse)


# `margin` and `max_spread` read as percentages; they are shown that way.
_AS_PERCENT = PlainSerializer(_percent, return_type=str)


def _field_errors(title: str, errors: Sequence[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """A ValidationError whose errors sit at the fields they are about (not at the model's top), so
    that a file loader reports the line of that field."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("value_error", "{message}", {"message": message}), loc=loc, input=value
        )
        for loc, message, value in errors
    ]
    return ValidationError.from_exception_data(title, details)


# Marathon app ids: absolute paths of lowercase segments (Marathon's PathId rules).
_SEGMENT = r"(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
APP_ID_PATTERN = re.compile(rf"^(/{_SEGMENT})+$")

DEFAULT_TOLERANCE = 0.1
DEFAULT_MAX_METRIC_AGE = timedelta(minutes=3)
# How far back a `target_average` value looks (the `[1m]` of `rate(...[1m])`): instances that became
# ready (or went away) within it are only partly in the average.
DEFAULT_METRIC_WINDOW = timedelta(minutes=1)
# How long every metric of an app must have been missing before its `fallback` applies.
DEFAULT_FALLBACK_AFTER = timedelta(minutes=2)


def validate_app_id(app_id: str) -> str:
    """Marathon's id rules: `/group/app`, lowercase letters, digits, `-` and `.` inside segments."""
    if not APP_ID_PATTERN.fullmatch(app_id):  # match() would let a trailing newline through
        raise ValueError(
            f"{app_id!r} is not a Marathon app id (absolute path like /shop/api; segments of "
            "lowercase letters, digits, '-' and '.')"
        )
    return app_id


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Model):
    """One metric of a policy and the target that turns its value into an instance count."""

    name: str = Field(min_length=1)
    source: Literal["prometheus", "graphite"]
    query: str = Field(min_length=1)
    # Often a utilisation, so it may be written as a percentage (`60%`) as well as a number.
    target_average: Annotated[float, _fraction(low=0, low_open=True)] | None = None
    target_per_instance: float | None = Field(default=None, gt=0)
    # Which series of a grouped result is this app's: Prometheus labels that must match, or the
    # Graphite series name. ${app}, ${app_name} and ${app_dotted} are replaced per app.
    series: dict[str, str] | str | None = None
    max_age: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self) -> MetricSpec:
        if (self.target_average is None) == (self.target_per_instance is None):
            raise ValueError(
                "give exactly one of target_average (the query yields an average per instance) "
                "or target_per_instance (the query yields a total for the app)"
            )
        return self

    @property
    def kind(self) -> Literal["average", "per_instance"]:
        return "average" if self.target_average is not None else "per_instance"

    @property
    def target(self) -> float:
        value = self.target_average if self.target_average is not None else self.target_per_instance
        assert value is not None
        return value


class ScaleRule(_Model):
    """Limits for one direction: how often, how far, and how long to look back before acting."""

    cooldown: Duration = timedelta(0)
    max_step: StepLimits = (Step(percent=100.0),)
    stabilization: Duration = timedelta(0)

    def step_size(self, current: int) -> int:
        """The largest move allowed from `current`: the most permissive of the listed limits."""
        return max(step.size(current) for step in self.max_step)


class ScaleUpRule(ScaleRule):
    """Scale-up defaults: act quickly, at most double (or +4) per action, 30 s between actions."""

    cooldown: Duration = timedelta(seconds=30)
    max_step: StepLimits = (Step(percent=100.0), Step(count=4))


class ScaleDownRule(ScaleRule):
    """Scale-down defaults: wait for 10 min of lower recommendations, shed at most 20 % per action and
    at least `min_step` (10 %: a smaller drop is not worth a deployment), 10 min between actions."""

    cooldown: Duration = timedelta(minutes=10)
    max_step: StepLimits = (Step(percent=20.0),)
    stabilization: Duration = timedelta(minutes=10)
    min_step: MinStep = Step(percent=10.0)


def _check_timezone(name: str | None) -> str | None:
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


class Schedule(_Model):
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

    _check_tz = field_validator("timezone")(_check_timezone)

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
    def _check_shape(self) -> Schedule:
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
            raise _field_errors("Schedule", errors)
        return self


class Predictive(_Model):
    """Seasonal forecast of the app's load (see `core.forecast`): the load over the next `horizon`
    (default: the learned start-up time plus one tick) on each previous `period` within `lookback`,
    its `quantile` raised by `margin`, proposes ceil(load / target) beside the metrics' own proposals,
    when those periods agree within `max_spread`.

    `mode: forecast_only` (the default) computes and shows the forecast but never acts on it; `on`
    lets the higher of the reactive and the forecast proposal win. `load_queries` gives, per
    `target_average` metric, a query for the load itself in instance units, so that its history can be
    loaded from the source at start (an average alone cannot say what load it was).
    """

    mode: Literal["forecast_only", "on"] = "forecast_only"
    lookback: Duration = DEFAULT_LOOKBACK
    period: Duration = DEFAULT_PERIOD
    quantile: Annotated[float, _fraction(low=0, high=1, low_open=True)] = DEFAULT_QUANTILE
    margin: Annotated[float, _fraction(low=0, high=10), _AS_PERCENT] = DEFAULT_MARGIN
    horizon: Horizon = None
    bucket: Duration = DEFAULT_BUCKET
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    # The forecast acts only when the previous periods agree within this spread ((q0.9 - q0.1) / q0.9 of
    # their samples); 100% lets it act however much they differ.
    max_spread: Annotated[float, _fraction(low=0, high=1), _AS_PERCENT] = DEFAULT_MAX_SPREAD
    # A `target_average` value at or above this (a utilisation at its cap) is not recorded as load:
    # it only says the load was at least that high. null: the averages are not utilisations.
    saturation: Annotated[float, _fraction(low=0, low_open=True)] | None = DEFAULT_SATURATION
    load_queries: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_periods(self) -> Predictive:
        errors: list[tuple[tuple[str | int, ...], str, object]] = []
        if self.bucket < timedelta(seconds=10) or self.bucket > timedelta(hours=1):
            errors.append((("bucket",), "bucket must be between 10s and 1h", format_duration(self.bucket)))
        if self.period < timedelta(hours=1) or self.period < self.bucket:
            errors.append(
                (("period",), "period must be at least 1h and at least one bucket", format_duration(self.period))
            )
        if self.lookback < self.period * self.min_samples:
            message = (
                f"lookback ({format_duration(self.lookback)}) must cover min_samples ({self.min_samples}) "
                f"periods of {format_duration(self.period)}"
            )
            errors.append((("lookback",), message, format_duration(self.lookback)))
        if self.lookback > timedelta(days=60):
            message = "lookback is at most 60d (the history is kept in memory)"
            errors.append((("lookback",), message, format_duration(self.lookback)))
        if self.horizon is not None and not timedelta(0) < self.horizon <= MAX_HORIZON:
            message = f"horizon must be auto or between 1s and {format_duration(MAX_HORIZON)}"
            errors.append((("horizon",), message, format_duration(self.horizon)))
        if errors:
            raise _field_errors("Predictive", errors)
        return self


def _parse_fallback_instances(value: object) -> object:
    if isinstance(value, str) and value.strip() in ("forecast", "schedule"):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"instances is a count (like 10), forecast or schedule; got {value!r}")
    if value < 0:
        raise ValueError(f"instances is a count of 0 or more, got {value}")
    return value


class Fallback(_Model):
    """What an app rises to when every one of its metrics has been missing for `after` (`core.fallback`):
    at least `instances`, a count, `forecast` (the predictive forecast) or `schedule` (the highest
    floor of its windows in force or due within a day). A floor: it never lowers the count."""

    after: Duration = DEFAULT_FALLBACK_AFTER
    instances: Annotated[int | Literal["forecast", "schedule"], BeforeValidator(_parse_fallback_instances)]


class Policy(_Model):
    """Everything that decides the instance count of one Marathon app."""

    app: str
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=0)
    metrics: tuple[MetricSpec, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    scale_up: ScaleUpRule = ScaleUpRule()
    scale_down: ScaleDownRule = ScaleDownRule()
    tolerance: Annotated[float, _fraction(low=0, high=1, high_open=True)] = DEFAULT_TOLERANCE
    max_metric_age: Duration = DEFAULT_MAX_METRIC_AGE
    metric_window: Duration = DEFAULT_METRIC_WINDOW
    force: bool = False  # send ?force=true to Marathon; cancels running deployments. Opt-in only.
    predictive: Predictive | None = None
    fallback: Fallback | None = None
    # The IANA zone of every cron schedule that names none; usually set once, in `_defaults.yaml`.
    timezone: str | None = None

    _check_app = field_validator("app")(validate_app_id)
    _check_tz = field_validator("timezone")(_check_timezone)

    @model_validator(mode="before")
    @classmethod
    def _site_timezone(cls, data: Any) -> Any:
        """Give the policy's `timezone` to each cron schedule that names none (before they validate,
        so a schedule without either is an error at its own line)."""
        if not isinstance(data, Mapping):
            return data
        zone, schedules = data.get("timezone"), data.get("schedules")
        if not isinstance(zone, str) or not isinstance(schedules, list | tuple):
            return data
        try:
            _check_timezone(zone)
        except ValueError:
            return data  # reported at `timezone` itself
        filled = [
            {**item, "timezone": zone}
            if isinstance(item, Mapping) and item.get("cron") is not None and item.get("timezone") is None
            else item
            for item in schedules
        ]
        return {**data, "schedules": filled}

    @model_validator(mode="after")
    def _check_bounds(self) -> Policy:
        errors: list[tuple[tuple[str | int, ...], str, object]] = []
        if self.min_instances > self.max_instances:
            message = f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})"
            errors.append((("min_instances",), message, self.min_instances))
        seen: set[str] = set()
        for index, metric in enumerate(self.metrics):
            if metric.name in seen:
                message = f"metric names must be unique; {metric.name!r} is repeated"
                errors.append((("metrics", index, "name"), message, metric.name))
            seen.add(metric.name)
        if self.predictive is not None:
            for name in self.predictive.load_queries:
                if name not in seen:
                    message = f"predictive.load_queries names no metric of this policy: {name}"
                    errors.append((("predictive", "load_queries", name), message, name))
        for index, schedule in enumerate(self.schedules):
            if schedule.min_instances is not None and schedule.min_instances > self.max_instances:
                message = (
                    f"schedule {schedule.name!r} has a floor of {schedule.min_instances}, above "
                    f"max_instances ({self.max_instances})"
                )
                errors.append((("schedules", index, "min_instances"), message, schedule.min_instances))
            if schedule.max_instances is not None and schedule.max_instances < self.min_instances:
                message = (
                    f"schedule {schedule.name!r} has a ceiling of {schedule.max_instances}, below "
                    f"min_instances ({self.min_instances})"
                )
                errors.append((("schedules", index, "max_instances"), message, schedule.max_instances))
        errors.extend(self._fallback_errors())
        if errors:
            raise _field_errors("Policy", errors)
        return self

    def _fallback_errors(self) -> list[tuple[tuple[str | int, ...], str, object]]:
        """A fallback replaces missing metrics: it needs metrics, and the source it names."""
        if self.fallback is None:
            return []
        instances = self.fallback.instances
        where: tuple[str | int, ...] = ("fallback", "instances")
        if not self.metrics:
            return [(("fallback",), "a fallback stands in for missing metrics: the policy has none", None)]
        if instances == "forecast" and self.predictive is None:
            return [(where, "instances: forecast needs the policy's predictive block (its learned history)", instances)]
        if instances == "schedule" and not any(s.min_instances is not None for s in self.schedules):
            return [(where, "instances: schedule needs a schedule with min_instances", instances)]
        if isinstance(instances, int) and instances > self.max_instances:
            message = f"the fallback of {instances} is above max_instances ({self.max_instances})"
            return [(where, message, instances)]
        return []

    def stabilization_window(self) -> timedelta:
        """How much History the engine needs: the longest stabilisation window or the metric window."""
        return max(self.scale_down.stabilization, self.scale_up.stabilization, self.metric_window)


class Campaign(_Model):
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
            raise _field_errors("Campaign", errors)
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
            raise _field_errors("Campaign", errors)
        return self

    def schedule_for(self, app_id: str) -> Schedule:
        return Schedule(
            name=f"campaign:{self.name}",
            start=self.start,
            end=self.end,
            lead=self.lead,
            min_instances=self.apps[app_id],
        )


def with_campaigns(policy: Policy, campaigns: list[Campaign]) -> Policy:
    """The policy with every campaign that names its app added as a one-off schedule floor.

    Raises ValueError when a campaign's floor is above the policy's max_instances.
    """
    extra = [campaign.schedule_for(policy.app) for campaign in campaigns if policy.app in campaign.apps]
    if not extra:
        return policy
    # Re-validate from the field values themselves: a JSON round trip would round durations to whole
    # seconds (500ms -> 0s) and percentages to six digits.
    data: dict[str, Any] = dict(policy)
    data["schedules"] = (*policy.schedules, *extra)
    return Policy.model_validate(data)


def substitute(template: str, app_id: str) -> str:
    """Replace ${app}, ${app_name} and ${app_dotted} in a query or series selector."""
    segments = app_id.strip("/").split("/")
    return (
        template.replace("${app}", app_id)
        .replace("${app_name}", segments[-1])
        .replace("${app_dotted}", ".".join(segments))
    )
