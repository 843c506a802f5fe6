"""The policy language: pydantic models of one service's policy YAML and of campaign files.

Models parse plain dicts (never files: reading and YAML live outside the engine). Field names are a
contract that other tools read; unknown fields are errors, so a typo like `max_instance` is caught
instead of silently ignored. Every optional setting has a documented default here.

What a person writes is what it means: durations carry a unit (`20` is refused, `20m` is not), every
fraction takes `10%` as well as `0.1`, and a cron schedule names its time zone (or the site's,
`timezone` in `_defaults.yaml`). A check that involves several fields reports its error at the field
it is about (`schedules.2.min_instances`), so a file loader can point at that line.

This module is the language's public face: the field types live in `core.fields`, the schedule and
campaign windows in `core.windows`, and every model is imported from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from autoscaler.core.appid import validate_app_id
from autoscaler.core.fallback_policy import DEFAULT_FALLBACK_AFTER, Fallback, fallback_errors
from autoscaler.core.fields import AS_PERCENT, Duration, Horizon, MinStep, Model, StepLimits, field_errors, fraction
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
from autoscaler.core.units import Step, format_duration
from autoscaler.core.windows import Campaign, Schedule, check_timezone

__all__ = [
    "DEFAULT_FALLBACK_AFTER",
    "DEFAULT_MAX_METRIC_AGE",
    "DEFAULT_METRIC_WINDOW",
    "DEFAULT_TOLERANCE",
    "Campaign",
    "Fallback",
    "MetricSpec",
    "Policy",
    "Predictive",
    "ScaleDownRule",
    "ScaleRule",
    "ScaleUpRule",
    "Schedule",
    "SteadyFall",
    "substitute",
    "with_campaigns",
]

DEFAULT_TOLERANCE = 0.1
DEFAULT_MAX_METRIC_AGE = timedelta(minutes=3)
# How far back a `target_average` value looks (the `[1m]` of `rate(...[1m])`): instances that became
# ready (or went away) within it are only partly in the average.
DEFAULT_METRIC_WINDOW = timedelta(minutes=1)


class MetricSpec(Model):
    """One metric of a policy and the target that turns its value into an instance count."""

    name: str = Field(min_length=1)
    source: Literal["prometheus", "graphite"]
    query: str = Field(min_length=1)
    # Often a utilisation, so it may be written as a percentage (`60%`) as well as a number.
    target_average: Annotated[float, fraction(low=0, low_open=True)] | None = None
    target_per_instance: float | None = Field(default=None, gt=0)
    # Which series of a grouped result is this app's: Prometheus labels that must match, or the
    # Graphite series name. ${app}, ${app_name} and ${app_dotted} are replaced per app.
    series: dict[str, str] | str | None = None
    max_age: Duration | None = None
    # A `target_average` value at or above this is a utilisation at its cap: the load is at least the
    # cap times the instances ready at the last tick (see core.rules). null: the average has no cap.
    # Only a target below it makes the value a utilisation: a queue of 5 per instance is unaffected.
    saturation: Annotated[float, fraction(low=0, low_open=True)] | None = DEFAULT_SATURATION

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


class ScaleRule(Model):
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


class SteadyFall(ScaleRule):
    """How a scale-down goes while the load is falling (or flat) steadily (see `core.steady`).

    The load is steady when, for at least `window`, no metric's load (its proposal before rounding,
    in instances) rose more than `tolerance` above its lowest since, none dropped by more than
    `tolerance` from one tick to the next, and none collapsed (halved in one tick) without coming
    back. Then the scale-down looks back `stabilization`, waits `cooldown` and sheds up to `max_step`
    instead of the scale-down's own settings: a load that changes smoothly can be followed closely;
    a bursty one never is steady, and keeps the careful settings.
    """

    window: Duration = timedelta(minutes=10)
    tolerance: Annotated[float, fraction(low=0, high=1, low_open=True, high_open=True), AS_PERCENT] = 0.15
    cooldown: Duration = timedelta(minutes=1)
    max_step: StepLimits = (Step(percent=100.0),)
    stabilization: Duration = timedelta(minutes=1)


class ScaleDownRule(ScaleRule):
    """Scale-down defaults: wait for 10 min of lower recommendations, shed at most 20 % per action and
    at least `min_step` (10 %: a smaller drop is not worth a deployment), 10 min between actions;
    faster while the load falls steadily (`steady`, null: never)."""

    cooldown: Duration = timedelta(minutes=10)
    max_step: StepLimits = (Step(percent=20.0),)
    stabilization: Duration = timedelta(minutes=10)
    min_step: MinStep = Step(percent=10.0)
    steady: SteadyFall | None = SteadyFall()

    def shedding(self, steady: bool) -> ScaleRule:
        """The settings a scale-down goes by: the steady ones while the load falls steadily."""
        return self.steady if steady and self.steady is not None else self


class Predictive(Model):
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
    quantile: Annotated[float, fraction(low=0, high=1, low_open=True)] = DEFAULT_QUANTILE
    margin: Annotated[float, fraction(low=0, high=10), AS_PERCENT] = DEFAULT_MARGIN
    horizon: Horizon = None
    bucket: Duration = DEFAULT_BUCKET
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    # The forecast acts only when the previous periods agree within this spread ((q0.9 - q0.1) / q0.9 of
    # their samples); 100% lets it act however much they differ.
    max_spread: Annotated[float, fraction(low=0, high=1), AS_PERCENT] = DEFAULT_MAX_SPREAD
    # A `target_average` value at or above this (a utilisation at its cap) is not recorded as load:
    # it only says the load was at least that high. null: the averages are not utilisations.
    saturation: Annotated[float, fraction(low=0, low_open=True)] | None = DEFAULT_SATURATION
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
            raise field_errors("Predictive", errors)
        return self


class Policy(Model):
    """Everything that decides the instance count of one Marathon app."""

    app: str
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=0)
    metrics: tuple[MetricSpec, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    scale_up: ScaleUpRule = ScaleUpRule()
    scale_down: ScaleDownRule = ScaleDownRule()
    tolerance: Annotated[float, fraction(low=0, high=1, high_open=True)] = DEFAULT_TOLERANCE
    max_metric_age: Duration = DEFAULT_MAX_METRIC_AGE
    metric_window: Duration = DEFAULT_METRIC_WINDOW
    force: bool = False  # send ?force=true to Marathon; cancels running deployments. Opt-in only.
    predictive: Predictive | None = None
    fallback: Fallback | None = None  # what to rise to while every metric is missing (core.fallback)
    # The IANA zone of every cron schedule that names none; usually set once, in `_defaults.yaml`.
    timezone: str | None = None

    _check_app = field_validator("app")(validate_app_id)
    _check_tz = field_validator("timezone")(check_timezone)

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
            check_timezone(zone)
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
        errors += fallback_errors(
            self.fallback,
            has_metrics=bool(self.metrics),
            has_predictive=self.predictive is not None,
            schedules=self.schedules,
            max_instances=self.max_instances,
        )
        if errors:
            raise field_errors("Policy", errors)
        return self

    def stabilization_window(self) -> timedelta:
        """How much History the engine needs: the longest stabilisation window or the metric window."""
        steady = self.scale_down.steady
        longest = max(self.scale_down.stabilization, self.scale_up.stabilization, self.metric_window)
        return longest if steady is None else max(longest, steady.stabilization)


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
