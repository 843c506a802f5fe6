"""In-memory fakes of the loop's ports (Marathon, a metric source), shared by the tests that drive
a real ControlLoop without sockets or sleeps; they read the one fake clock of autoscaler.testing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from autoscaler.core.model import AppState, QueryResult, Sample
from autoscaler.core.policy import Policy
from autoscaler.errors import MetricSourceError, TargetUnavailable
from autoscaler.ports import AppsSnapshot, ScaleOutcome, ScaleResult
from autoscaler.testing.clock import DEFAULT_START, FakeClock

__all__ = ["GROUPED", "T0", "FakeClock", "FakeProvider", "FakeTarget", "cpu_policy"]

T0 = DEFAULT_START
GROUPED = "avg by (marathon_app) (cpu)"


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
    def __init__(self, name: str, clock: FakeClock) -> None:
        self.name = name
        self.clock = clock
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
                    Sample(labels=labels, value=v, timestamp=self.clock.now) for labels, v in self.values.get(q, [])
                ),
            )
            for q in queries
        }

    async def aclose(self) -> None:
        return None


def cpu_policy(app: str, **overrides: object) -> Policy:
    data: dict[str, object] = {
        "app": app,
        "min_instances": 1,
        "max_instances": 20,
        "metrics": [
            {
                "name": "cpu",
                "source": "prometheus",
                "query": GROUPED,
                "series": {"marathon_app": "${app}"},
                "target_average": 0.5,
            }
        ],
    }
    data.update(overrides)
    return Policy.model_validate(data)
