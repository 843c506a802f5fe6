"""The forecast and the learned start-up time where operators read them: the status API, the
dashboard page and `explain`; with forecast_only they are shown and never act."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from autoscaler.core.model import AppState
from autoscaler.core.startup import StartupEstimate
from autoscaler.explain import explain_app
from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.testing.memory import FakeTarget
from autoscaler.web.server import StatusServer
from autoscaler.web.values import outcome_json
from autoscaler.web.views import app_json
from tests.predictive.test_loop_predictive import APP, QUERY, HistoryProvider, policy, run_until, setup
from tests.web.test_dashboard_browser import run_chromium

T0 = DEFAULT_START
LEARNED = StartupEstimate(APP, 45.0, (40.0, 45.0, 50.0))


async def status_after_ticks(mode: str, until: datetime = T0 - timedelta(minutes=2)) -> ServiceStatus:
    clock, _, _, loop = setup(mode)
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0 - timedelta(minutes=5))
    status.set_policies(loop.policies, [])
    while clock.now < until:
        await run_until(clock, loop, clock.now + timedelta(seconds=15))
        assert loop.last_report is not None
        status.record(loop.last_report)
        status.startup = {**loop.startup.estimates(), APP: LEARNED}  # what the owner copies after each tick
    return status


async def test_the_status_api_shows_the_forecast_and_the_start_up_estimate() -> None:
    status = await status_after_ticks("forecast_only")
    body = app_json(status, APP, now=T0)
    forecast = body["forecast"]
    assert forecast == body["last"]["decision"]["forecast"]
    assert forecast["mode"] == "forecast_only" and forecast["acts"] is False and forecast["available"] is True
    # the peak of the previous 3 days, 400, + 10 % over 100 per instance: 5, more than the metrics' 1
    assert forecast["proposal"] == 5 and forecast["reactive_proposal"] == 1
    assert forecast["won"] is False and forecast["would_win"] is True and forecast["proposed_by"] == "reactive"
    assert forecast["samples"] == [400.0, 400.0, 400.0]
    assert (forecast["quantile"], forecast["margin"], forecast["metric"]) == (0.9, 0.1, "depth")
    assert (forecast["spread"], forecast["max_spread"], forecast["agreed"]) == (0.0, 0.25, True)
    assert abs(forecast["load"] - 440.0) < 1e-9 and forecast["base"] == 400.0
    # horizon: the loop had measured no scale-up, so the 2m fallback plus one 15 s tick
    assert forecast["horizon_seconds"] == 135.0
    # the history loaded from the source agreed with itself: the self-check leaves the forecast whole
    assert forecast["check"] == 1.0 and forecast["checked_windows"] > 500
    assert body["desired"] == 1  # forecast_only never acts
    assert body["startup"] == {"seconds": 45.0, "samples": [40.0, 45.0, 50.0]}
    assert body["policy"]["predictive"]["mode"] == "forecast_only"
    assert body["policy"]["predictive"]["horizon"] == "auto"
    assert body["policy"]["predictive"]["max_spread"] == 0.25


async def test_mode_on_says_the_forecast_won() -> None:
    status = await status_after_ticks("on", until=T0 + timedelta(minutes=1))
    up = [o for o in status.recent(APP) if o.scaled][-1]  # 1 -> 2 for the quiet bucket, then 2 -> 5
    forecast = outcome_json(up)["decision"]["forecast"]
    assert forecast["acts"] is True and forecast["proposed_by"] == "forecast" and forecast["won"] is True
    assert outcome_json(up)["decision"]["cause"] == "forecast"
    # afterwards the count stays at the forecast's 5 while the metrics ask for 1
    body = app_json(status, APP, now=T0)
    assert body["current"] == 5 and body["forecast"]["reactive_proposal"] == 1


def test_an_app_without_prediction_has_no_forecast_and_lead_auto_uses_the_learned_start_up() -> None:
    floor_at = T0 + timedelta(minutes=30)
    schedule = {
        "name": "batch",
        "start": floor_at.isoformat(),
        "end": (floor_at + timedelta(hours=1)).isoformat(),
        "lead": "auto",
        "min_instances": 8,
    }
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    status.set_policies({APP: policy(schedules=[schedule])}, [])
    body = app_json(status, APP, now=T0)
    assert body["forecast"] is None and body["startup"] is None and body["policy"]["predictive"] is None
    assert body["policy"]["schedules"][0]["lead"] == "auto"
    status.startup = {APP: LEARNED}
    [window] = app_json(status, APP, now=T0)["schedule"]["next"]
    assert window["lead"] == "1m"  # 45 s learned + one 15 s tick
    assert window["applies_from"] == (floor_at - timedelta(minutes=1)).isoformat()
    status.set_policies({}, [])
    assert status.startup == {}  # an app no longer managed is forgotten


async def test_the_api_and_the_page_serve_the_forecast() -> None:
    status = await status_after_ticks("forecast_only")
    server = StatusServer(status=status, metrics=SelfMetrics(), clock=lambda: T0, host="127.0.0.1", port=0)
    async with server, httpx.AsyncClient(base_url=server.url) as client:
        app = (await client.get(f"/api/v1/apps{APP}")).json()
        page = (await client.get("/")).text
        script = (await client.get("/static/dashboard.js")).text  # the page's script is a file of its own
    assert app["forecast"]["proposal"] == 5 and app["startup"]["seconds"] == 45.0
    assert 'src="static/dashboard.js"' in page
    assert "Forecast & start-up" in script and "forecastBlock" in script


async def explain(mode: str, now: datetime, **kwargs: Any) -> str:
    clock = FakeClock(now)
    target = FakeTarget(clock, [AppState(APP, instances=1, tasks_running=1)])
    provider = HistoryProvider(clock)
    provider.set(QUERY, ({}, 100.0))
    policies = {APP: policy(predictive={"mode": mode, "lookback": "3d"})}
    text = await explain_app(
        APP, policies=policies, target=target, providers={"graphite": provider}, now=clock.now, **kwargs
    )
    assert provider.ranges == [QUERY]  # the history came from the source, as the service loads it
    return text


async def test_explain_shows_the_forecast_it_would_not_act_on() -> None:
    text = await explain("forecast_only", T0 - timedelta(seconds=90))  # 2m15s from now reaches 12:00
    assert "Forecast (predictive, mode forecast_only): the load over the next 2m15s" in text
    assert "history of depth: loaded" in text
    assert "samples, newest period first: 400.00, 400.00, 400.00" in text
    assert "mode on would raise the count to at least 5" in text
    assert "Start-up time: not known to explain" in text
    assert "Outcome: within_tolerance, stays at 1." in text


async def test_explain_in_mode_on_with_a_learned_start_up() -> None:
    text = await explain("on", T0 - timedelta(seconds=30), startup=LEARNED, interval=timedelta(seconds=15))
    assert "Start-up time: 45s, learned from Marathon (median of 3 measured scale-ups: 40s, 45s, 50s)." in text
    assert "the load over the next 1m" in text
    assert "the forecast won: 5 over the metrics' 1" in text
    assert "Outcome: scaled_up, desired 5 (cause: forecast)" in text


async def test_the_dashboard_renders_the_forecast_block(tmp_path: Path) -> None:
    status = await status_after_ticks("forecast_only")
    server = StatusServer(status=status, metrics=SelfMetrics(), clock=lambda: T0, host="127.0.0.1", port=0)
    async with server:
        dom = await run_chromium(server.url + "/", tmp_path / "profile", "--dump-dom")
    assert ">Forecast &amp; start-up<" in dom
    assert ">forecast only<" in dom and "shown, never acts" in dom
    assert "predicted depth load 440 over the next 2m → 5 instances (metrics: 1)" in dom
    assert ">mode on would have raised the count to 5<" in dom
    assert "q0.9 of 3 samples (400, 400, 400) = 400 + 10% margin" in dom
    assert "start-up 45s (median of 3 measured scale-ups)" in dom
