"""ServiceStatus keeps a bounded history of what changed, not every identical hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoscaler.core.decide import Decision
from autoscaler.ports import ScaleResult
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.status import ServiceStatus

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def hold(at: datetime, code: str = "cooldown", current: int = 4) -> AppOutcome:
    decision = Decision(app_id="/a", at=at, current=current, desired=current, code=code)
    return AppOutcome("/a", code, decision.summary(), decision)


def scaled(at: datetime, current: int, desired: int) -> AppOutcome:
    decision = Decision(app_id="/a", at=at, current=current, desired=desired, code="scaled_up", cause="metrics")
    return AppOutcome("/a", "scaled_up", "", decision, ScaleResult("/a", desired, "scaled"))


def record(status: ServiceStatus, *outcomes: AppOutcome) -> None:
    for outcome in outcomes:
        assert outcome.decision is not None
        status.record(TickReport(at=outcome.decision.at, outcomes={"/a": outcome}))


def test_repeated_holds_are_kept_once_with_their_newest_time() -> None:
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    ticks = [T0 + timedelta(seconds=15 * i) for i in range(6)]
    record(status, hold(ticks[0]), hold(ticks[1]), hold(ticks[2]), scaled(ticks[3], 4, 8), hold(ticks[4], current=8))
    recent = status.recent("/a")
    assert [(o.code, o.decision.at if o.decision else None) for o in recent] == [
        ("cooldown", ticks[2]),  # three identical holds, one entry, the newest
        ("scaled_up", ticks[3]),
        ("cooldown", ticks[4]),  # same code but a different count: a new entry
    ]


def test_history_is_bounded() -> None:
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0, history_size=3)
    record(status, *(scaled(T0 + timedelta(seconds=15 * i), i, i + 1) for i in range(10)))
    assert [o.decision.desired for o in status.recent("/a") if o.decision] == [8, 9, 10]


def test_trends_keep_one_point_per_step_and_are_bounded() -> None:
    status = ServiceStatus(
        interval=timedelta(seconds=15), started_at=T0, trend_window=timedelta(minutes=10), trend_points=5
    )
    ticks = [T0 + timedelta(seconds=30 * i) for i in range(30)]  # 15 minutes, a point every 2 minutes
    record(status, *(scaled(at, i, i + 1) if i % 4 == 0 else hold(at, current=i) for i, at in enumerate(ticks)))
    points = status.trend("/a")
    assert len(points) == 5 and status.trend_step == 120
    times = [t for t, _, _, _ in points]
    assert times == sorted(times) and len({t // 120 for t in times}) == 5
    assert points[-1][0] == int(ticks[-1].timestamp()) and points[-1][1] == 29  # the newest of its step
    actions = status.recent_actions()
    assert [a.after for a in actions] == [i + 1 for i in range(28, -1, -4)]  # newest first
    status.set_policies({}, [])
    assert status.trend("/a") == []


def test_every_change_moves_the_version_and_tells_the_listeners() -> None:
    status = ServiceStatus(interval=timedelta(seconds=15), started_at=T0)
    calls: list[int] = []
    unsubscribe = status.subscribe(lambda: calls.append(status.version))
    record(status, hold(T0))
    status.role = "follower"
    status.role = "follower"  # no change: no new version
    status.set_policies({}, [])
    unsubscribe()
    record(status, hold(T0))
    assert calls == [1, 2, 3] and status.version == 4
    snapshot = status.snapshot()
    record(status, hold(T0 + timedelta(seconds=15), current=5))
    assert snapshot.version == 4 and snapshot.last("/a") is not None and snapshot.ticks == 2
