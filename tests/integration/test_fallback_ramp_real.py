"""The fallback and the ramps end to end: the real loop, a real Prometheus, the Marathon-compatible
server, and a fake clock that both the loop and Marathon read.

Time is the subject, so nothing sleeps: Prometheus is given a past stretch of the series (backfilled
before it starts), and the clock walks through that stretch a tick at a time, every query an instant
query at the clock's time. In that stretch the series of one app vanishes for twenty minutes (the
outage: Prometheus answers an empty result), while another app's window ramps in and out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoscaler.core.policy import Policy
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.marathon import FakeMarathon
from tests import servers

pytestmark = pytest.mark.integration

TICK = 15
# The stretch of the past the clock walks through: it ends an hour ago, so the backfill lies wholly
# before Prometheus's own head block.
T0 = datetime.fromtimestamp((int(time.time()) - 4 * 3600) // 60 * 60, UTC)
END = T0 + timedelta(hours=2)
OUTAGE = (T0 + timedelta(minutes=30), T0 + timedelta(minutes=50))  # no sample of /shop/api in here
SALE_START = T0 + timedelta(minutes=70)
SALE_END = T0 + timedelta(minutes=85)
QUERY = "avg by (marathon_app) (app_cpu)"
RETRY = RetryPolicy(attempts=2, initial_backoff=0.05, max_backoff=0.1, request_timeout=10)


def cpu_at(app: str, moment: datetime) -> float | None:
    """/shop/api: at its target before the outage, quiet after it; /shop/web: at its target until
    its window ends, quiet after it (so that its ramp down has somewhere to go)."""
    if app == "/shop/web":
        return 0.5 if moment < SALE_END else 0.1
    if OUTAGE[0] <= moment < OUTAGE[1]:
        return None
    return 0.5 if moment < OUTAGE[0] else 0.1


@pytest.fixture(scope="module")
def prometheus_backfill() -> str:
    lines = ["# TYPE app_cpu gauge"]
    moment = T0 - timedelta(minutes=10)
    while moment <= END:
        for app in ("/shop/api", "/shop/web"):
            value = cpu_at(app, moment)
            if value is not None:
                lines.append(f'app_cpu{{marathon_app="{app}"}} {value} {int(moment.timestamp())}')
        moment += timedelta(seconds=TICK)
    return "\n".join(lines) + "\n"


def policy(app: str, **extra: Any) -> Policy:
    return Policy.model_validate(
        {
            "app": app,
            "min_instances": 1,
            "max_instances": 30,
            "metrics": [
                {
                    "name": "cpu",
                    "source": "prometheus",
                    "query": QUERY,
                    "series": {"marathon_app": "${app}"},
                    "target_average": 0.5,
                }
            ],
            "scale_up": {"cooldown": "0s"},
            **extra,
        }
    )


@dataclass
class Tick:
    at: datetime
    code: str
    instances: int  # in Marathon after the tick
    ready: int
    action: str
    cause: str


@dataclass
class World:
    clock: FakeClock
    marathon: FakeMarathon
    loop: ControlLoop
    ticks: dict[str, list[Tick]]


@pytest.fixture
async def world(prometheus_server: servers.RunningServer) -> AsyncIterator[World]:
    clock = FakeClock(T0)
    marathon = FakeMarathon(task_start_delay=5.0, clock=clock.seconds)  # Marathon's clock is the loop's
    url = await marathon.start()
    marathon.add_app("/shop/api", instances=2)
    marathon.add_app("/shop/web", instances=3)
    target = MarathonClient(base_url=url, policy=RETRY)
    policies = {
        "/shop/api": policy(
            "/shop/api",
            fallback={"after": "2m", "instances": 8},
            scale_down={"cooldown": "1m", "max_step": "100%"},
        ),
        "/shop/web": policy(
            "/shop/web",
            schedules=[
                {
                    "name": "sale",
                    "start": SALE_START.isoformat(),
                    "end": SALE_END.isoformat(),
                    "lead": "2m",
                    "min_instances": 15,
                    "ramp_up": "10m",
                    "ramp_down": "10m",
                }
            ],
        ),
    }
    loop = ControlLoop(
        policies=policies,
        target=target,
        providers={"prometheus": PrometheusProvider(url=prometheus_server.url, policy=RETRY)},
        clock=clock,
        logger=logging.getLogger("test.fallback_ramp"),
        interval=TICK,
        tick_timeout=30,
        source_timeout=20,
    )
    yield World(clock, marathon, loop, {"/shop/api": [], "/shop/web": []})
    await target.aclose()
    await marathon.stop()


async def walk(world: World, *, until: datetime) -> None:
    """Tick the loop every TICK seconds of the clock up to `until`, recording each app's outcome."""
    while world.clock.now < until:
        report = await world.loop.tick()
        assert report.error is None, report.error
        for app, outcome in report.outcomes.items():
            decision = outcome.decision
            assert decision is not None
            app_now = world.marathon.app_json(app)
            world.ticks[app].append(
                Tick(
                    at=world.clock.now,
                    code=outcome.code,
                    instances=app_now["instances"],
                    ready=app_now["tasksRunning"],
                    action=decision.action,
                    cause=decision.cause,
                )
            )
        world.clock.advance(TICK)


async def test_fallback_raises_while_the_series_is_gone_and_ramps_reach_their_floor(world: World) -> None:
    await walk(world, until=T0 + timedelta(minutes=100))

    api = world.ticks["/shop/api"]
    assert [t.instances for t in api if t.at < OUTAGE[0]] == [2] * sum(1 for t in api if t.at < OUTAGE[0])
    missing = [t for t in api if t.code == "missing_metrics"]
    assert missing, "Prometheus stops answering for /shop/api during the outage"
    gone = missing[0].at  # the series is gone once Prometheus's lookback no longer reaches a sample
    assert OUTAGE[0] < gone <= OUTAGE[0] + timedelta(minutes=5, seconds=TICK)
    raised = [t for t in api if t.action == "up"]
    assert raised[0].at == gone + timedelta(minutes=2)  # the fallback's `after`
    assert (raised[0].instances, raised[0].cause) == (8, "fallback")
    during = [t for t in api if gone <= t.at < OUTAGE[1]]
    assert all(t.action != "down" for t in during), "no scale-down caused by the outage"
    # held, as a problem to look at, except while Marathon deploys the raise
    assert {t.code for t in during if t.action == "none"} == {"missing_metrics", "deployment_in_progress"}
    # back: the count comes down from the fallback through stabilisation (10 min), caused by the metrics
    downs = [t for t in api if t.action == "down"]
    assert downs and all(t.cause == "metrics" and t.at >= OUTAGE[1] for t in downs)
    assert downs[0].at >= OUTAGE[1] + timedelta(minutes=10) - timedelta(seconds=TICK)
    assert api[-1].instances <= 2  # where the quiet series puts it (a fixed average: it follows the count down)

    web = world.ticks["/shop/web"]
    applies = SALE_START - timedelta(minutes=2)
    ramp = [t for t in web if applies - timedelta(minutes=10) <= t.at < applies]
    ups = [t for t in ramp if t.action == "up"]
    assert 1 < len(ups) <= 10 and all(t.cause == "ramp" for t in ups)
    assert [t.instances for t in ramp] == sorted(t.instances for t in ramp)  # one way only
    at_start = next(t for t in web if t.at >= SALE_START)
    assert at_start.instances == 15 and at_start.ready == 15  # the floor, ready, by `start`
    assert all(t.action != "down" for t in web if t.at < SALE_END)


async def test_a_ramp_down_steps_down_after_the_window_within_its_steps(world: World) -> None:
    world.clock.now = SALE_START - timedelta(minutes=3)
    await walk(world, until=SALE_END + timedelta(minutes=12))

    web = world.ticks["/shop/web"]
    assert next(t for t in web if t.at >= SALE_START).instances == 15
    downs = [t for t in web if t.action == "down"]
    print([(t.at.strftime("%H:%M:%S"), t.instances, t.cause) for t in downs], SALE_END)
    assert 1 < len(downs) <= 10
    assert all(t.cause == "ramp" and SALE_END <= t.at < SALE_END + timedelta(minutes=10) for t in downs)
    assert web[-1].instances < 15
