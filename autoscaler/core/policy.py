"""The policy language: pydantic models of one service's policy YAML and of campaign files.

Models parse plain dicts (never files: reading and YAML live outside the engine). Field names are a
contract that other tools read; unknown fields are errors, so a typo like `max_instance` is caught
instead of silently ignored. Every optional setting has a documented default here.
"""

from __future__ import annotations

import re
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
    field_validator,
    model_validator,
)

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
from autoscaler.core.units import Step, format_duration, parse_duration, parse_step

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
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


def _parse_lead(value: object) -> timedelta | None:
    """`auto` (None: the app's learned start-up time plus one tick) or a duration."""
    if value is None or (isinstance(value, str) and value.strip() == "auto"):
        return None
    return parse_duration(value)


# A lead time: a duration, or `auto` (None here): the start-up time learned from Marathon plus one tick.
Lead = Annotated[
    timedelta | None,
    BeforeValidator(_parse_lead),
    PlainSerializer(lambda lead: "auto" if lead is None else format_duration(lead), return_type=str),
]
# `horizon` of a forecast: a duration or `auto` (None here), like Lead.
Horizon = Lead


def _parse_fraction(value: object) -> float:
    """`10%` -> 0.1; a bare number is a fraction (0.1)."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage like 10% or a fraction like 0.1, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
        if match:
            return float(match.group(1)) / 100.0
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"expected a percentage like 10% or a fraction like 0.1, got {value!r}")


Fraction = Annotated[
    float,
    BeforeValidator(_parse_fraction),
    PlainSerializer(lambda value: f"{value * 100:g}%", return_type=str),
]

# Marathon app ids: absolute paths of lowercase segments (Marathon's PathId rules).
_SEGMENT = r"(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])"
APP_ID_PATTERN = re.compile(rf"^(/{_SEGMENT})+$")

DEFAULT_TOLERANCE = 0.1
DEFAULT_MAX_METRIC_AGE = timedelta(minutes=3)
# How far back a `target_average` value looks (the `[1m]` of `rate(...[1m])`): instances that became
# ready (or went away) within it are only partly in the average.
DEFAULT_METRIC_WINDOW = timedelta(minutes=1)


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
    target_average: float | None = Field(default=None, gt=0)
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
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name like Asia/Shanghai)") from exc
    return name


def _require_aware(value: datetime | None, field: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{field} needs a UTC offset, like 2026-11-11T00:00:00+08:00")


class Schedule(_Model):
    """A planned window that raises the floor (and may lower the ceiling) of one app.

    Either one-off (`start` and `end`) or recurring (`cron` start times, `duration`, `timezone`).
    `lead` makes the floor apply that long before the start, so instances are ready in time.
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
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off schedule needs both start and end")
            _require_aware(self.start, "start")
            _require_aware(self.end, "end")
            if self.end <= self.start:
                raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
            if self.duration is not None or self.timezone is not None:
                raise ValueError("duration and timezone belong to recurring (cron) schedules")
        if recurring and (self.duration is None or self.duration <= timedelta(0)):
            raise ValueError("a recurring schedule needs a positive duration, like 1h")
        if self.min_instances is None and self.max_instances is None:
            raise ValueError("a schedule needs min_instances (a floor), max_instances (a ceiling), or both")
        if (
            self.min_instances is not None
            and self.max_instances is not None
            and self.min_instances > self.max_instances
        ):
            raise ValueError("the schedule's min_instances is above its max_instances")
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
    quantile: float = Field(default=DEFAULT_QUANTILE, gt=0, le=1)
    margin: Fraction = DEFAULT_MARGIN
    horizon: Horizon = None
    bucket: Duration = DEFAULT_BUCKET
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    # The forecast acts only when the previous periods agree within this spread ((q0.9 - q0.1) / q0.9 of
    # their samples); 100% lets it act however much they differ.
    max_spread: Fraction = DEFAULT_MAX_SPREAD
    # A `target_average` value at or above this (a utilisation at its cap) is not recorded as load:
    # it only says the load was at least that high. null: the averages are not utilisations.
    saturation: float | None = Field(default=DEFAULT_SATURATION, gt=0)
    load_queries: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_periods(self) -> Predictive:
        if not 0 <= self.margin <= 10:
            raise ValueError(f"margin must be between 0% and 1000%, got {self.margin * 100:g}%")
        if not 0 <= self.max_spread <= 1:
            raise ValueError(f"max_spread must be between 0% and 100%, got {self.max_spread * 100:g}%")
        if self.bucket < timedelta(seconds=10) or self.bucket > timedelta(hours=1):
            raise ValueError("bucket must be between 10s and 1h")
        if self.period < timedelta(hours=1) or self.period < self.bucket:
            raise ValueError("period must be at least 1h and at least one bucket")
        if self.lookback < self.period * self.min_samples:
            raise ValueError(
                f"lookback ({format_duration(self.lookback)}) must cover min_samples ({self.min_samples}) "
                f"periods of {format_duration(self.period)}"
            )
        if self.lookback > timedelta(days=60):
            raise ValueError("lookback is at most 60d (the history is kept in memory)")
        if self.horizon is not None and not timedelta(0) < self.horizon <= MAX_HORIZON:
            raise ValueError(f"horizon must be auto or between 1s and {format_duration(MAX_HORIZON)}")
        return self


class Policy(_Model):
    """Everything that decides the instance count of one Marathon app."""

    app: str
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=0)
    metrics: tuple[MetricSpec, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    scale_up: ScaleUpRule = ScaleUpRule()
    scale_down: ScaleDownRule = ScaleDownRule()
    tolerance: float = Field(default=DEFAULT_TOLERANCE, ge=0, lt=1)
    max_metric_age: Duration = DEFAULT_MAX_METRIC_AGE
    metric_window: Duration = DEFAULT_METRIC_WINDOW
    force: bool = False  # send ?force=true to Marathon; cancels running deployments. Opt-in only.
    predictive: Predictive | None = None

    _check_app = field_validator("app")(validate_app_id)

    @model_validator(mode="after")
    def _check_bounds(self) -> Policy:
        if self.min_instances > self.max_instances:
            raise ValueError(f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances})")
        names = [metric.name for metric in self.metrics]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(duplicates)}")
        if self.predictive is not None:
            unknown = sorted(set(self.predictive.load_queries) - set(names))
            if unknown:
                raise ValueError(f"predictive.load_queries names no metric of this policy: {', '.join(unknown)}")
        for schedule in self.schedules:
            if schedule.min_instances is not None and schedule.min_instances > self.max_instances:
                raise ValueError(
                    f"schedule {schedule.name!r} has a floor of {schedule.min_instances}, above "
                    f"max_instances ({self.max_instances})"
                )
            if schedule.max_instances is not None and schedule.max_instances < self.min_instances:
                raise ValueError(
                    f"schedule {schedule.name!r} has a ceiling of {schedule.max_instances}, below "
                    f"min_instances ({self.min_instances})"
                )
        return self

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
        for app_id, floor in value.items():
            validate_app_id(app_id)
            if isinstance(floor, bool) or floor < 0:
                raise ValueError(f"the floor for {app_id} must be a count of 0 or more")
        return value

    @model_validator(mode="after")
    def _check_window(self) -> Campaign:
        _require_aware(self.start, "start")
        _require_aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
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
