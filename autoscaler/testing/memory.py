"""In-memory fakes of the loop's ports (`Target`, `MetricsProvider`), for tests that drive a real
ControlLoop without sockets or sleeps.

`FakeTarget` is Marathon as a dict of apps: a write sets instances and `lastScalingAt` like Marathon
does, `refuse` makes one app's write fail, `down` the whole list. `FakeProvider` answers what the
test `set` for each query, stamped at the clock's present (or `age` before it); `fail` makes it a
source that is down. Both read the one fake clock, so advancing it moves the service and its world
together. For the same over real HTTP, see `marathon` and `prometheus`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from autoscaler.core.model import AppState, QueryResult, Sample
from autoscaler.errors import MetricSourceError, TargetUnavailable
from autoscaler.ports import AppsSnapshot, ScaleOutcome, ScaleResult
from autoscaler.testing.clock import FakeClock

__all__ = ["FakeProvider", "FakeTarget"]


class FakeTarget:
    """Marathon in memory: apps by id; a write sets instances and lastScalingAt like Marathon."""

    def __init__(self, clock: FakeClock, apps: Sequence[AppState], *, url: str = "http://m") -> None:
        self.clock = clock
        self.url = url
        self.apps = {app.app_id: app for app in apps}
        self.list_calls = 0
        self.writes: list[tuple[str, int, bool]] = []
        self.refuse: dict[str, ScaleOutcome] = {}
        self.down = False

    async def list_apps(self) -> AppsSnapshot:
        self.list_calls += 1
        if self.down:
            raise TargetUnavailable(f"Marathon at {self.url} did not answer")
        return AppsSnapshot(apps=dict(self.apps))

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:
        self.writes.append((app_id, instances, force))
        if app_id in self.refuse:
            return ScaleResult(app_id, instances, self.refuse[app_id], detail="refused")
        app = self.apps[app_id]
        self.apps[app_id] = replace(app, instances=instances, tasks_running=instances, last_scaled_at=self.clock.now)
        return ScaleResult(app_id, instances, "scaled", deployment_id="d1")

    async def aclose(self) -> None:
        return None


class FakeProvider:
    """A metric source in memory: per query, the (labels, value) series the test set."""

    def __init__(self, name: str, clock: FakeClock, *, age: timedelta = timedelta(0)) -> None:
        self.name = name
        self.clock = clock
        self.age = age  # how old every sample is when asked for
        self.values: dict[str, list[tuple[dict[str, str], float | None]]] = {}
        self.calls: list[list[str]] = []
        self.fail = False

    def set(self, query: str, *series: tuple[dict[str, str], float | None]) -> None:
        self.values[query] = list(series)

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        self.calls.append(list(queries))
        if self.fail:
            raise MetricSourceError(f"{self.name} is down")
        return {
            q: QueryResult(
                query=q,
                samples=tuple(
                    Sample(labels=labels, value=v, timestamp=self.clock.now - self.age)
                    for labels, v in self.values.get(q, [])
                ),
            )
            for q in queries
        }

    async def aclose(self) -> None:
        return None
