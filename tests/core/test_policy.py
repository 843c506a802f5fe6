"""The policy language: which dicts are policies and campaigns, and what a rejection says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from autoscaler.core.policy import (
    DEFAULT_MAX_METRIC_AGE,
    DEFAULT_TOLERANCE,
    Campaign,
    Policy,
    Schedule,
    substitute,
    with_campaigns,
)
from autoscaler.core.units import Step

CPU = {"name": "cpu", "source": "prometheus", "query": "avg(cpu)", "target_average": 0.6}
BACKLOG = {"name": "backlog", "source": "graphite", "query": "sumSeries(q)", "target_per_instance": 500}
ONE_OFF = {
    "name": "sale",
    "start": "2026-11-11T00:00:00+08:00",
    "end": "2026-11-11T03:00:00+08:00",
    "min_instances": 8,
}
RECURRING = {"name": "push", "cron": "0 20 * * *", "timezone": "Asia/Shanghai", "duration": "1h", "min_instances": 5}


def policy(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"app": "/shop/api", "min_instances": 2, "max_instances": 10, "metrics": [CPU]}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def rejection(model: type[Policy] | type[Campaign] | type[Schedule], data: dict[str, Any]) -> str:
    """Every error of the validation as `field.path: message` lines."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return "\n".join(
        ".".join(str(part) for part in error["loc"]) + ": " + error["msg"] for error in info.value.errors()
    )


VALID_POLICIES = [
    policy(),
    policy(metrics=[]),  # schedules and bounds only
    policy(min_instances=0, max_instances=0),
    policy(min_instances=5, max_instances=5),
    policy(metrics=[CPU, BACKLOG]),
    policy(schedules=[ONE_OFF, RECURRING]),
    policy(schedules=[{**ONE_OFF, "min_instances": 10}]),  # floor == max_instances
    policy(schedules=[{**RECURRING, "min_instances": None, "max_instances": 2}]),  # ceiling == min_instances
    policy(app="/a"),
    policy(app="/shop/order-worker.v2"),
    policy(app="/group/sub.group/app-1"),
    policy(scale_up={"max_step": ["100%", 4]}, scale_down={"max_step": 3}),
    policy(tolerance=0),
    policy(max_metric_age="90s", force=True),
    policy(metrics=[{**CPU, "series": {"marathon_app": "${app}"}, "max_age": "1m"}]),
    policy(metrics=[{**BACKLOG, "series": "${app_name}"}]),
]


@pytest.mark.parametrize("data", VALID_POLICIES)
def test_valid_policies(data: dict[str, Any]) -> None:
    parsed = Policy.model_validate(data)
    assert parsed.app == data["app"]
    assert parsed.max_instances == data["max_instances"]


INVALID_POLICIES = [
    # (data, field that must be named, words the message must contain)
    (policy(min_instances=11), "min_instances", "min_instances (11) is above max_instances (10)"),
    (policy(min_instances=-1), "min_instances", "greater than or equal to 0"),
    (policy(max_instances=None), "max_instances", "Field required"),
    (policy(app=None), "app", "Field required"),
    (policy(metrics=[{**CPU, "target_per_instance": 5}]), "metrics.0", "exactly one of target_average"),
    (policy(metrics=[{k: v for k, v in CPU.items() if k != "target_average"}]), "metrics.0", "exactly one"),
    (policy(metrics=[{**CPU, "target_average": 0}]), "metrics.0.target_average", "target_average must be above 0"),
    (policy(metrics=[{**CPU, "target_average": "-5%"}]), "metrics.0.target_average", "must be above 0"),
    (policy(metrics=[{**BACKLOG, "target_per_instance": 0}]), "metrics.0.target_per_instance", "greater than 0"),
    (policy(metrics=[{**CPU, "source": "influx"}]), "metrics.0.source", "prometheus"),
    (policy(metrics=[{**CPU, "query": ""}]), "metrics.0.query", "at least 1"),
    (policy(metrics=[{**CPU, "max_age": "5 minutes"}]), "metrics.0.max_age", "duration"),
    (policy(metrics=[CPU, {**BACKLOG, "name": "cpu"}]), "metrics.1.name", "metric names must be unique; 'cpu'"),
    (policy(max_metric_age="soon"), "max_metric_age", "duration"),
    (policy(max_metric_age="-3m"), "max_metric_age", "duration"),
    (policy(scale_up={"cooldown": "30 seconds"}), "scale_up.cooldown", "duration"),
    (policy(scale_down={"stabilization": "5x"}), "scale_down.stabilization", "duration"),
    (policy(scale_down={"max_step": "0%"}), "scale_down.max_step", "above 0%"),
    (policy(scale_down={"max_step": 0}), "scale_down.max_step", "at least 1"),
    (policy(scale_up={"max_step": []}), "scale_up.max_step", "at least one"),
    (policy(scale_up={"max_steps": 4}), "scale_up.max_steps", "Extra inputs"),
    (policy(tolerance=1), "tolerance", "tolerance must be at least 0 and below 100%"),
    (policy(tolerance="100%"), "tolerance", "below 100%"),
    (policy(tolerance=-0.1), "tolerance", "at least 0"),
    (policy(tolerance="ten percent"), "tolerance", "written as a percentage like 10% or a number like 0.1"),
    (policy(max_instance=10), "max_instance", "Extra inputs are not permitted"),  # typo of max_instances
    (policy(app="shop/api"), "app", "not a Marathon app id"),
    (policy(app="/Shop/API"), "app", "not a Marathon app id"),
    (policy(app="/shop//api"), "app", "not a Marathon app id"),
    (policy(app="/shop/-api"), "app", "not a Marathon app id"),
    (policy(app="/shop/api/"), "app", "not a Marathon app id"),
    (policy(app="/shop/a_b"), "app", "not a Marathon app id"),
    (
        policy(schedules=[{**ONE_OFF, "min_instances": 11}]),
        "schedules.0.min_instances",
        "schedule 'sale' has a floor of 11, above max_instances (10)",
    ),
    (
        policy(schedules=[{**RECURRING, "min_instances": None, "max_instances": 1}]),
        "schedules.0.max_instances",
        "schedule 'push' has a ceiling of 1, below min_instances (2)",
    ),
    (policy(schedules=[{**RECURRING, "cron": "0 25 * * *"}]), "schedules.0.cron", "invalid cron expression"),
    (policy(schedules=[{**RECURRING, "cron": "every evening"}]), "schedules.0.cron", "invalid cron expression"),
    (policy(schedules=[{**RECURRING, "timezone": "Asia/Beijing"}]), "schedules.0.timezone", "unknown timezone"),
    (policy(schedules=[{**RECURRING, "timezone": "../etc/passwd"}]), "schedules.0.timezone", "unknown timezone"),
    (policy(schedules=[{**RECURRING, "duration": None}]), "schedules.0.duration", "positive duration"),
    (policy(schedules=[{**RECURRING, "duration": "0s"}]), "schedules.0.duration", "positive duration"),
    (policy(schedules=[{**RECURRING, "timezone": None}]), "schedules.0.timezone", "a cron schedule needs a timezone"),
    (policy(schedules=[{**RECURRING, "timezone": ""}]), "schedules.0.timezone", "timezone is empty"),
    (policy(timezone="Asia/Beijing"), "timezone", "unknown timezone"),
    (policy(schedules=[{**RECURRING, "duration": "an hour"}]), "schedules.0.duration", "duration"),
    (policy(schedules=[{**ONE_OFF, "lead": "20 min"}]), "schedules.0.lead", "duration"),
    (policy(schedules=[{**ONE_OFF, "end": ONE_OFF["start"]}]), "schedules.0.end", "must be after start"),
    (policy(schedules=[{**ONE_OFF, "end": "2026-11-10T23:00:00+08:00"}]), "schedules.0.end", "must be after start"),
    (policy(schedules=[{**ONE_OFF, "start": "2026-11-11T00:00:00"}]), "schedules.0.start", "start needs a UTC offset"),
    (policy(schedules=[{**ONE_OFF, "end": "2026-11-11T03:00:00"}]), "schedules.0.end", "end needs a UTC offset"),
    (policy(schedules=[{**ONE_OFF, "end": None}]), "schedules.0", "needs both start and end"),
    (policy(schedules=[{**ONE_OFF, "cron": "0 20 * * *"}]), "schedules.0", "not both"),
    (policy(schedules=[{"name": "x", "min_instances": 3}]), "schedules.0", "needs start and end, or cron"),
    (policy(schedules=[{**ONE_OFF, "min_instances": None}]), "schedules.0", "needs min_instances"),
    (
        policy(schedules=[{**ONE_OFF, "max_instances": 4}]),
        "schedules.0.min_instances",
        "min_instances (8) is above its max_instances (4)",
    ),
    (policy(schedules=[{**ONE_OFF, "timezone": "UTC"}]), "schedules.0.timezone", "belongs to recurring"),
    (policy(schedules=[{**ONE_OFF, "duration": "1h"}]), "schedules.0.duration", "belongs to recurring"),
    (policy(schedules=[{**ONE_OFF, "min_instance": 4}]), "schedules.0.min_instance", "Extra inputs"),
]


@pytest.mark.parametrize(("data", "field", "words"), INVALID_POLICIES)
def test_invalid_policies_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    text = rejection(Policy, data)
    assert words in text
    if field:
        assert any(line.startswith(field + ":") for line in text.splitlines()), text


def test_scale_rules_default_when_absent() -> None:
    parsed = Policy.model_validate(policy())
    assert parsed.scale_up.cooldown == timedelta(seconds=30)
    assert parsed.scale_up.max_step == (Step(percent=100.0), Step(count=4))
    assert parsed.scale_up.stabilization == timedelta(0)
    assert parsed.scale_down.cooldown == timedelta(minutes=10)
    assert parsed.scale_down.max_step == (Step(percent=20.0),)
    assert parsed.scale_down.stabilization == timedelta(minutes=10)
    assert parsed.scale_down.min_step == Step(percent=10.0)
    assert parsed.tolerance == DEFAULT_TOLERANCE
    assert parsed.max_metric_age == DEFAULT_MAX_METRIC_AGE
    assert parsed.metric_window == timedelta(minutes=1)
    assert parsed.force is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [(3, Step(count=3)), ("3", Step(count=3)), ("25%", Step(percent=25.0)), ("2.5 %", Step(percent=2.5))],
)
def test_scale_down_min_step_is_a_count_or_a_percentage(given: object, expected: Step) -> None:
    assert Policy.model_validate(policy(scale_down={"min_step": given})).scale_down.min_step == expected


@pytest.mark.parametrize("given", [0, -1, "0%", "ten", True, [2, "10%"]])
def test_scale_down_min_step_rejects_what_is_not_one_step(given: object) -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate(policy(scale_down={"min_step": given}))


def test_min_step_is_a_scale_down_setting_only() -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate(policy(scale_up={"min_step": 2}))


def test_metric_window_parses_and_extends_the_history_kept() -> None:
    parsed = Policy.model_validate(policy(metric_window="15m"))
    assert parsed.metric_window == timedelta(minutes=15)
    assert parsed.stabilization_window() == timedelta(minutes=15)  # longer than the 10m scale-down window
    assert Policy.model_validate(policy()).stabilization_window() == timedelta(minutes=10)
    with pytest.raises(ValidationError):
        Policy.model_validate(policy(metric_window="-1m"))


def test_new_fields_round_trip_through_a_dump() -> None:
    parsed = Policy.model_validate(policy(scale_down={"min_step": "15%"}, metric_window="2m"))
    dumped = parsed.model_dump(mode="json")
    assert dumped["scale_down"]["min_step"] == "15%"
    assert dumped["metric_window"] == "2m"
    assert Policy.model_validate(dumped) == parsed


def test_scale_rules_keep_defaults_for_fields_not_given() -> None:
    parsed = Policy.model_validate(policy(scale_up={"cooldown": "1m"}, scale_down={"max_step": "10%"}))
    assert parsed.scale_up.cooldown == timedelta(minutes=1)
    assert parsed.scale_up.max_step == (Step(percent=100.0), Step(count=4))  # default kept
    assert parsed.scale_down.max_step == (Step(percent=10.0),)
    assert parsed.scale_down.cooldown == timedelta(minutes=10)  # default kept
    assert parsed.scale_down.stabilization == timedelta(minutes=10)  # default kept
    assert parsed.scale_down.min_step == Step(percent=10.0)  # default kept


@pytest.mark.parametrize(
    ("steps", "current", "size"),
    [
        (["100%", 4], 2, 4),  # 2 x 100% = 2 vs 4: the most permissive is 4
        (["100%", 4], 10, 10),  # 10 x 100% = 10 vs 4
        (["20%"], 10, 2),  # 10 x 20% = 2
        (["20%", 1], 3, 1),  # 3 x 20% = 0.6 -> 1, vs 1
        ([2, 5], 100, 5),
        (3, 0, 3),
    ],
)
def test_step_size_takes_the_most_permissive_limit(steps: object, current: int, size: int) -> None:
    parsed = Policy.model_validate(policy(scale_up={"max_step": steps}))
    assert parsed.scale_up.step_size(current) == size


def test_stabilization_window_is_the_longer_direction() -> None:
    parsed = Policy.model_validate(policy(scale_up={"stabilization": "7m"}, scale_down={"stabilization": "2m"}))
    assert parsed.stabilization_window() == timedelta(minutes=7)


def test_metric_kind_and_target() -> None:
    parsed = Policy.model_validate(policy(metrics=[CPU, BACKLOG]))
    assert [(m.kind, m.target) for m in parsed.metrics] == [("average", 0.6), ("per_instance", 500)]


def test_policy_is_frozen() -> None:
    parsed = Policy.model_validate(policy())
    with pytest.raises(ValidationError):
        parsed.max_instances = 3


CAMPAIGN = {
    "name": "double-11",
    "start": "2026-11-11T00:00:00+08:00",
    "end": "2026-11-11T03:00:00+08:00",
    "lead": "20m",
    "apps": {"/shop/api": 8, "/shop/payment": 4},
}

INVALID_CAMPAIGNS = [
    ({**CAMPAIGN, "end": CAMPAIGN["start"]}, "end", "must be after start"),
    ({**CAMPAIGN, "start": "2026-11-11T00:00:00"}, "start", "start needs a UTC offset"),
    ({**CAMPAIGN, "end": "2026-11-11T03:00:00"}, "end", "end needs a UTC offset"),
    ({**CAMPAIGN, "lead": 20}, "lead", "a duration needs a unit"),
    ({**CAMPAIGN, "lead": "twenty minutes"}, "lead", "duration"),
    ({**CAMPAIGN, "apps": {}}, "apps", "at least 1"),
    ({**CAMPAIGN, "apps": {"shop/api": 3}}, "apps.shop/api", "not a Marathon app id"),
    ({**CAMPAIGN, "apps": {"/shop/api": -1}}, "apps./shop/api", "0 or more"),
    ({**CAMPAIGN, "apps": {"/shop/api": "many"}}, "apps./shop/api", "valid integer"),
    ({**CAMPAIGN, "app": {"/shop/api": 3}}, "app", "Extra inputs"),
    ({k: v for k, v in CAMPAIGN.items() if k != "name"}, "name", "Field required"),
]


@pytest.mark.parametrize(("data", "field", "words"), INVALID_CAMPAIGNS)
def test_invalid_campaigns_name_the_field(data: dict[str, Any], field: str, words: str) -> None:
    text = rejection(Campaign, data)
    assert words in text
    if field:
        assert any(line.startswith(field + ":") for line in text.splitlines()), text


def test_campaign_becomes_a_one_off_floor() -> None:
    campaign = Campaign.model_validate(CAMPAIGN)
    schedule = campaign.schedule_for("/shop/api")
    assert schedule.name == "campaign:double-11"
    assert schedule.min_instances == 8
    assert schedule.max_instances is None
    assert schedule.lead == timedelta(minutes=20)
    assert schedule.start == datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 00:00 +08:00
    assert schedule.end == datetime(2026, 11, 10, 19, 0, tzinfo=UTC)  # 03:00 +08:00


def test_with_campaigns_adds_only_the_campaigns_naming_the_app() -> None:
    base = Policy.model_validate(policy(schedules=[RECURRING]))
    other = Campaign.model_validate({**CAMPAIGN, "name": "other", "apps": {"/shop/other": 3}})
    merged = with_campaigns(base, [Campaign.model_validate(CAMPAIGN), other])
    assert [s.name for s in merged.schedules] == ["push", "campaign:double-11"]
    assert merged.schedules[1].min_instances == 8
    assert base.schedules == Policy.model_validate(policy(schedules=[RECURRING])).schedules  # not mutated
    assert with_campaigns(base, [other]) is base


def test_with_campaigns_keeps_every_other_setting_exactly() -> None:
    base = Policy.model_validate(
        policy(
            max_metric_age="500ms",
            tolerance=0.15,
            scale_up={"cooldown": "1.5s", "max_step": ["12.3456789%", 2]},
            scale_down={"stabilization": "10m"},
            metrics=[{**CPU, "series": {"marathon_app": "${app}"}, "max_age": "45s"}],
            force=True,
        )
    )
    merged = with_campaigns(base, [Campaign.model_validate(CAMPAIGN)])
    assert merged.model_copy(update={"schedules": ()}) == base
    assert merged.max_metric_age == timedelta(milliseconds=500)
    assert merged.scale_up.cooldown == timedelta(seconds=1.5)
    assert merged.scale_up.max_step == (Step(percent=12.3456789), Step(count=2))


def test_with_campaigns_rejects_a_floor_above_max_instances() -> None:
    base = Policy.model_validate(policy(max_instances=6))
    with pytest.raises(ValueError, match=r"floor of 8, above max_instances \(6\)"):
        with_campaigns(base, [Campaign.model_validate(CAMPAIGN)])


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${app}", "/shop/order-worker"),
        ("${app_name}", "order-worker"),
        ("${app_dotted}", "shop.order-worker"),
        ('rate(x{app="${app}"}[1m])', 'rate(x{app="/shop/order-worker"}[1m])'),
        ("stats.${app_dotted}.${app_name}", "stats.shop.order-worker.order-worker"),
        ("no placeholder", "no placeholder"),
    ],
)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, "/shop/order-worker") == expected


# Durations: a bare number could be seconds or minutes (`lead: 20` meant 20 minutes); a policy says.
DURATION_FIELDS = [
    ("max_metric_age", lambda value: policy(max_metric_age=value)),
    ("metric_window", lambda value: policy(metric_window=value)),
    ("metrics.0.max_age", lambda value: policy(metrics=[{**CPU, "max_age": value}])),
    ("scale_up.cooldown", lambda value: policy(scale_up={"cooldown": value})),
    ("scale_down.stabilization", lambda value: policy(scale_down={"stabilization": value})),
    ("schedules.0.lead", lambda value: policy(schedules=[{**ONE_OFF, "lead": value}])),
    ("schedules.0.duration", lambda value: policy(schedules=[{**RECURRING, "duration": value}])),
    ("predictive.lookback", lambda value: policy(predictive={"lookback": value})),
    ("predictive.horizon", lambda value: policy(predictive={"horizon": value})),
    ("predictive.bucket", lambda value: policy(predictive={"bucket": value})),
]


@pytest.mark.parametrize(("field", "make"), DURATION_FIELDS, ids=[field for field, _ in DURATION_FIELDS])
@pytest.mark.parametrize("bare", [20, 90.5, "20", " 600 "])
def test_a_bare_number_in_a_duration_field_is_refused(field: str, make: Any, bare: object) -> None:
    text = rejection(Policy, make(bare))
    line = next(line for line in text.splitlines() if line.startswith(field + ":"))
    name = field.rsplit(".", 1)[-1]
    assert f"{name}" in line.split(": ", 1)[1]  # the message itself names the field
    for form in ("90s", "5m", "2h", "7d", "1h30m"):  # and shows the accepted forms
        assert form in line


@pytest.mark.parametrize(("written", "seconds"), [("20m", 1200), ("1h30m", 5400), ("45s", 45), ("0s", 0)])
def test_durations_with_a_unit_are_accepted(written: str, seconds: int) -> None:
    parsed = Policy.model_validate(policy(schedules=[{**ONE_OFF, "lead": written}]))
    assert parsed.schedules[0].lead == timedelta(seconds=seconds)


# Fractions: `10%` and `0.1` mean the same wherever a fraction is meant.
FRACTION_FIELDS = [
    ("tolerance", lambda value: policy(tolerance=value), lambda p: p.tolerance),
    (
        "metrics.0.target_average",
        lambda value: policy(metrics=[{**CPU, "target_average": value}]),
        lambda p: p.metrics[0].target_average,
    ),
    ("predictive.quantile", lambda value: policy(predictive={"quantile": value}), lambda p: p.predictive.quantile),
    ("predictive.margin", lambda value: policy(predictive={"margin": value}), lambda p: p.predictive.margin),
    (
        "predictive.max_spread",
        lambda value: policy(predictive={"max_spread": value}),
        lambda p: p.predictive.max_spread,
    ),
    (
        "predictive.saturation",
        lambda value: policy(predictive={"saturation": value}),
        lambda p: p.predictive.saturation,
    ),
]


@pytest.mark.parametrize(("field", "make", "read"), FRACTION_FIELDS, ids=[f for f, _, _ in FRACTION_FIELDS])
@pytest.mark.parametrize(("written", "value"), [("10%", 0.1), (" 12.5 % ", 0.125), (0.1, 0.1), ("0.1", 0.1)])
def test_every_fraction_takes_a_percentage_or_a_number(
    field: str, make: Any, read: Any, written: object, value: float
) -> None:
    assert read(Policy.model_validate(make(written))) == pytest.approx(value)


@pytest.mark.parametrize(("field", "make", "read"), FRACTION_FIELDS, ids=[f for f, _, _ in FRACTION_FIELDS])
@pytest.mark.parametrize("written", ["lots", "10 %%", True, "nan", [0.1]])
def test_a_fraction_that_is_not_one_names_the_field_and_the_forms(
    field: str, make: Any, read: Any, written: object
) -> None:
    text = rejection(Policy, make(written))
    line = next(line for line in text.splitlines() if line.startswith(field + ":"))
    assert f"{field.rsplit('.', 1)[-1]} must be" in line
    assert "a percentage like 10% or a number like 0.1" in line


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (policy(predictive={"quantile": "0%"}), "predictive.quantile"),
        (policy(predictive={"quantile": "101%"}), "predictive.quantile"),
        (policy(predictive={"margin": "1001%"}), "predictive.margin"),
        (policy(predictive={"max_spread": 1.5}), "predictive.max_spread"),
        (policy(predictive={"saturation": "0%"}), "predictive.saturation"),
    ],
)
def test_a_fraction_out_of_range_says_the_range(data: dict[str, Any], field: str) -> None:
    text = rejection(Policy, data)
    line = next(line for line in text.splitlines() if line.startswith(field + ":"))
    assert "must be" in line and "%" in line


# Time zones: a cron schedule's times are read in a zone someone chose, never a silent UTC.
def test_a_policy_timezone_is_given_to_cron_schedules_that_name_none() -> None:
    shanghai = {**RECURRING, "timezone": None}
    berlin = {**RECURRING, "name": "berlin", "timezone": "Europe/Berlin"}
    parsed = Policy.model_validate(policy(timezone="Asia/Shanghai", schedules=[shanghai, berlin, ONE_OFF]))
    assert [s.timezone for s in parsed.schedules] == ["Asia/Shanghai", "Europe/Berlin", None]
    assert parsed.timezone == "Asia/Shanghai"


def test_a_cron_schedule_without_any_timezone_is_refused_at_the_schedule() -> None:
    text = rejection(Policy, policy(schedules=[ONE_OFF, {**RECURRING, "timezone": None}]))
    assert text.startswith("schedules.1.timezone: a cron schedule needs a timezone")
    assert "_defaults.yaml" in text


def test_a_wrong_policy_timezone_is_reported_once_at_the_field() -> None:
    text = rejection(Policy, policy(timezone="Mars/Base", schedules=[{**RECURRING, "timezone": None}]))
    assert any(line.startswith("timezone: ") and "unknown timezone 'Mars/Base'" in line for line in text.splitlines())
