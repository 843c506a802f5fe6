"""The control loop with pauses: a paused app is decided but never written, for exactly the pause's
duration (a fake clock), by an operator's pause or by its Marathon labels; the others go on."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from autoscaler.core.model import AppState
from autoscaler.core.pause import Pause
from autoscaler.loop import ControlLoop
from autoscaler.pauses import MemoryStore
from autoscaler.pauses.control import PauseControl
from autoscaler.pauses.store import Change
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.memory import FakeProvider, FakeTarget
from tests.policies import GROUPED, cpu_policy

APPS = ("/shop/api", "/shop/web", "/billing")


def running(app_id: str, instances: int, **fields: object) -> AppState:
    return AppState(app_id=app_id, instances=instances, tasks_running=instances, **fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def control(clock: FakeClock) -> PauseControl:
    return PauseControl(store=MemoryStore(), clock=clock, logger=logging.getLogger("test.pauses"))


def build(
    clock: FakeClock, control: PauseControl | None, apps: list[AppState], *, dry_run: bool = False
) -> tuple[ControlLoop, FakeTarget]:
    target = FakeTarget(clock, apps)
    provider = FakeProvider("prometheus", clock)
    # every app at twice its target: each wants to double
    provider.set(GROUPED, *(({"marathon_app": app.app_id}, 1.0) for app in apps))
    policies = {app.app_id: cpu_policy(app.app_id) for app in apps}
    loop = ControlLoop(
        policies=policies,
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test.loop"),
        pauses=control,
        dry_run=dry_run,
    )
    return loop, target


async def test_a_paused_group_is_decided_but_not_written_until_the_pause_ends(
    clock: FakeClock, control: PauseControl
) -> None:
    loop, target = build(clock, control, [running(app, 2) for app in APPS])
    control.pause("/shop/*", duration=timedelta(minutes=10), reason="migration", by="alice")
    report = await loop.tick()
    assert [w[0] for w in target.writes] == ["/billing"]
    for app in ("/shop/api", "/shop/web"):
        outcome = report.outcomes[app]
        assert outcome.code == "paused" and outcome.decision is not None
        assert outcome.decision.desired == 2 and outcome.decision.would == 4
        assert outcome.decision.pause is not None and outcome.decision.pause.by == "alice"
    # every tick of the pause holds, reused or not
    for _ in range(10):
        clock.advance(55)
        report = await loop.tick()
        assert report.outcomes["/shop/api"].code == "paused"
    assert {w[0] for w in target.writes} == {"/billing"}
    # 10 minutes after the pause: both scale, and the pause's end is announced once
    clock.advance(600 - 550)
    report = await loop.tick()
    assert {w[0] for w in target.writes if w[0].startswith("/shop/")} == {"/shop/api", "/shop/web"}
    assert report.outcomes["/shop/api"].code == "scaled_up"
    ended = [e for e in control.drain_events() if e.kind == "expired"]
    assert [e.pause.scope for e in ended] == ["/shop/*"]


async def test_resume_lets_the_next_tick_write(clock: FakeClock, control: PauseControl) -> None:
    loop, target = build(clock, control, [running("/billing", 2)])
    control.pause("*", duration=None, reason="", by="ops")
    await loop.tick()
    assert target.writes == []
    control.resume("*", by="ops")
    clock.advance(15)
    await loop.tick()
    assert [w[:2] for w in target.writes] == [("/billing", 4)]


async def test_a_label_pause_holds_until_its_time(clock: FakeClock) -> None:
    until = clock.now + timedelta(minutes=3)
    app = running("/billing", 2, paused_until=until, paused_reason="db move")
    loop, target = build(clock, None, [app])
    report = await loop.tick()
    decision = report.outcomes["/billing"].decision
    assert decision is not None and decision.code == "paused" and decision.pause is not None
    assert decision.pause.source == "label" and decision.pause.reason == "db move"
    clock.advance(179)
    await loop.tick()
    assert target.writes == []
    clock.advance(1)
    report = await loop.tick()
    assert report.outcomes["/billing"].code == "scaled_up"


async def test_a_dry_run_pause_shows_paused_not_dry_run(clock: FakeClock, control: PauseControl) -> None:
    loop, _ = build(clock, control, [running("/billing", 2)], dry_run=True)
    control.pause("/billing", duration=None, reason="", by="x")
    report = await loop.tick()
    assert report.outcomes["/billing"].code == "paused"


class HangingStore(MemoryStore):
    """A store that stops answering (a ZooKeeper that hangs) once `hang` is set, until `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.reads = 0

    def update(self, change: Change) -> dict[str, Pause]:
        if self.hang.is_set():
            self.reads += 1
            self.release.wait(timeout=30)
        return super().update(change)


async def test_a_hanging_store_keeps_the_pauses_last_read_and_is_not_asked_twice(clock: FakeClock) -> None:
    store = HangingStore()
    control = PauseControl(store=store, clock=clock, logger=logging.getLogger("test.pauses"))
    target = FakeTarget(clock, [running("/billing", 2)])
    provider = FakeProvider("prometheus", clock)
    provider.set(GROUPED, ({"marathon_app": "/billing"}, 1.0))
    loop = ControlLoop(
        policies={"/billing": cpu_policy("/billing")},
        target=target,
        providers={"prometheus": provider},
        clock=clock,
        logger=logging.getLogger("test.loop"),
        pauses=control,
        interval=1.0,
        source_timeout=0.2,
    )
    control.pause("/billing", duration=timedelta(minutes=5), reason="", by="x")
    store.hang.set()
    try:
        for _ in range(3):
            clock.advance(1)
            report = await loop.tick()
            assert report.error is None and report.outcomes["/billing"].code == "paused"
        assert store.reads == 1 and target.writes == []
    finally:
        store.release.set()
