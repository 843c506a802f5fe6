"""Reusing last tick's Decision (core.reuse) is indistinguishable from deciding again every tick.

Random policies (schedules, cooldowns, stabilisation windows, metric ages) are driven through random
sequences of ticks in which time jumps by seconds to hours, Marathon's state and the metric values
change now and then, samples go stale or come from the future, and every scale is applied the way
Marathon would. One run decides every tick; the other reuses a decision whenever `inputs_of` is equal
and `reusable` allows it, as the loop does. Decisions (all but `at`, texts included) and Histories
must be equal at every tick. The compact History is checked against a plain list of every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autoscaler.core.decide import Decision, History, ReadyCount, Recommendation, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.reuse import Inputs, inputs_of, reusable
from tests.core.test_properties import APP, NOW, policies

SEQUENCES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STEPS = [1, 5, 15, 15, 15, 15, 60, 170, 300, 900, 3600]
VALUES = [0.0, 0.1, 0.45, 0.5, 0.55, 1.0, 2.0, 40.0, 100.0, 250.0]


@dataclass
class Held:
    inputs: Inputs
    decision: Decision


def _tick(
    *,
    policy: Policy,
    state: AppState,
    observations: dict[str, Observation],
    history: History,
    held: Held | None,
    now: datetime,
) -> tuple[Decision, History, Held | None, bool]:
    """One app's tick as the loop runs it: reuse when the inputs are equal, else decide."""
    keep = policy.stabilization_window()
    inputs = inputs_of(policy, state, observations, history, now)
    if held is not None and inputs is not None and held.inputs == inputs:
        return held.decision, history.record(held.decision, keep=keep, at=now), held, True
    decision = decide(policy, state, observations, history, now)
    fresh = Held(inputs, decision) if inputs is not None and reusable(decision) else None
    return decision, history.record(decision, keep=keep), fresh, False


@st.composite
def an_observation(draw: st.DrawFn, previous: Observation | None, now: datetime) -> Observation | None:
    kind = draw(st.sampled_from(["same", "same", "same", "same", "kept_time", "new", "missing", "future", "none"]))
    if kind == "none":
        return None
    if kind == "missing":
        return Observation.missing(draw(st.sampled_from(["query failed", "empty result"])))
    if previous is not None and previous.value is not None and kind in ("same", "kept_time"):
        timestamp = previous.timestamp if kind == "kept_time" else now  # kept: ages into staleness
        return replace(previous, timestamp=timestamp)
    value = draw(st.sampled_from(VALUES))
    if kind == "future":
        return Observation(value=value, timestamp=now + timedelta(seconds=draw(st.sampled_from([10, 400, 1200]))))
    return Observation(value=value, timestamp=now - timedelta(seconds=draw(st.sampled_from([0, 5, 20]))))


@st.composite
def a_state(draw: st.DrawFn, state: AppState, decision: Decision | None, now: datetime) -> AppState:
    if decision is not None and decision.scaled:  # Marathon applies the write
        state = replace(state, instances=decision.desired, last_scaled_at=now)
    change = draw(st.sampled_from(["none", "none", "none", "none", "ready", "deploy", "done", "by_hand"]))
    if change == "ready":
        running = draw(st.integers(min_value=0, max_value=state.instances + 1))
        return replace(state, tasks_running=running, tasks_healthy=min(running, state.tasks_healthy))
    if change == "deploy":
        return replace(state, deployment_ids=("d-2",))
    if change == "done":
        return replace(state, deployment_ids=(), tasks_running=state.instances, tasks_healthy=state.instances)
    if change == "by_hand":
        return replace(state, instances=draw(st.integers(min_value=0, max_value=35)), last_scaled_at=now)
    return state


@SEQUENCES
@given(data=st.data())
def test_reusing_a_decision_is_the_same_as_deciding_again(data: st.DataObject) -> None:
    policy = data.draw(policies())
    instances = data.draw(st.integers(min_value=0, max_value=30))
    state = AppState(app_id=APP, instances=instances, tasks_running=instances, tasks_healthy=instances)
    now = NOW - timedelta(hours=2)  # the generated schedule windows lie around NOW: cross their edges
    observations: dict[str, Observation] = {}
    every_tick, reusing = History(), History()
    held: Held | None = None
    decision: Decision | None = None
    reused = 0
    for _ in range(data.draw(st.integers(min_value=5, max_value=40))):
        now += timedelta(seconds=data.draw(st.sampled_from(STEPS)))
        state = data.draw(a_state(state, decision, now))
        drawn = {spec.name: data.draw(an_observation(observations.get(spec.name), now)) for spec in policy.metrics}
        observations = {name: obs for name, obs in drawn.items() if obs is not None}

        decision = decide(policy, state, observations, every_tick, now)
        every_tick = every_tick.record(decision, keep=policy.stabilization_window())
        kept, reusing, held, was_reused = _tick(
            policy=policy, state=state, observations=observations, history=reusing, held=held, now=now
        )
        reused += was_reused

        assert replace(kept, at=now) == decision
        assert kept.reasons() == decision.reasons() and kept.explain() == decision.explain()
        assert reusing == every_tick
    event(f"reused some decisions: {reused > 0}")  # shown by --hypothesis-show-statistics


def test_a_steady_app_is_reused_and_a_due_rule_is_not() -> None:
    policy = Policy.model_validate(
        {
            "app": APP,
            "min_instances": 1,
            "max_instances": 10,
            "max_metric_age": "60s",
            "metrics": [{"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.5}],
        }
    )
    state = AppState(app_id=APP, instances=4, tasks_running=4)
    history, held = History(), None
    steps = []
    for seconds, value, age in ((0, 0.5, 0), (15, 0.5, 0), (30, 0.5, 0), (45, 0.9, 0), (60, 0.5, 0), (75, 0.5, 61)):
        now = NOW + timedelta(seconds=seconds)
        obs = {"cpu": Observation(value=value, timestamp=now - timedelta(seconds=age))}
        decision, history, held, was_reused = _tick(
            policy=policy, state=state, observations=obs, history=history, held=held, now=now
        )
        steps.append((decision.code, was_reused))
    assert steps == [
        ("within_tolerance", False),  # first tick: nothing to reuse
        ("within_tolerance", True),
        ("within_tolerance", True),
        ("scaled_up", False),  # the value changed
        ("within_tolerance", False),  # a scale is never kept for reuse
        ("missing_metrics", False),  # stale now: its age is in the text, so decided every tick
    ]


# --- the compact History against a plain list of every tick ---


def _reference_range(entries: list[tuple[datetime, int]], since: datetime, ready: int) -> tuple[int, int]:
    counts = [count for at, count in entries if at >= since] + [ready]
    return min(counts), max(counts)


@settings(max_examples=200, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.sampled_from([1, 15, 15, 60, 400]), st.integers(min_value=0, max_value=4), st.booleans()),
        min_size=1,
        max_size=60,
    ),
    keep_seconds=st.sampled_from([30, 300, 600]),
    probe=st.integers(min_value=0, max_value=900),
)
def test_the_compact_history_answers_as_the_full_one(
    ticks: list[tuple[int, int, bool]], keep_seconds: int, probe: int
) -> None:
    keep = timedelta(seconds=keep_seconds)
    history = History()
    ready_all: list[tuple[datetime, int]] = []
    recommendations_all: list[tuple[datetime, int]] = []
    now = NOW
    for step, count, recommends in ticks:
        now += timedelta(seconds=step)
        decision = Decision(
            app_id=APP,
            at=now,
            current=count,
            desired=count,
            code="x",
            ready=count,
            recommendation=count if recommends else None,
        )
        history = history.record(decision, keep=keep)
        ready_all.append((now, count))
        if recommends:
            recommendations_all.append((now, count))
        cutoff = now - keep
        kept_ready = [(at, c) for at, c in ready_all if at > cutoff]
        kept_recs = [(at, c) for at, c in recommendations_all if at > cutoff]
        since = now - timedelta(seconds=min(probe, keep_seconds))  # the engine looks back at most `keep`
        assert history.ready_range(since, 2) == _reference_range(kept_ready, since, 2)
        # what stabilisation asks: the highest and lowest recommendation after a moment
        after = [c for at, c in kept_recs if at > since]
        compact = [r.instances for r in history.recommendations if r.at > since]
        assert (max(after, default=None), min(after, default=None)) == (
            max(compact, default=None),
            min(compact, default=None),
        )
        # one entry per run of equal counts, never more than the ticks kept
        assert len(history.ready) <= len(kept_ready)
        assert all(a.instances != b.instances for a, b in zip(history.ready, history.ready[1:], strict=False))
        assert all(isinstance(r, ReadyCount) for r in history.ready)
        assert all(isinstance(r, Recommendation) for r in history.recommendations)
