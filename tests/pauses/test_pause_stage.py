"""The pause stage: a paused app is decided as usual, then held where it is, schedule floors included;
the decision keeps what it would have done and who paused it, why and until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.core.pause import make_pause
from autoscaler.core.policy import Policy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
APP = "/shop/api"
CPU = {"name": "cpu", "source": "prometheus", "query": "avg(cpu)", "target_average": 0.5}
OBSERVED = History(observing_since=NOW - timedelta(hours=1))
PAUSE = make_pause(scope="/shop/*", now=NOW - timedelta(minutes=5), reason="db migration", by="alice")


def policy(**changes: Any) -> Policy:
    return Policy.model_validate({"app": APP, "min_instances": 1, "max_instances": 20, "metrics": [CPU], **changes})


def cpu(value: float) -> dict[str, Observation]:
    return {"cpu": Observation(value=value, timestamp=NOW)}


def test_a_paused_app_says_what_it_would_do_and_does_not() -> None:
    unpaused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.9), OBSERVED, NOW)
    assert unpaused.code == "scaled_up" and unpaused.desired > 4
    paused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.9), OBSERVED, NOW, pause=PAUSE)
    assert (paused.code, paused.desired, paused.current, paused.scaled) == ("paused", 4, 4, False)
    assert paused.would == unpaused.desired
    assert paused.pause == PAUSE
    assert paused.recommendation == unpaused.recommendation  # stabilisation goes on learning
    assert paused.clamps[-1].rule == "paused"
    assert paused.clamps[-1].before == unpaused.desired and paused.clamps[-1].after == 4
    assert "alice" in paused.clamps[-1].detail and "db migration" in paused.clamps[-1].detail
    assert f"would go to {unpaused.desired}" in paused.summary()
    text = paused.explain()
    assert PAUSE.until.isoformat() in text and "schedule floors included" in text
    assert paused.reasons()[-1].startswith(f"paused: {unpaused.desired} -> 4:")


def test_schedule_floors_are_paused_too() -> None:
    window = {
        "name": "sale",
        "start": (NOW - timedelta(minutes=10)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
        "min_instances": 12,
    }
    unpaused = decide(policy(schedules=[window]), AppState(APP, 4, tasks_running=4), cpu(0.5), OBSERVED, NOW)
    assert unpaused.desired == 12 and unpaused.cause == "schedule"
    paused = decide(policy(schedules=[window]), AppState(APP, 4, tasks_running=4), cpu(0.5), OBSERVED, NOW, pause=PAUSE)
    assert paused.desired == 4 and paused.would == 12 and paused.code == "paused" and paused.cause == ""


def test_a_hold_stays_a_hold_under_its_new_code() -> None:
    unpaused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.5), OBSERVED, NOW)
    assert unpaused.code == "within_tolerance"
    paused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.5), OBSERVED, NOW, pause=PAUSE)
    assert paused.code == "paused" and paused.would == 4 and paused.clamps == unpaused.clamps
    assert "alice" in paused.reasons()[-1] and "nothing would change now" in paused.reasons()[-1]
    assert paused.summary() == f"{APP}: stays at 4 (paused)"


def test_without_a_pause_the_decision_is_unchanged() -> None:
    unpaused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.9), OBSERVED, NOW)
    assert decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.9), OBSERVED, NOW, pause=None) == unpaused
    assert unpaused.would == unpaused.desired and unpaused.pause is None


@given(
    instances=st.integers(min_value=0, max_value=30),
    load=st.one_of(st.none(), st.floats(min_value=0, max_value=50, allow_nan=False)),
    deployment=st.booleans(),
)
def test_a_paused_decision_never_changes_the_count(instances: int, load: float | None, deployment: bool) -> None:
    observations = cpu(load) if load is not None else {"cpu": Observation.missing("no data")}
    state = AppState(APP, instances, tasks_running=instances, deployment_ids=("d1",) if deployment else ())
    unpaused = decide(policy(), state, observations, OBSERVED, NOW)
    paused = decide(policy(), state, observations, OBSERVED, NOW, pause=PAUSE)
    assert paused.desired == paused.current == instances
    assert not paused.scaled and paused.code == "paused"
    assert paused.would == unpaused.desired


def test_the_controller_holds_a_paused_step_and_never_reuses_it() -> None:
    from autoscaler.core.controller import AppController

    controller = AppController(policy(), tick=timedelta(seconds=15), history=OBSERVED, reuse=True)
    state = AppState(APP, 4, tasks_running=4)
    steady = controller.step(state, cpu(0.5), NOW)
    assert steady.code == "within_tolerance"
    paused = controller.step(state, cpu(0.5), NOW + timedelta(seconds=15), pause=PAUSE)
    assert paused.code == "paused" and not controller.reused
    again = controller.step(state, cpu(0.5), NOW + timedelta(seconds=30), pause=PAUSE)
    assert again.code == "paused" and not controller.reused and again.at == NOW + timedelta(seconds=30)
    after = controller.step(state, cpu(0.9), NOW + timedelta(seconds=45))
    assert after.code == "scaled_up" and after.pause is None


def test_the_status_api_shows_the_pause_and_what_it_would_do() -> None:
    from autoscaler.web.values import decision_json

    paused = decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.9), OBSERVED, NOW, pause=PAUSE)
    body = decision_json(paused)
    assert (body["code"], body["desired"], body["would"]) == ("paused", 4, paused.would)
    assert body["pause"] == PAUSE.to_json() and body["pause"]["by"] == "alice"
    assert body["pause"]["until"] == PAUSE.until.isoformat() and body["pause"]["reason"] == "db migration"
    assert decision_json(decide(policy(), AppState(APP, 4, tasks_running=4), cpu(0.5), OBSERVED, NOW))["pause"] is None
