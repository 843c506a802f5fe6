"""The control loop against in-memory fakes of the ports and a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from autoscaler.core.model import AppState
from autoscaler.core.policy import Policy
from autoscaler.loop import ControlLoop, settle_memory
from autoscaler.ports import ScaleResult
from autoscaler.testing.clock import DEFAULT_START, FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from tests.policies import GROUPED, cpu_policy

T0 = DEFAULT_START


def app(app_id: str, instances: int, **kw: object) -> AppState:
    return AppState(app_id=app_id, instances=instances, tasks_running=instances, **kw)  # type: ignore[arg-type]


def make_loop(
    policies: list[Policy], target: FakeTarget, provider: FakeProvider, clock: FakeClock, **kw: object
) -> ControlLoop:
    return ControlLoop(
        policies={p.app: p for p in policies},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test"),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_one_list_and_one_grouped_query_serve_many_apps(clock: FakeClock) -> None:
    ids = [f"/shop/app{i}" for i in range(30)]
    target = FakeTarget(clock, [app(i, 2) for i in ids])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, *[({"marathon_app": i}, 0.5) for i in ids])
    loop = make_loop([cpu_policy(i) for i in ids], target, provider, clock)

    report = await loop.tick()

    assert target.list_calls == 1
    assert provider.calls == [[GROUPED]]  # 30 apps, one distinct query, one request
    assert report.queries == {"prometheus": 1}
    assert {o.code for o in report.outcomes.values()} == {"within_tolerance"}
    assert target.writes == []


async def test_scales_up_with_only_the_count_and_each_app_its_own_value(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2), app("/b", 4)])
    provider = FakeProvider("prometheus", clock)
    # /a: 2 ready x 1.0 / 0.5 = 4; /b: 4 x 0.5 / 0.5 = 4 (at target)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0), ({"marathon_app": "/b"}, 0.5))
    loop = make_loop([cpu_policy("/a"), cpu_policy("/b")], target, provider, clock)

    report = await loop.tick()

    assert target.writes == [("/a", 4, False)]
    assert report.outcomes["/a"].scaled and report.outcomes["/a"].code == "scaled_up"
    assert report.outcomes["/b"].code == "within_tolerance"


class CountingTarget(FakeTarget):
    """Counts the writes in flight at once; each waits until the test lets the writes go."""

    def __init__(self, clock: FakeClock, apps: list[AppState]) -> None:
        super().__init__(clock, apps)
        self.in_flight = 0
        self.most = 0
        self.go = asyncio.Event()

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await self.go.wait()
        self.in_flight -= 1
        return await super().scale(app_id, instances, force=force)


@pytest.mark.parametrize("writes", [1, 4])
async def test_writes_to_marathon_go_at_most_write_concurrency_at_once(clock: FakeClock, writes: int) -> None:
    ids = [f"/shop/app{i}" for i in range(12)]
    target = CountingTarget(clock, [app(i, 2) for i in ids])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, *[({"marathon_app": i}, 1.0) for i in ids])
    loop = make_loop([cpu_policy(i) for i in ids], target, provider, clock, concurrency=16, write_concurrency=writes)

    tick = asyncio.create_task(loop.tick())
    for _ in range(200):  # the writes had every chance to start
        await asyncio.sleep(0)
    assert target.in_flight == writes
    target.go.set()
    report = await tick

    assert target.most == writes
    assert len(target.writes) == 12 and all(o.code == "scaled_up" for o in report.outcomes.values())


async def test_dry_run_decides_but_never_writes(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0))
    loop = make_loop([cpu_policy("/a")], target, provider, clock, dry_run=True)

    report = await loop.tick()

    assert target.writes == []
    assert report.outcomes["/a"].code == "dry_run"
    assert report.outcomes["/a"].decision is not None and report.outcomes["/a"].decision.desired == 4


async def test_a_refused_write_does_not_stop_other_apps(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2), app("/b", 2), app("/c", 2)])
    target.refuse["/b"] = "deployment_in_progress"
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, *[({"marathon_app": i}, 1.0) for i in ("/a", "/b", "/c")])
    loop = make_loop([cpu_policy(i) for i in ("/a", "/b", "/c")], target, provider, clock)

    report = await loop.tick()

    assert sorted(w[0] for w in target.writes) == ["/a", "/b", "/c"]
    assert report.outcomes["/b"].code == "deployment_in_progress"
    assert report.outcomes["/a"].scaled and report.outcomes["/c"].scaled


async def test_unknown_app_is_skipped_and_never_written(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0), ({"marathon_app": "/ghost"}, 1.0))
    loop = make_loop([cpu_policy("/a"), cpu_policy("/ghost")], target, provider, clock)

    report = await loop.tick()

    assert report.outcomes["/ghost"].code == "app_not_found"
    assert [w[0] for w in target.writes] == ["/a"]


async def test_metric_source_down_never_scales_down(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 10)])
    provider = FakeProvider("prometheus", clock)
    provider.fail = True
    loop = make_loop([cpu_policy("/a")], target, provider, clock)

    for _ in range(40):  # 10 minutes of ticks: well past every stabilisation window
        report = await loop.tick()
        clock.advance(15)

    assert target.writes == []
    assert report.outcomes["/a"].code == "missing_metrics"


async def test_marathon_down_is_reported_not_raised(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2)])
    target.down = True
    loop = make_loop([cpu_policy("/a")], target, FakeProvider("prometheus", clock), clock)

    report = await loop.tick()

    assert not report.reached_marathon and "did not answer" in (report.error or "")
    assert report.outcomes == {}


@pytest.mark.parametrize(
    ("steady", "written"),
    [
        ({}, 2),  # a flat load is steady: the scale-down follows it (scale_down.steady, no step limit)
        ({"scale_down": {"steady": None}}, 8),  # without: max_step 20% of 10 = 2
    ],
)
async def test_restart_does_not_scale_down_before_a_full_stabilization_window(
    clock: FakeClock, steady: dict[str, object], written: int
) -> None:
    target = FakeTarget(clock, [app("/a", 10)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 0.1))  # 10 x 0.1 / 0.5 = 2: wants far fewer
    loop = make_loop([cpu_policy("/a", **steady)], target, provider, clock)

    codes = []
    for _ in range(40):  # 40 ticks x 15 s = 600 s = the default 10m window
        codes.append((await loop.tick()).outcomes["/a"].code)
        clock.advance(15)
    assert target.writes == []
    assert set(codes) == {"stabilizing"}

    report = await loop.tick()  # now a full window has been observed
    assert report.outcomes["/a"].code == "scaled_down"
    assert target.writes == [("/a", written, False)]


async def test_cooldown_is_anchored_on_marathon_so_a_new_process_honours_it(clock: FakeClock) -> None:
    scaled_at = T0 - timedelta(seconds=10)
    target = FakeTarget(clock, [app("/a", 2, last_scaled_at=scaled_at)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0))
    loop = make_loop([cpu_policy("/a")], target, provider, clock)  # a fresh process: empty history

    report = await loop.tick()
    assert report.outcomes["/a"].code == "cooldown" and target.writes == []

    clock.advance(20)  # 30 s since the last scale: the default scale-up cooldown has passed
    report = await loop.tick()
    assert target.writes == [("/a", 4, False)]


async def test_not_leader_never_writes(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0))
    loop = make_loop([cpu_policy("/a")], target, provider, clock, may_write=lambda: False)

    report = await loop.tick()

    assert target.writes == []
    assert report.outcomes["/a"].code == "not_leader"


async def test_force_is_sent_only_when_the_policy_opts_in(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2), app("/b", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0), ({"marathon_app": "/b"}, 1.0))
    loop = make_loop([cpu_policy("/a", force=True), cpu_policy("/b")], target, provider, clock)

    await loop.tick()

    assert sorted(target.writes) == [("/a", 4, True), ("/b", 4, False)]


async def test_one_app_failing_inside_the_engine_does_not_stop_the_others(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import autoscaler.core.controller as loop_module  # where the loop's per-app step calls the engine

    real_decide = loop_module.decide

    def flaky(policy, state, observations, history, now, **options):  # type: ignore[no-untyped-def]
        if policy.app == "/b":
            raise ZeroDivisionError("boom")
        return real_decide(policy, state, observations, history, now, **options)

    monkeypatch.setattr(loop_module, "decide", flaky)
    target = FakeTarget(clock, [app("/a", 2), app("/b", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 1.0), ({"marathon_app": "/b"}, 1.0))
    loop = make_loop([cpu_policy("/a"), cpu_policy("/b")], target, provider, clock)

    report = await loop.tick()

    assert report.outcomes["/b"].code == "internal_error"
    assert target.writes == [("/a", 4, False)]


async def test_run_ticks_until_stopped_and_exits_promptly(clock: FakeClock) -> None:
    target = FakeTarget(clock, [app("/a", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/a"}, 0.5))
    loop = make_loop([cpu_policy("/a")], target, provider, clock)
    stop = asyncio.Event()
    seen: list[int] = []

    def on_tick(report: object) -> None:
        seen.append(1)
        if len(seen) == 3:
            stop.set()

    await asyncio.wait_for(loop.run(interval=0.01, stop=stop, on_tick=on_tick), timeout=5)

    assert len(seen) == 3 and target.list_calls == 3


async def test_a_schedule_only_app_is_raised_for_its_window_and_comes_back_after_it(clock: FakeClock) -> None:
    start, end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=35)
    policy = Policy.model_validate(
        {
            "app": "/push/sender",
            "min_instances": 2,
            "max_instances": 20,
            "schedules": [{"name": "push", "start": start.isoformat(), "end": end.isoformat(), "min_instances": 10}],
        }
    )
    target = FakeTarget(clock, [app("/push/sender", 2)])
    loop = make_loop([policy], target, FakeProvider("prometheus", clock), clock)

    written: list[tuple[datetime, int]] = []  # when the loop wrote, and what
    code = ""
    for _ in range(3 * 60 * 4):  # three hours of 15 s ticks
        before = len(target.writes)
        code = (await loop.tick()).outcomes["/push/sender"].code
        written += [(clock.now, count) for _, count, _ in target.writes[before:]]
        clock.advance(15)

    assert written[0] == (start, 10)  # the floor, at once
    # After the window the remembered floor holds for the stabilisation window (10m), then the count
    # steps down towards min_instances, one step (at most 20 %) per 10m scale-down cooldown.
    assert end + policy.scale_down.stabilization - timedelta(seconds=15) <= written[1][0]
    assert written[1][1] == 8
    down = written[1:]
    for (earlier, high), (later, low) in pairwise(down):
        assert later - earlier >= policy.scale_down.cooldown
        assert 0 < high - low <= policy.scale_down.step_size(high)
    assert down[-1][1] == 2 and target.apps["/push/sender"].instances == 2
    assert code == "no_metrics"


def test_the_young_generation_grows_with_the_fleet_so_a_tick_runs_about_one_collection() -> None:
    before = gc.get_threshold()
    try:
        settle_memory(100)
        small = gc.get_threshold()
        settle_memory(10_000)
        large = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert small == (50_000, 20, 20)
    assert large[0] == 200_000 and large[1:] == (20, 20)
