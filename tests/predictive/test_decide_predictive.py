"""The forecast in the engine: it may only raise the count, never in forecast_only, and says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from autoscaler.core.decide import History, decide
from autoscaler.core.forecast import LoadForecast, Outlook
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Campaign, Policy, Predictive
from autoscaler.core.schedule import AUTO_LEAD_FALLBACK, active_windows, next_windows
from tests.core.test_properties import FAST, NOW, histories, observations, policies, states

APP = "/shop/api"


def forecast(proposal: int, *, load: float | None = None, spread: float = 0.0) -> LoadForecast:
    return LoadForecast(
        metric="cpu",
        horizon=timedelta(seconds=75),
        samples=(1.0, 2.0, 3.0),
        quantile=0.9,
        margin=0.1,
        base=2.8,
        load=load if load is not None else proposal * 0.6,
        target=0.6,
        proposal=proposal,
        spread=spread,
        max_spread=0.25,
    )


def policy(mode: str | None = "on", **extra: Any) -> Policy:
    data: dict[str, Any] = {
        "app": APP,
        "min_instances": 1,
        "max_instances": 40,
        "metrics": [{"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.6}],
        **extra,
    }
    if mode is not None:
        data["predictive"] = {"mode": mode}
    return Policy.model_validate(data)


def with_predictive(base: Policy, mode: str) -> Policy:
    data = dict(base)
    data["predictive"] = Predictive(mode=mode)  # type: ignore[arg-type]
    return Policy.model_validate(data)


STATE = AppState(APP, instances=4, tasks_running=4)
CALM = {"cpu": Observation(0.6, NOW)}  # 4 x 0.6 / 0.6 = 4: stays


def test_the_forecast_wins_when_it_proposes_more() -> None:
    decision = decide(policy("on"), STATE, CALM, History(), NOW, outlook=Outlook(forecasts=(forecast(7),)))
    assert (decision.desired, decision.code, decision.cause) == (7, "scaled_up", "forecast")
    assert decision.proposed_by == "forecast" and decision.forecast == forecast(7)
    text = decision.explain()
    assert "forecast cpu: 3 previous periods" in text and "(on; won)" in text
    assert any(reason.startswith("forecast: 4 -> 7") for reason in decision.reasons())


def test_the_reactive_proposal_wins_when_it_is_higher() -> None:
    busy = {"cpu": Observation(1.2, NOW)}  # 4 x 1.2 / 0.6 = 8
    decision = decide(policy("on"), STATE, busy, History(), NOW, outlook=Outlook(forecasts=(forecast(6),)))
    assert (decision.desired, decision.proposed_by, decision.cause) == (8, "reactive", "metrics")
    assert "did not win" in decision.explain()


def test_a_forecast_the_previous_periods_disagree_on_does_not_act() -> None:
    shaky = forecast(14, spread=0.8)
    decision = decide(policy("on"), STATE, CALM, History(), NOW, outlook=Outlook(forecasts=(shaky,)))
    assert (decision.desired, decision.code, decision.proposed_by) == (4, "within_tolerance", "reactive")
    assert decision.forecast == shaky
    assert "forecast not acting: the previous periods disagree (spread 80% > max_spread 25%)" in decision.explain()


def test_forecast_only_shows_but_never_acts() -> None:
    decision = decide(policy("forecast_only"), STATE, CALM, History(), NOW, outlook=Outlook(forecasts=(forecast(30),)))
    assert (decision.desired, decision.code, decision.proposed_by) == (4, "within_tolerance", "reactive")
    assert decision.forecast is not None and decision.forecast.proposal == 30
    assert "not acted on: forecast_only" in decision.explain()


def test_no_forecast_yet_is_said_and_changes_nothing() -> None:
    decision = decide(policy("on"), STATE, CALM, History(), NOW, outlook=Outlook())
    assert decision.desired == 4 and decision.forecast is None
    assert "no forecast yet" in decision.explain()
    assert "forecast" not in decide(policy(None), STATE, CALM, History(), NOW).explain()


def test_a_forecast_is_ignored_without_a_predictive_block() -> None:
    decision = decide(policy(None), STATE, CALM, History(), NOW, outlook=Outlook(forecasts=(forecast(30),)))
    assert decision.desired == 4 and decision.forecast is None and decision.forecast_mode is None


@FAST
@given(data=st.data(), proposal=st.integers(min_value=0, max_value=60))
def test_the_forecast_only_raises_and_never_in_forecast_only(data: st.DataObject, proposal: int) -> None:
    base = data.draw(policies())
    state = data.draw(states())
    observed = data.draw(observations(base))
    history = data.draw(histories())
    outlook = Outlook(forecasts=(forecast(proposal),))
    without = decide(base, state, observed, history, NOW)
    acting = decide(with_predictive(base, "on"), state, observed, history, NOW, outlook=outlook)
    shown = decide(with_predictive(base, "forecast_only"), state, observed, history, NOW, outlook=outlook)
    assert acting.desired >= without.desired
    assert (shown.desired, shown.code, shown.recommendation) == (without.desired, without.code, without.recommendation)
    assert base.min_instances <= acting.desired <= base.max_instances or state.deployment_in_progress


def test_predictive_block_defaults_and_validation() -> None:
    block = Predictive()
    assert (block.mode, block.lookback, block.quantile, block.margin, block.horizon) == (
        "forecast_only",
        timedelta(days=7),
        0.9,
        0.1,
        None,
    )
    parsed = Predictive.model_validate({"mode": "on", "margin": "25%", "horizon": "90s", "lookback": "14d"})
    assert (parsed.margin, parsed.horizon) == (0.25, timedelta(seconds=90))
    assert Predictive.model_validate({"horizon": "auto"}).horizon is None
    assert parsed.model_dump(mode="json")["margin"] == "25%"
    assert block.max_spread == 0.25
    assert Predictive.model_validate({"max_spread": "100%"}).max_spread == 1.0
    for bad in (
        {"mode": "maybe"},
        {"quantile": 0},
        {"margin": "-5%"},
        {"lookback": "2d"},
        {"horizon": "2h"},
        {"max_spread": "150%"},
        {"max_spread": "-1%"},
    ):
        with pytest.raises(ValidationError):
            Predictive.model_validate(bad)
    with pytest.raises(ValidationError, match="load_queries"):
        policy(None, predictive={"load_queries": {"nope": "sum(x)"}})


def test_lead_auto_uses_the_learned_startup() -> None:
    start = NOW + timedelta(minutes=3)
    schedule = {"name": "push", "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    auto = policy(None, schedules=[{**schedule, "lead": "auto", "min_instances": 12}])
    assert auto.schedules[0].lead is None
    assert auto.model_dump(mode="json")["schedules"][0]["lead"] == "auto"
    # learned: 60 s + one 15 s tick is not yet in force 3 minutes before the start
    assert active_windows(auto.schedules, NOW, auto_lead=timedelta(seconds=75)) == []
    assert next_windows(auto.schedules, NOW, auto_lead=timedelta(seconds=75))[0].lead == timedelta(seconds=75)
    # not learned yet: the fallback (5 min) is
    assert timedelta(minutes=5) == AUTO_LEAD_FALLBACK
    assert [w.lead for w in active_windows(auto.schedules, NOW)] == [AUTO_LEAD_FALLBACK]
    decision = decide(auto, STATE, CALM, History(), NOW, outlook=Outlook(lead=timedelta(minutes=4)))
    assert (decision.desired, decision.cause) == (12, "schedule")
    campaign = Campaign.model_validate(
        {
            "name": "sale",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "lead": "auto",
            "apps": {APP: 9},
        }
    )
    assert campaign.schedule_for(APP).lead is None
