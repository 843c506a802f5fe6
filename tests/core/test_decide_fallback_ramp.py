"""The fallback and the ramps in decide(), tick after tick: what they raise, what they never lower,
and how the count comes down after them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from autoscaler.core.decide import Decision, History, decide
from autoscaler.core.forecast import LoadForecast, Outlook
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP = "/shop/worker"
TICK = timedelta(seconds=15)
# A per-instance metric: the proposal is ceil(backlog / 100), whatever the instance count.
BACKLOG = {"name": "backlog", "source": "graphite", "query": "q", "target_per_instance": 100}


def make_policy(**changes: Any) -> Policy:
    return Policy.model_validate(
        {"app": APP, "min_instances": 1, "max_instances": 40, "metrics": [BACKLOG], "scale_up": {"cooldown": "0s"}}
        | changes
    )


@dataclass
class Run:
    """Drives decide() as the loop does: the desired count is applied at once, all instances ready."""

    policy: Policy
    instances: int
    now: datetime = T0
    history: History = field(default_factory=lambda: History(observing_since=T0 - timedelta(hours=1)))
    last_scaled_at: datetime | None = None
    decisions: list[Decision] = field(default_factory=list)

    def tick(self, backlog: float | None, *, outlook: Outlook | None = None) -> Decision:
        state = AppState(APP, self.instances, tasks_running=self.instances, last_scaled_at=self.last_scaled_at)
        seen = Observation.missing("no answer") if backlog is None else Observation(value=backlog, timestamp=self.now)
        decision = decide(self.policy, state, {"backlog": seen}, self.history, self.now, outlook=outlook)
        self.history = self.history.record(decision, keep=self.policy.stabilization_window())
        if decision.scaled:
            self.instances = decision.desired
            self.last_scaled_at = self.now
        self.decisions.append(decision)
        self.now += TICK
        return decision

    def until(self, moment: datetime, backlog: Callable[[datetime], float | None]) -> list[Decision]:
        out = []
        while self.now < moment:
            out.append(self.tick(backlog(self.now)))
        return out


def scaled(decisions: list[Decision], action: str) -> list[Decision]:
    return [d for d in decisions if d.action == action]


def test_fallback_raises_after_the_outage_lasts_and_comes_down_through_stabilisation() -> None:
    run = Run(make_policy(fallback={"after": "2m", "instances": 8}), instances=3)
    run.until(T0 + timedelta(minutes=5), lambda _: 300.0)  # 3 wanted: steady at 3
    outage = run.now
    during = run.until(outage + timedelta(minutes=30), lambda _: None)

    waiting = during[:8]  # less than 2 minutes without metrics
    assert all(d.desired == 3 and d.code == "missing_metrics" for d in waiting)
    assert all(d.fallback is not None and d.fallback.status == "waiting" for d in waiting)
    raised = during[8]  # 2 minutes after the outage began
    assert raised.at == outage + timedelta(minutes=2)
    assert (raised.current, raised.desired, raised.code, raised.cause) == (3, 8, "scaled_up", "fallback")
    assert raised.fallback is not None and raised.fallback.missing_since == outage
    assert "fallback in force since" in raised.explain()
    held = during[9:]
    assert all(d.desired == 8 and d.code == "missing_metrics" for d in held)
    assert scaled(during, "down") == []

    back = run.now
    after = run.until(back + timedelta(minutes=30), lambda _: 300.0)
    assert all(d.fallback is None for d in after)
    downs = scaled(after, "down")
    assert downs, "the count comes back down once the metrics are back"
    # not before one scale-down stabilisation window (10 min) after the last recommendation of 8
    assert downs[0].at == back - TICK + timedelta(minutes=10)
    assert all(d.cause == "metrics" for d in downs)
    assert run.instances == 3


def test_fallback_never_lowers_the_count_and_a_present_metric_means_none() -> None:
    run = Run(make_policy(fallback={"after": "1m", "instances": 8}), instances=12)
    run.until(T0 + timedelta(minutes=1), lambda _: 1200.0)
    during = run.until(run.now + timedelta(minutes=5), lambda _: None)
    assert {d.desired for d in during} == {12}
    assert during[-1].fallback is not None and during[-1].fallback.in_force

    two = make_policy(
        fallback={"after": "1m", "instances": 30},
        metrics=[BACKLOG, {**BACKLOG, "name": "other", "query": "r"}],
    )
    state = AppState(APP, 4, tasks_running=4)
    seen = {"backlog": Observation.missing("gone"), "other": Observation(value=400.0, timestamp=T0)}
    history = History(observing_since=T0 - timedelta(hours=1), metrics_missing_since=T0 - timedelta(hours=1))
    decision = decide(two, state, seen, history, T0)
    assert decision.fallback is None and decision.desired == 4


def test_fallback_to_the_schedule_and_to_the_forecast() -> None:
    tonight = {
        "name": "evening",
        "start": (T0 + timedelta(hours=8)).isoformat(),
        "end": (T0 + timedelta(hours=10)).isoformat(),
        "min_instances": 15,
    }
    missing = {"backlog": Observation.missing("gone")}
    history = History(observing_since=T0 - timedelta(hours=1), metrics_missing_since=T0 - timedelta(minutes=5))
    state = AppState(APP, 3, tasks_running=3)
    planned = decide(make_policy(schedules=[tonight], fallback={"instances": "schedule"}), state, missing, history, T0)
    assert (planned.desired, planned.cause) == (15, "fallback")

    learned = make_policy(predictive={"mode": "forecast_only"}, fallback={"instances": "forecast"})

    def outlook(spread: float) -> Outlook:
        forecast = LoadForecast(
            metric="backlog",
            horizon=timedelta(minutes=2),
            samples=(1100.0,),
            quantile=0.9,
            margin=0.1,
            base=1000.0,
            load=1100.0,
            target=100.0,
            proposal=11,
            spread=spread,
        )
        return Outlook(forecasts=(forecast,))

    agreed = decide(learned, state, missing, history, T0, outlook=outlook(0.0))
    assert (agreed.desired, agreed.cause) == (11, "fallback")
    disputed = decide(learned, state, missing, history, T0, outlook=outlook(0.9))
    assert disputed.desired == 3 and disputed.fallback is not None and disputed.fallback.status == "unavailable"


def sale(**extra: Any) -> dict[str, Any]:
    return {
        "name": "sale",
        "start": (T0 + timedelta(minutes=30)).isoformat(),
        "end": (T0 + timedelta(minutes=90)).isoformat(),
        "min_instances": 20,
        **extra,
    }


def test_a_ramp_up_reaches_the_floor_when_it_applies_one_step_per_action() -> None:
    run = Run(make_policy(schedules=[sale(lead="5m", ramp_up="10m")]), instances=4)
    decisions = run.until(T0 + timedelta(minutes=30), lambda _: 400.0)  # the metrics want 4 throughout
    ups = scaled(decisions, "up")
    assert [d.at for d in ups] == [T0 + timedelta(minutes=16 + i) for i in range(10)]
    assert [d.desired for d in ups] == [6, 8, 9, 11, 12, 14, 16, 17, 19, 20]
    assert all(d.cause == "ramp" for d in ups[:-1])
    assert ups[-1].cause == "schedule"  # the last step is the window's floor applying (start - lead)
    assert run.instances == 20
    assert "ramps up to 20 (from 4) in 10 steps of 1m" in ups[0].explain()
    assert scaled(decisions, "down") == []


def test_a_ramp_down_steps_the_count_down_instead_of_waiting_for_stabilisation() -> None:
    run = Run(make_policy(schedules=[sale(ramp_down="20m")]), instances=20)
    run.now = T0 + timedelta(minutes=80)
    decisions = run.until(T0 + timedelta(minutes=115), lambda _: 400.0)
    downs = scaled(decisions, "down")
    assert [d.at for d in downs] == [T0 + timedelta(minutes=90 + 2 * i) for i in range(10)]
    assert all(d.cause == "ramp" for d in downs[:-1])
    assert [d.desired for d in downs][-1] == 4
    assert run.instances == 4

    plain = Run(make_policy(schedules=[sale()]), instances=20)
    plain.now = T0 + timedelta(minutes=80)
    first = scaled(plain.until(T0 + timedelta(minutes=115), lambda _: 400.0), "down")[0]
    # without a ramp, stabilisation holds the drop for 10 min after the window's last tick
    assert first.at == T0 + timedelta(minutes=90) - TICK + timedelta(minutes=10)


def test_a_ramp_down_never_scales_down_on_missing_metrics_or_below_the_load() -> None:
    run = Run(make_policy(schedules=[sale(ramp_down="20m")]), instances=20)
    run.now = T0 + timedelta(minutes=89)
    decisions = run.until(T0 + timedelta(minutes=100), lambda _: None)
    assert scaled(decisions, "down") == []

    busy = Run(make_policy(schedules=[sale(ramp_down="20m")]), instances=20)
    busy.now = T0 + timedelta(minutes=89)
    decisions = busy.until(T0 + timedelta(minutes=115), lambda _: 1500.0)  # 15 wanted
    assert scaled(decisions, "down"), "the ramp steps down towards the load"
    assert min(d.desired for d in decisions) >= 15


def test_a_ramp_from_a_metric_that_follows_the_count_still_takes_only_its_steps() -> None:
    """An average at its target proposes the current count whatever it is (tolerance): the ramp's base
    is the count it started from, remembered, so the ramp's own steps do not push it on each tick."""
    cpu = {"name": "cpu", "source": "prometheus", "query": "c", "target_average": 0.5}
    run = Run(make_policy(metrics=[cpu], schedules=[sale(lead="5m", ramp_up="10m")]), instances=4)
    decisions = []
    while run.now < T0 + timedelta(minutes=30):
        state = AppState(APP, run.instances, tasks_running=run.instances, last_scaled_at=run.last_scaled_at)
        decision = decide(run.policy, state, {"cpu": Observation(0.5, run.now)}, run.history, run.now)
        run.history = run.history.record(decision, keep=run.policy.stabilization_window())
        if decision.scaled:
            run.instances, run.last_scaled_at = decision.desired, run.now
        decisions.append(decision)
        run.now += TICK
    ups = scaled(decisions, "up")
    assert [d.desired for d in ups] == [6, 8, 9, 11, 12, 14, 16, 17, 19, 20]
    assert ups[-1].at == T0 + timedelta(minutes=25)
