"""Properties of decide() that hold for every policy, state, observation, history and instant."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autoscaler.core.decide import Decision, History, Recommendation, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.schedule import active_windows

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP = "/shop/api"
FAST = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

seconds = st.integers(min_value=0, max_value=900).map(lambda s: f"{s}s")
step = st.one_of(st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=200).map(lambda p: f"{p}%"))
steps = st.lists(step, min_size=1, max_size=3)


ramps = st.sampled_from(["0s", "0s", "90s", "10m", "45m"])


@st.composite
def schedules(draw: st.DrawFn, low: int, high: int) -> list[dict[str, Any]]:
    """Zero to two one-off windows near NOW, with floors and ceilings the policy accepts."""
    out = []
    for index in range(draw(st.integers(min_value=0, max_value=2))):
        start = NOW + timedelta(minutes=draw(st.integers(min_value=-120, max_value=60)))
        data: dict[str, Any] = {
            "name": f"w{index}",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=draw(st.integers(min_value=1, max_value=180)))).isoformat(),
            "lead": draw(seconds),
        }
        kind = draw(st.sampled_from(["floor", "ceiling", "both"]))
        if kind in ("floor", "both"):
            data["min_instances"] = draw(st.integers(min_value=0, max_value=high))
            data["ramp_up"], data["ramp_down"] = draw(ramps), draw(ramps)
        if kind in ("ceiling", "both"):
            data["max_instances"] = draw(st.integers(min_value=max(low, data.get("min_instances", 0)), max_value=high))
        out.append(data)
    return out


@st.composite
def policies(draw: st.DrawFn, min_metrics: int = 0, windows: bool = True) -> Policy:
    low = draw(st.integers(min_value=0, max_value=10))
    high = draw(st.integers(min_value=low, max_value=30))
    metrics = []
    if draw(st.booleans()) or min_metrics >= 1:
        target = draw(st.floats(min_value=0.05, max_value=2.0))
        metrics.append({"name": "cpu", "source": "prometheus", "query": "q1", "target_average": target})
    if draw(st.booleans()) or (min_metrics >= 1 and not metrics):
        target = draw(st.floats(min_value=1.0, max_value=1000.0))
        metrics.append({"name": "backlog", "source": "graphite", "query": "q2", "target_per_instance": target})
    windowed = draw(schedules(low, high)) if windows else []
    fallback = None  # like a window, a fallback sets the count whatever the steps say
    if windows and metrics and draw(st.booleans()):
        floors = any("min_instances" in window for window in windowed)
        choice = draw(st.sampled_from(["count", "schedule"] if floors else ["count"]))
        instances = draw(st.integers(min_value=0, max_value=high)) if choice == "count" else "schedule"
        fallback = {"after": draw(st.sampled_from(["0s", "2m", "10m"])), "instances": instances}
    return Policy.model_validate(
        {
            "app": APP,
            "min_instances": low,
            "max_instances": high,
            "metrics": metrics,
            "schedules": windowed,
            "fallback": fallback,
            "tolerance": draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
            "max_metric_age": draw(st.sampled_from(["30s", "3m", "10m"])),
            "scale_up": {"cooldown": draw(seconds), "max_step": draw(steps), "stabilization": draw(seconds)},
            "scale_down": {
                "cooldown": draw(seconds),
                "max_step": draw(steps),
                "stabilization": draw(seconds),
                # the default steady fall, none, or one that is steady within a few ticks
                "steady": draw(st.sampled_from([{}, None, {"window": "1m", "tolerance": "30%"}])),
            },
        }
    )


@st.composite
def states(draw: st.DrawFn, deployment: bool | None = None, within: Policy | None = None) -> AppState:
    """An app state; with `within`, its instance count is inside that policy's bounds."""
    low, high = (0, 40) if within is None else (within.min_instances, within.max_instances)
    instances = draw(st.integers(min_value=low, max_value=high))
    running = draw(st.integers(min_value=0, max_value=instances + 2))
    last = draw(st.none() | st.integers(min_value=-60, max_value=1800).map(lambda s: NOW - timedelta(seconds=s)))
    deploying = draw(st.booleans()) if deployment is None else deployment
    return AppState(
        app_id=APP,
        instances=instances,
        tasks_running=running,
        tasks_healthy=draw(st.integers(min_value=0, max_value=running)),
        has_health_checks=draw(st.booleans()),
        deployment_ids=("d-1",) if deploying else (),
        last_scaled_at=last,
    )


ages = st.integers(min_value=-600, max_value=900).map(lambda s: timedelta(seconds=s))
values = st.floats(min_value=0, max_value=1e5, allow_nan=False)


@st.composite
def observation(draw: st.DrawFn) -> Observation | None:
    kind = draw(st.sampled_from(["value", "value", "value", "nan", "missing", "none"]))
    if kind == "none":
        return None
    if kind == "missing":
        return Observation.missing("query failed")
    value = math.nan if kind == "nan" else draw(values)
    return Observation(value=value, timestamp=NOW - draw(ages))


@st.composite
def observations(draw: st.DrawFn, policy: Policy) -> dict[str, Observation]:
    out = {}
    for spec in policy.metrics:
        obs = draw(observation())
        if obs is not None:
            out[spec.name] = obs
    return out


@st.composite
def histories(draw: st.DrawFn) -> History:
    since = draw(st.none() | st.integers(min_value=0, max_value=3600).map(lambda s: NOW - timedelta(seconds=s)))
    offsets = sorted(draw(st.lists(st.integers(min_value=1, max_value=900), max_size=6)), reverse=True)
    recs = tuple(
        Recommendation(NOW - timedelta(seconds=s), draw(st.integers(min_value=0, max_value=40))) for s in offsets
    )
    missing = draw(st.none() | st.integers(min_value=0, max_value=1800).map(lambda s: NOW - timedelta(seconds=s)))
    return History(observing_since=since, recommendations=recs, metrics_missing_since=missing)


def windows_at(policy: Policy) -> list[Any]:
    return active_windows(policy.schedules, NOW)


@FAST
@given(data=st.data())
def test_always_within_bounds_unless_deploying(data: st.DataObject) -> None:
    policy = data.draw(policies())
    state = data.draw(states())
    decision = decide(policy, state, data.draw(observations(policy)), data.draw(histories()), NOW)
    if state.deployment_in_progress:
        assert decision.desired == state.instances
        assert decision.code == "deployment_in_progress"
    else:
        assert policy.min_instances <= decision.desired <= policy.max_instances


@FAST
@given(data=st.data())
def test_never_scales_down_with_a_missing_or_stale_metric(data: st.DataObject) -> None:
    policy = data.draw(policies(min_metrics=1))
    state = data.draw(states(deployment=False))
    decision = decide(policy, state, data.draw(observations(policy)), data.draw(histories()), NOW)
    assume(any(metric.missing for metric in decision.metrics))
    # Only a schedule ceiling or a count set above max_instances by hand may bring it down.
    assume(state.instances <= policy.max_instances)
    assume(all(window.max_instances is None for window in windows_at(policy)))
    assert decision.desired >= state.instances


@FAST
@given(data=st.data())
def test_every_stale_sample_is_missing(data: st.DataObject) -> None:
    policy = data.draw(policies(min_metrics=1))
    state = data.draw(states(deployment=False))
    observed = data.draw(observations(policy))
    decision = decide(policy, state, observed, data.draw(histories()), NOW)
    for spec, metric in zip(policy.metrics, decision.metrics, strict=True):
        obs = observed.get(spec.name)
        max_age = spec.max_age or policy.max_metric_age
        if obs is not None and obs.timestamp is not None and abs(NOW - obs.timestamp) > max_age:
            assert metric.missing


@FAST
@given(data=st.data())
def test_no_metric_driven_change_inside_a_cooldown(data: st.DataObject) -> None:
    policy = data.draw(policies(windows=False))
    state = data.draw(states(deployment=False, within=policy))
    assume(state.last_scaled_at is not None)
    decision = decide(policy, state, data.draw(observations(policy)), data.draw(histories()), NOW)
    assert state.last_scaled_at is not None
    elapsed = max(NOW - state.last_scaled_at, timedelta(0))
    if decision.desired > state.instances:
        assert elapsed >= policy.scale_up.cooldown
    if decision.desired < state.instances:
        assert elapsed >= policy.scale_down.cooldown


@FAST
@given(data=st.data(), low=values, high=values)
def test_more_load_never_gives_fewer_instances(data: st.DataObject, low: float, high: float) -> None:
    policy = data.draw(policies(min_metrics=1))
    state = data.draw(states())
    history = data.draw(histories())
    observed = data.draw(observations(policy))
    name = data.draw(st.sampled_from([spec.name for spec in policy.metrics]))
    at = NOW - data.draw(st.integers(min_value=0, max_value=20).map(lambda s: timedelta(seconds=s)))
    low, high = sorted((low, high))
    less = decide(policy, state, {**observed, name: Observation(low, at)}, history, NOW)
    more = decide(policy, state, {**observed, name: Observation(high, at)}, history, NOW)
    assert less.desired <= more.desired, (less.explain(), more.explain())


@FAST
@given(data=st.data())
def test_at_target_nothing_happens(data: st.DataObject) -> None:
    policy = data.draw(policies(min_metrics=1, windows=False))
    state = data.draw(states(deployment=False, within=policy))
    assume(state.instances >= 1)
    state = replace(state, tasks_running=state.instances, tasks_healthy=state.instances)
    observed = {
        spec.name: Observation(spec.target if spec.kind == "average" else spec.target * state.instances, NOW)
        for spec in policy.metrics
    }
    decision = decide(policy, state, observed, data.draw(histories()), NOW)
    assert decision.desired == state.instances
    assert all(metric.proposal == state.instances for metric in decision.metrics)


@FAST
@given(data=st.data())
def test_an_active_floor_holds(data: st.DataObject) -> None:
    policy = data.draw(policies())
    floors = [w.min_instances for w in windows_at(policy) if w.min_instances is not None]
    assume(floors)
    state = data.draw(states(deployment=False))
    decision = decide(policy, state, data.draw(observations(policy)), data.draw(histories()), NOW)
    assert decision.desired >= max(floors)


@FAST
@given(data=st.data())
def test_decide_is_deterministic(data: st.DataObject) -> None:
    policy = data.draw(policies())
    state = data.draw(states())
    observed = data.draw(observations(policy))
    history = data.draw(histories())
    first: Decision = decide(policy, state, observed, history, NOW)
    second = decide(policy, state, observed, history, NOW)
    assert first == second
    assert first.explain() == second.explain()


@FAST
@given(data=st.data())
def test_a_scale_moves_no_further_than_the_step_unless_a_bound_or_window_says_so(data: st.DataObject) -> None:
    policy = data.draw(policies(windows=False))
    state = data.draw(states(deployment=False, within=policy))
    decision = decide(policy, state, data.draw(observations(policy)), data.draw(histories()), NOW)
    if decision.desired > state.instances:
        assert decision.desired - state.instances <= policy.scale_up.step_size(state.instances)
    if decision.desired < state.instances:
        assert state.instances - decision.desired <= policy.scale_down.step_size(state.instances)


@FAST
@given(
    instances=st.integers(min_value=1, max_value=40),
    spare=st.integers(min_value=-4, max_value=2),
    tolerance=st.sampled_from([0.0, 0.02, 0.05, 0.1]),
    target=st.floats(min_value=0.1, max_value=1.0),
    factors=st.tuples(st.floats(min_value=0.5, max_value=1.5), st.floats(min_value=0.5, max_value=1.5)),
)
def test_more_load_never_gives_fewer_instances_while_some_are_not_ready(
    instances: int, spare: int, tolerance: float, target: float, factors: tuple[float, float]
) -> None:
    """The average metric near its target while a few tasks start (or a few extra still run)."""
    policy = Policy.model_validate(
        {
            "app": APP,
            "min_instances": 0,
            "max_instances": 100,
            "tolerance": tolerance,
            "metrics": [{"name": "cpu", "source": "prometheus", "query": "q", "target_average": target}],
            "scale_up": {"cooldown": "0s"},
            "scale_down": {"cooldown": "0s", "stabilization": "0s"},
        }
    )
    state = AppState(APP, instances, tasks_running=max(1, instances + spare))
    low, high = sorted(factors)
    history = History(observing_since=NOW - timedelta(hours=1))
    less = decide(policy, state, {"cpu": Observation(target * low, NOW)}, history, NOW)
    more = decide(policy, state, {"cpu": Observation(target * high, NOW)}, history, NOW)
    assert less.desired <= more.desired, (less.explain(), more.explain())
    # load above the target never scales down, load below it never scales up
    if high > 1:
        assert more.desired >= instances
    if low < 1:
        assert less.desired <= instances


@FAST
@given(data=st.data())
def test_without_metrics_and_windows_the_count_only_moves_towards_the_baseline(data: st.DataObject) -> None:
    """A policy without metrics wants min_instances: it never moves away from it, and never overshoots it."""
    policy = data.draw(policies(windows=False))
    assume(not policy.metrics)
    state = data.draw(states(deployment=False, within=policy))
    decision = decide(policy, state, {}, data.draw(histories()), NOW)
    assert policy.min_instances <= decision.desired <= state.instances
    if decision.scaled:
        assert decision.cause == "baseline"
