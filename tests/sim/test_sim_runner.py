"""The runner drives the project's own engine: the default policy, the simulated clock, schedules,
the metrics each kind of target sees, and a short run worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from autoscaler.core import controller
from autoscaler.core import decide as engine
from autoscaler.core.policy import MetricSpec, Policy, Schedule
from autoscaler.sim.runner import DEFAULT_TARGET, ScalerSpec, SimSetup, default_policy, simulate, with_target

from .helpers import T0, minutes


def test_default_policy_takes_every_setting_it_does_not_name_from_the_engine_defaults() -> None:
    policy = default_policy(peak_instances=30)
    assert (policy.min_instances, policy.max_instances) == (1, 300)
    assert len(policy.metrics) == 1
    assert policy.metrics[0].kind == "average"
    assert policy.metrics[0].target == DEFAULT_TARGET
    named = {"app", "min_instances", "max_instances", "metrics"}
    for name, field in Policy.model_fields.items():
        if name not in named:
            assert getattr(policy, name) == field.get_default(call_default_factory=True), name
    assert default_policy(target=0.35).metrics[0].target == 0.35


def test_target_overrides_every_metric_target() -> None:
    policy = Policy(
        app="/shop/api",
        min_instances=1,
        max_instances=10,
        metrics=(
            MetricSpec(name="cpu", source="prometheus", query="q", target_average=0.6),
            MetricSpec(name="backlog", source="graphite", query="g", target_per_instance=500),
        ),
    )
    changed = with_target(policy, 0.4)
    assert [m.target for m in changed.metrics] == [0.4, 0.4]
    assert [m.kind for m in changed.metrics] == ["average", "per_instance"]
    assert simulate(minutes(60, 60), scaler=ScalerSpec(policy=policy, target=0.4)).target == 0.4


def test_every_tick_is_decided_by_the_engine_at_the_simulated_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[datetime] = []

    def spy(*args: Any, **kwargs: Any) -> engine.Decision:
        seen.append(args[4])
        return engine.decide(*args, **kwargs)

    # the runner drives the engine through the one per-app step, core.controller
    monkeypatch.setattr(controller, "decide", spy)
    result = simulate(minutes(60, 60, 60), setup=SimSetup(tick=15))
    assert seen == [T0 + timedelta(seconds=15 * k) for k in range(12)]
    assert [record.time for record in result.timeline] == seen


def test_a_short_run_worked_out_by_hand() -> None:
    # 2 req/s for 3 minutes; peak_instances 2 -> capacity 1 req/s; starts with 2 ready (CPU 1.0).
    # Default policy at target 0.5 and the engine's default steps (+100 % or +4) and cooldown (30 s):
    # t=0:  2 ready x 1.0 / 0.5 = 4 -> 2 -> 4 (ready at 60 s)
    # t=15..45: still 2 ready at 1.0: proposes 4, the current count: holds
    # t=60: 4 ready, but the 60 s average still covers 0..60 s, when 2 were ready: the default 1m
    #   metric window takes it over those 2: 2 x 1.0 / 0.5 = 4: holds (not 4 x 1.0 / 0.5 = 8)
    # t=75..105: the average falls (0.875 at 75 s: 2 x 0.875 / 0.5 = 3.5 -> 4): holds
    # t=120..165: 4 ready at 0.5 for the whole window: on target
    result = simulate(minutes(120, 120, 120), scaler=ScalerSpec(target=0.5), setup=SimSetup(peak_instances=2))
    actions = [(r.time - T0, r.requested, r.desired) for r in result.timeline if r.action != "none"]
    assert actions == [(timedelta(0), 2, 4)]
    assert result.scale_actions == 1
    assert result.unserved_pct == 0  # 2 ready always served 2 req/s
    # requested: 4 for 180 s = 720 instance-seconds
    assert result.instance_hours == pytest.approx(720 / 3600)
    assert result.timeline[5].cpu == pytest.approx(0.875)
    assert result.timeline[-3].cpu == pytest.approx(0.5)
    # 60..105 s: held only because the 2 new instances are not yet measured by the 60 s average
    # (over the 4 ready now the metric would ask for more): the metric window's own hold
    codes = [r.code for r in result.timeline[1:]]
    assert codes == ["within_tolerance"] * 3 + ["metric_window"] * 4 + ["within_tolerance"] * 4


def test_per_instance_metrics_see_the_backlog() -> None:
    # capacity 1 req/s (peak 4 req/s over 4); 1 req/s for a minute on 1 instance, then 4 req/s:
    # the backlog grows 3/s from 60 s, 45 at 75 s: ceil(45 / 30) = 2 instances
    policy = Policy(
        app="/queue/worker",
        min_instances=1,
        max_instances=20,
        metrics=(MetricSpec(name="backlog", source="graphite", query="g", target_per_instance=30),),
    )
    result = simulate(minutes(60, 240, 240), scaler=ScalerSpec(policy=policy), setup=SimSetup(peak_instances=4))
    first_up = next(r for r in result.timeline if r.action == "up")
    assert first_up.time - T0 == timedelta(seconds=75)
    assert first_up.backlog == pytest.approx(45)
    assert first_up.desired == 2


def test_schedule_floors_apply_at_their_simulated_time() -> None:
    # a floor of 12 from 10 min into the trace, with a 2 min lead: in force from 8 min on
    policy = default_policy(peak_instances=5)
    floored = Policy.model_validate(
        {
            **dict(policy),
            "schedules": (
                Schedule(
                    name="sale",
                    start=T0 + timedelta(minutes=10),
                    end=T0 + timedelta(minutes=12),
                    lead=timedelta(minutes=2),
                    min_instances=12,
                ),
            ),
        }
    )
    # 1 req/s, then 5 req/s in the last minute: capacity 1 req/s; the policy runs 2 before the floor
    result = simulate(minutes(*[60] * 13, 300), scaler=ScalerSpec(policy=floored), setup=SimSetup(peak_instances=5))
    raised = next(r for r in result.timeline if r.desired >= 12)
    assert raised.time == T0 + timedelta(minutes=8)
    assert raised.code == "scaled_up"
    assert raised.reason == "schedule"
    assert all(r.desired < 12 for r in result.timeline if r.time < T0 + timedelta(minutes=8))


def test_policy_and_baseline_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        simulate(minutes(60, 60), scaler=ScalerSpec(policy=default_policy(), baseline="hpa"))
    with pytest.raises(ValueError, match="unknown baseline"):
        simulate(minutes(60, 60), scaler=ScalerSpec(baseline="magic"))
