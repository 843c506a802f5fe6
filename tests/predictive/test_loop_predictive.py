"""The loop's predictive parts: history loaded from the source, forecast_only never writes, and
`lead: auto` from the start-up time learned from (fake) Marathon."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from autoscaler.core.model import AppState
from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.memory import FakeProvider, FakeTarget

T0 = DEFAULT_START
APP = "/jobs/worker"
QUERY = "queue_depth"
LOG = logging.getLogger("test.predictive")


class HistoryProvider(FakeProvider):
    """FakeProvider with range queries: 400 messages from 12:00 to 13:00 on previous days, 100 else."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__("graphite", clock)
        self.ranges: list[str] = []

    async def range_query(self, query: str, **window: Any) -> list[tuple[datetime, float | None]]:
        self.ranges.append(query)
        start: datetime = window["start"]
        end: datetime = window["end"]
        points: list[tuple[datetime, float | None]] = []
        at = start
        while at <= end:
            points.append((at, 400.0 if at.hour == 12 else 100.0))
            at += timedelta(minutes=1)
        return points


def policy(**extra: Any) -> Policy:
    return Policy.model_validate(
        {
            "app": APP,
            "min_instances": 1,
            "max_instances": 20,
            "metrics": [{"name": "depth", "source": "graphite", "query": QUERY, "target_per_instance": 100}],
            **extra,
        }
    )


def setup(mode: str) -> tuple[FakeClock, FakeTarget, HistoryProvider, ControlLoop]:
    clock = FakeClock(T0 - timedelta(minutes=5))  # 11:55, the peak of previous days starts at 12:00
    target = FakeTarget(clock, [AppState(APP, instances=1, tasks_running=1)])
    provider = HistoryProvider(clock)
    provider.set(QUERY, ({}, 100.0))  # 1 instance is right for now
    loop = ControlLoop(
        policies={APP: policy(predictive={"mode": mode, "lookback": "3d"})},
        target=target,
        providers={"graphite": provider},
        clock=clock,
        logger=LOG,
        interval=15.0,
    )
    return clock, target, provider, loop


async def run_until(clock: FakeClock, loop: ControlLoop, until: datetime) -> None:
    while clock.now < until:
        await loop.tick()
        await asyncio.sleep(0)  # let the history load run beside the ticks
        clock.advance(15)


async def test_forecast_only_is_shown_but_never_written() -> None:
    clock, target, provider, loop = setup("forecast_only")
    await run_until(clock, loop, T0 + timedelta(minutes=30))
    assert provider.ranges == [QUERY]  # history loaded once, from the source itself
    assert [r.status for r in loop.history_reports[APP]] == ["loaded"]
    assert target.writes == []
    report = loop.last_report
    assert report is not None
    decision = report.outcomes[APP].decision
    assert decision is not None and decision.forecast is not None
    assert decision.forecast.proposal == 5  # 400 x 1.1 / 100 per instance
    assert decision.proposed_by == "reactive" and "not acted on: forecast_only" in decision.explain()


async def test_forecast_on_scales_before_the_daily_peak() -> None:
    clock, target, _, loop = setup("on")
    await run_until(clock, loop, T0)
    # up before 12:00, while the metric still says 1 is enough: 400 x 1.1 / 100 = 5 (and 100 x 1.1 / 100
    # = 2 for the quiet bucket before it)
    assert [instances for _, instances, _ in target.writes] == [2, 5]
    assert target.apps[APP].instances == 5
    report = loop.last_report
    assert report is not None and report.outcomes[APP].decision is not None
    assert report.outcomes[APP].decision.cause in ("forecast", "")


async def test_reload_keeps_history_of_an_unchanged_policy() -> None:
    clock, _, provider, loop = setup("forecast_only")
    await run_until(clock, loop, T0 - timedelta(minutes=4))
    loop.set_policies(dict(loop.policies))
    await run_until(clock, loop, T0 - timedelta(minutes=3))
    assert provider.ranges == [QUERY]
    changed = policy(predictive={"mode": "forecast_only", "lookback": "3d", "margin": "20%"})
    loop.set_policies({APP: changed})
    await run_until(clock, loop, T0 - timedelta(minutes=2))
    assert provider.ranges == [QUERY, QUERY]  # a changed policy loads again


async def test_lead_auto_follows_the_start_delay_of_fake_marathon() -> None:
    seconds = [T0.timestamp()]
    marathon = FakeMarathon(clock=lambda: seconds[0], task_start_delay=20.0)
    await marathon.start()
    marathon.add_app(APP, instances=2)
    client = MarathonClient(base_url=marathon.url, policy=RetryPolicy(attempts=1, request_timeout=2))
    clock = FakeClock(T0)
    provider = FakeProvider("graphite", clock)
    provider.set(QUERY, ({}, 400.0))  # 4 instances' worth: 2 -> 4, which takes 2 x 20 s to start
    floor_at = T0 + timedelta(minutes=10)
    schedule = {
        "name": "batch",
        "start": floor_at.isoformat(),
        "end": (floor_at + timedelta(hours=1)).isoformat(),
        "lead": "auto",
        "min_instances": 8,
    }
    loop = ControlLoop(
        policies={APP: policy(schedules=[schedule])},
        target=client,
        providers={"graphite": provider},
        clock=clock,
        logger=LOG,
        interval=15.0,
    )
    counts: dict[datetime, int] = {}
    try:
        while clock.now < floor_at:
            seconds[0] = clock.now.timestamp()
            await loop.tick()
            counts[clock.now] = marathon.app_json(APP)["instances"]
            clock.advance(15)
    finally:
        await client.aclose()
        await marathon.stop()
    estimate = loop.startup_estimate(APP)
    assert estimate is not None and estimate.seconds == 45.0  # 40 s, seen at the next 15 s tick
    # lead: auto = 45 s + one 15 s tick: the floor is written 60 s before the start, not 5 min before
    assert counts[floor_at - timedelta(seconds=75)] == 4
    assert counts[floor_at - timedelta(seconds=60)] == 8
