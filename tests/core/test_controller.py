"""AppController: the one per-app step (start-up, outlook, decide, record) every driver uses."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from autoscaler.core.controller import AppController, learns
from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.predict import auto_lead
from autoscaler.core.startup import StartupTracker
from tests.core.test_decide import NOW

APP = "/shop/api"
TICK = timedelta(seconds=15)
CPU = {"name": "cpu", "source": "prometheus", "query": "avg(cpu)", "target_average": 0.5}


def policy(**extra: Any) -> Policy:
    return Policy.model_validate({"app": APP, "min_instances": 1, "max_instances": 20, "metrics": [CPU], **extra})


def push(*, lead: str | None, minutes: float = 3, floor: int = 12) -> dict[str, Any]:
    """A one-off window of `floor` instances starting `minutes` after NOW."""
    start = NOW + timedelta(minutes=minutes)
    data: dict[str, Any] = {
        "name": "push",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "min_instances": floor,
    }
    if lead is not None:
        data["lead"] = lead
    return data


def cpu(value: float, at: Any = NOW) -> dict[str, Observation]:
    return {"cpu": Observation(value=value, timestamp=at)}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, False),
        ({"schedules": [push(lead="10m")]}, False),
        ({"schedules": [push(lead=None)]}, False),  # no lead: none is learned
        ({"schedules": [push(lead="auto")]}, True),
        ({"predictive": {"mode": "forecast_only"}}, True),
        ({"predictive": {"mode": "on"}, "schedules": [push(lead="10m")]}, True),
    ],
)
def test_learns_when_it_forecasts_or_has_an_auto_lead(extra: dict[str, Any], expected: bool) -> None:
    assert learns(policy(**extra)) is expected


def test_a_step_is_decide_then_record() -> None:
    """Tick after tick, the controller's decisions are decide's over the History it records."""
    chosen = policy()
    controller = AppController(chosen, tick=TICK)
    history = History()
    rng = random.Random(7)
    instances = 4
    for index in range(40):
        now = NOW + TICK * index
        state = AppState(APP, instances, tasks_running=instances)
        observations = cpu(rng.choice((0.1, 0.5, 0.9)), now)
        expected = decide(chosen, state, observations, history, now)
        history = history.record(expected, keep=chosen.stabilization_window())
        decision = controller.step(state, observations, now)
        assert (decision.desired, decision.code, decision.reasons()) == (
            expected.desired,
            expected.code,
            expected.reasons(),
        )
        assert controller.history == history
        instances = decision.desired
    assert controller.history.observing_since == NOW


def test_reuse_takes_a_steady_decision_again_and_records_it() -> None:
    chosen = policy()
    reusing = AppController(chosen, tick=TICK, reuse=True)
    fresh = AppController(chosen, tick=TICK)
    state = AppState(APP, 4, tasks_running=4)
    seen = []
    for index in range(4):
        now = NOW + TICK * index
        decision = reusing.step(state, cpu(0.5), now)  # the same sample every tick: the same inputs
        expected = fresh.step(state, cpu(0.5), now)
        seen.append(reusing.reused)
        assert decision.at == now
        assert (decision.desired, decision.code, decision.reasons()) == (
            expected.desired,
            expected.code,
            expected.reasons(),
        )
        assert reusing.history == fresh.history
    assert seen == [False, True, True, True]
    # a changed value is decided again
    reusing.step(state, cpu(0.9), NOW + TICK * 4)
    assert not reusing.reused


def test_a_policy_that_learns_is_never_reused() -> None:
    controller = AppController(policy(schedules=[push(lead="auto", minutes=600)]), tick=TICK, reuse=True)
    state = AppState(APP, 4, tasks_running=4)
    for index in range(3):
        controller.step(state, cpu(0.5), NOW + TICK * index)
        assert not controller.reused


def test_lead_auto_follows_the_startup_learned_from_the_states() -> None:
    """A scale-up written at NOW and ready 60 s later: `lead: auto` is then 60 s plus one tick."""
    tracker = StartupTracker()
    controller = AppController(policy(schedules=[push(lead="auto", minutes=600)]), tick=TICK, tracker=tracker)
    controller.step(AppState(APP, 2, tasks_running=2), cpu(0.5), NOW)
    assert controller.last_outlook is not None
    assert controller.last_outlook.lead is None  # nothing measured yet
    controller.wrote(4, at=NOW)
    controller.step(AppState(APP, 4, tasks_running=2), cpu(0.5), NOW + timedelta(seconds=30))
    controller.step(AppState(APP, 4, tasks_running=4), cpu(0.5), NOW + timedelta(seconds=60))
    outlook = controller.last_outlook
    assert outlook is not None
    assert outlook.lead == auto_lead(startup=timedelta(seconds=60), tick=TICK)
    assert outlook.lead == timedelta(seconds=75)


def test_lead_auto_in_force_with_a_given_startup() -> None:
    """Without a tracker the given start-up time is used: 4 min + one tick reaches a window 4 min away."""
    chosen = policy(schedules=[push(lead="auto", minutes=4)])
    state = AppState(APP, 4, tasks_running=4)
    near = AppController(chosen, tick=TICK, startup=timedelta(minutes=4)).step(state, cpu(0.5), NOW)
    short = AppController(chosen, tick=TICK, startup=timedelta(seconds=30)).step(state, cpu(0.5), NOW)
    assert (near.desired, near.cause) == (12, "schedule")
    assert short.desired == 4


def test_only_a_policy_that_learns_feeds_the_tracker() -> None:
    tracker = StartupTracker()
    steady = AppController(policy(), tick=TICK, tracker=tracker)
    steady.step(AppState(APP, 2, tasks_running=2), cpu(0.5), NOW)
    steady.wrote(4, at=NOW)
    steady.step(AppState(APP, 4, tasks_running=4), cpu(0.5), NOW + timedelta(seconds=60))
    assert steady.last_outlook is None
    assert tracker.estimates() == {}


def test_a_predictive_policy_records_the_load_it_measured() -> None:
    controller = AppController(policy(predictive={"mode": "on"}), tick=TICK)
    controller.step(AppState(APP, 4, tasks_running=4), cpu(0.5), NOW)
    assert len(controller.forecaster.history("cpu")) == 1


def test_adopt_keeps_the_history_of_a_reloaded_policy() -> None:
    before = policy()
    controller = AppController(before, tick=TICK, reuse=True)
    controller.step(AppState(APP, 4, tasks_running=4), cpu(0.9), NOW)
    assert controller.adopt(before) is controller
    after = controller.adopt(policy(max_instances=30))
    assert after is not controller
    assert after.history == controller.history
    assert after.policy.max_instances == 30
    assert after.reuse
    after.step(AppState(APP, 4, tasks_running=4), cpu(0.9), NOW + TICK)
    assert not after.reused  # a held decision belongs to the policy it was decided under
