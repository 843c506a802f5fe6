"""The fallback and the ramps as the status API and `explain` show them."""

from __future__ import annotations

from datetime import timedelta

from autoscaler.core.decide import History, decide
from autoscaler.core.model import AppState, Observation
from autoscaler.explain import explain_app
from autoscaler.targets.marathon import MarathonClient
from autoscaler.web.values import decision_json, policy_json, window_json
from tests.explain.test_explain import NOW, client, marathon, policies, shop_api, sources

__all__ = ["client", "marathon"]  # fixtures, used by name

RAMPED = {
    "name": "launch",
    "start": (NOW + timedelta(minutes=8)).isoformat(),
    "end": (NOW + timedelta(hours=1)).isoformat(),
    "lead": "2m",
    "min_instances": 24,
    "ramp_up": "10m",
    "ramp_down": "30m",
}


def test_the_api_shows_the_fallback_in_force_and_since_when() -> None:
    policy = shop_api(schedules=[], fallback={"after": "2m", "instances": 10})
    missing = {"cpu": Observation.missing("gone"), "orders_backlog": Observation.missing("gone")}
    since = NOW - timedelta(minutes=3)
    history = History(observing_since=NOW - timedelta(hours=1), metrics_missing_since=since)
    decision = decide(policy, AppState("/shop/api", 4, tasks_running=4), missing, history, NOW)

    body = decision_json(decision)
    assert (body["desired"], body["cause"]) == (10, "fallback")
    fallback = body["fallback"]
    assert fallback["status"] == "in_force" and fallback["instances"] == 10 and fallback["source"] == 10
    assert fallback["missing_since"] == since.isoformat()
    assert fallback["in_force_from"] == (since + timedelta(minutes=2)).isoformat()
    assert any("fallback in force since" in reason for reason in body["reasons"])
    assert policy_json(policy)["fallback"] == {"after": "2m", "instances": 10}

    back = {"cpu": Observation(0.6, NOW), "orders_backlog": Observation.missing("still gone")}
    present = decide(policy, AppState("/shop/api", 10, tasks_running=10), back, history, NOW)
    assert decision_json(present)["fallback"] is None  # one metric is back: no fallback

    first = decide(policy, AppState("/shop/api", 4, tasks_running=4), missing, History(), NOW)
    waiting = decision_json(first)["fallback"]
    assert waiting["status"] == "waiting" and waiting["instances"] is None
    assert waiting["in_force_from"] == (NOW + timedelta(minutes=2)).isoformat()


def test_the_api_shows_the_ramp_its_step_and_its_plan() -> None:
    policy = shop_api(schedules=[RAMPED])
    seen = {"cpu": Observation(0.6, NOW), "orders_backlog": Observation(1000.0, NOW)}
    history = History(observing_since=NOW - timedelta(hours=1))
    decision = decide(policy, AppState("/shop/api", 4, tasks_running=4), seen, history, NOW)

    ramp = decision_json(decision)["ramp"]
    assert ramp is not None and ramp["descending"] is False
    (only,) = ramp["ramps"]
    # begins 12 min before the floor applies (start - 2m lead - 10m ramp): 4 of 10 steps of 1 min taken
    assert (only["window"], only["direction"], only["steps"], only["taken"], only["base"]) == ("launch", "up", 10, 4, 4)
    assert only["level"] == decision.desired == 12  # 4 + 20 x 4/10
    assert only["plan"][0]["floor"] == 4 and only["plan"][-1]["floor"] == 24
    assert only["plan"][-1]["at"] == (NOW + timedelta(minutes=6)).isoformat()  # start - lead
    assert decision.cause == "ramp"

    window = window_json(decision.windows[0]) if decision.windows else None
    assert window is None  # not in force yet: only its ramp is
    shown = policy_json(policy)["schedules"][0]
    assert (shown["ramp_up"], shown["ramp_down"]) == ("10m", "30m")


def test_window_json_says_when_its_ramps_begin_and_end() -> None:
    from autoscaler.core.schedule import next_windows

    (upcoming,) = next_windows(shop_api(schedules=[RAMPED]).schedules, NOW)
    body = window_json(upcoming, now=NOW)
    assert body["ramp_from"] == (NOW - timedelta(minutes=4)).isoformat()
    assert body["ramp_until"] == (NOW + timedelta(minutes=90)).isoformat()
    assert (body["ramp_up"], body["ramp_down"]) == ("10m", "30m")


async def test_explain_shows_the_ramp_in_force_and_the_window_it_leads_to(client: MarathonClient) -> None:
    _, _, providers = sources(cpu=0.6, backlog=1000)
    policy = shop_api(schedules=[RAMPED])

    text = await explain_app("/shop/api", policies=policies(policy), target=client, providers=providers, now=NOW)

    assert text.splitlines()[0] == "/shop/api: 4 -> 12 (scaled_up: ramp)"
    assert "schedule launch ramps up to 24 (from 4) in 10 steps of 1m: step 4 of 10, floor 12 now, 14 at" in text
    assert "schedule_ramp: 4 -> 12" in text
    assert "; ramps up over 10m from" in text and "ramps down over 30m until" in text
    assert "the count a ramp in force started from" in text


async def test_explain_shows_the_fallback_of_the_policy_and_where_it_stands(client: MarathonClient) -> None:
    prometheus, graphite, providers = sources(cpu=0.6, backlog=1000)
    prometheus.fail = graphite.fail = True
    policy = shop_api(schedules=[], fallback={"after": "2m", "instances": 10})

    text = await explain_app("/shop/api", policies=policies(policy), target=client, providers=providers, now=NOW)

    assert "  fallback: at least 10 once every metric has been missing for 2m" in text
    # offline, the metrics count as missing from now: the fallback waits for its `after`
    assert f"the fallback (fixed 10) applies from {(NOW + timedelta(minutes=2)).isoformat()}" in text
    assert "since when the metrics have been missing" in text
    assert text.splitlines()[0] == "/shop/api: stays at 4 (missing_metrics)"
