"""A tick is bounded in time and never raises: slow sources, a hung Marathon, an unexpected exception.

A metric source that never answers costs its own queries (missing, so no scale-down) once its batch
deadline passes, and the tick says which source was slow; a Marathon that never answers, or writes
that never finish, cut the tick short at its deadline without writing anything else; any exception
becomes the tick's error, is counted, and the next tick runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

import pytest

from autoscaler.core.model import AppState, QueryResult
from autoscaler.http import RetryPolicy
from autoscaler.loop import ControlLoop
from autoscaler.ports import AppsSnapshot, ScaleResult
from autoscaler.reports import TickReport
from autoscaler.sinks.selfmetrics import SelfMetrics, observe_tick
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.hostile import Answer, HostileServer, nested
from autoscaler.testing.memory import FakeProvider, FakeTarget
from tests.policies import GROUPED, cpu_policy

LOG = logging.getLogger("test.deadlines")


def app(app_id: str, instances: int = 2) -> AppState:
    return AppState(
        app_id=app_id,
        instances=instances,
        tasks_running=instances,
        tasks_healthy=instances,
        tasks_staged=0,
        tasks_unhealthy=0,
    )


class HangingProvider:
    """A metric source that accepts the batch and never answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asked = 0
        self.cancelled = False

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        self.asked += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


class HangingTarget(FakeTarget):
    """Marathon whose list (or whose writes) never answer."""

    def __init__(self, clock: FakeClock, apps: Sequence[AppState], *, hang_list: bool, hang_writes: bool) -> None:
        super().__init__(clock, apps)
        self.hang_list, self.hang_writes = hang_list, hang_writes

    async def list_apps(self) -> AppsSnapshot:
        if self.hang_list:
            await asyncio.Event().wait()
        return await super().list_apps()

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:
        if self.hang_writes:
            self.writes.append((app_id, instances, force))
            await asyncio.Event().wait()
        return await super().scale(app_id, instances, force=force)


class BrokenTarget(FakeTarget):
    async def list_apps(self) -> AppsSnapshot:
        self.list_calls += 1
        raise RecursionError("maximum recursion depth exceeded")


def graphite_policy(app_id: str) -> object:
    policy = cpu_policy(app_id)
    metric = policy.metrics[0].model_copy(update={"source": "graphite"})
    return policy.model_copy(update={"metrics": (metric,)})


async def test_a_source_that_never_answers_costs_only_its_own_queries() -> None:
    clock = FakeClock()
    target = FakeTarget(clock, [app("/slow"), app("/fast")])
    fast = FakeProvider("graphite", clock)
    fast.set(GROUPED, ({"marathon_app": "/fast"}, 0.9))
    slow = HangingProvider("prometheus")
    loop = ControlLoop(
        policies={"/slow": cpu_policy("/slow"), "/fast": graphite_policy("/fast")},  # type: ignore[dict-item]
        target=target,
        providers={"prometheus": slow, "graphite": fast},
        clock=clock,
        logger=LOG,
        interval=15.0,
        source_timeout=0.2,
    )
    started = time.monotonic()
    report = await loop.tick()
    assert time.monotonic() - started < 2.0
    assert report.error is None
    assert report.slow == ("prometheus",)
    assert slow.cancelled
    assert report.outcomes["/slow"].code == "missing_metrics"
    decision = report.outcomes["/slow"].decision
    assert decision is not None
    assert any("AUTOSCALER_SOURCE_TIMEOUT" in metric.detail for metric in decision.metrics)
    assert [write[0] for write in target.writes] == ["/fast"]  # the fresh data still decides


@pytest.mark.parametrize("phase", ["marathon", "metric sources"])
async def test_a_tick_that_runs_out_of_time_writes_nothing_and_says_why(phase: str) -> None:
    clock = FakeClock()
    target = HangingTarget(clock, [app("/a"), app("/b")], hang_list=phase == "marathon", hang_writes=False)
    metrics = FakeProvider("prometheus", clock)
    metrics.set(GROUPED, ({"marathon_app": "/a"}, 0.9), ({"marathon_app": "/b"}, 0.9))
    providers = {"prometheus": HangingProvider("prometheus") if phase == "metric sources" else metrics}
    loop = ControlLoop(
        policies={"/a": cpu_policy("/a"), "/b": cpu_policy("/b")},
        target=target,
        providers=providers,  # type: ignore[arg-type]
        clock=clock,
        logger=LOG,
        interval=15.0,
        tick_timeout=0.3,
        source_timeout=10.0,  # the source's own deadline is longer: the tick's must cut it short
    )
    started = time.monotonic()
    report = await loop.tick()
    assert time.monotonic() - started < 2.0
    assert report.error is not None
    assert report.error_kind == "deadline"
    assert "AUTOSCALER_TICK_TIMEOUT" in report.error
    assert phase in report.error
    assert phase in report.slow
    assert target.writes == []


class SlowWrites(FakeTarget):
    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:
        await asyncio.sleep(0.4)  # a write that takes longer than the whole tick may
        return await super().scale(app_id, instances, force=force)


async def test_writes_decided_in_time_are_not_cut_off_mid_flight() -> None:
    clock = FakeClock()
    target = SlowWrites(clock, [app("/a"), app("/b")])
    metrics = FakeProvider("prometheus", clock)
    metrics.set(GROUPED, ({"marathon_app": "/a"}, 0.9), ({"marathon_app": "/b"}, 0.9))
    loop = ControlLoop(
        policies={"/a": cpu_policy("/a"), "/b": cpu_policy("/b")},
        target=target,
        providers={"prometheus": metrics},
        clock=clock,
        logger=LOG,
        interval=15.0,
        tick_timeout=0.3,
    )
    report = await loop.tick()
    assert report.error is None
    assert {outcome.code for outcome in report.outcomes.values()} == {"scaled_up"}
    assert sorted(write[0] for write in target.writes) == ["/a", "/b"]


async def test_an_unexpected_exception_is_the_ticks_error_and_the_next_tick_runs() -> None:
    clock = FakeClock()
    target = BrokenTarget(clock, [app("/a")])
    loop = ControlLoop(
        policies={"/a": cpu_policy("/a")}, target=target, providers={}, clock=clock, logger=LOG, interval=1.0
    )
    metrics = SelfMetrics()
    reports: list[TickReport] = []
    stop = asyncio.Event()

    def on_tick(report: TickReport) -> None:
        reports.append(report)
        observe_tick(metrics, report)
        if len(reports) == 1:
            raise RuntimeError("a sink failed")  # must not end the loop either
        stop.set()

    await asyncio.wait_for(loop.run(interval=0.01, stop=stop, on_tick=on_tick), timeout=10)
    assert len(reports) == 2
    assert all(r.error_kind == "internal" and "RecursionError" in (r.error or "") for r in reports)
    assert metrics.registry.get_sample_value("autoscaler_tick_errors_total", {"kind": "internal"}) == 2
    assert (
        metrics.registry.get_sample_value(
            "autoscaler_marathon_errors_total", {"request": "list", "status": "unavailable"}
        )
        is None
    )


async def test_a_deeply_nested_app_list_fails_the_tick_not_the_process() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=1, request_timeout=2.0, total_timeout=2.0)
    async with HostileServer(lambda _request: Answer(body=b'{"apps": ' + nested(1000) + b"}")) as server:
        target = MarathonClient(base_url=server.url, policy=policy, verify=False)
        loop = ControlLoop(
            policies={"/a": cpu_policy("/a")}, target=target, providers={}, clock=clock, logger=LOG, interval=1.0
        )
        first, second = await loop.tick(), await loop.tick()
        await target.aclose()
    for report in (first, second):
        assert report.error_kind == "marathon"
        assert "deeper than the limit of 64" in (report.error or "")
