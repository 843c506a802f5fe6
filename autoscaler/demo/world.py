"""The demo's simulated world: traffic from a real trace, and the load it puts on Marathon's tasks.

Time runs faster than the wall clock (`SimClock`), and the fake Marathon, the metrics endpoint and the
control loop all read the same simulated clock, so cooldowns, schedules and task start-up all happen
in simulated time. Each app serves a share of the trace's traffic (the same minute of the day),
multiplied during its planned events (a push, a flash sale). A CPU app's utilisation is its demand
over the capacity of its RUNNING tasks, capped at 1.0; a queue app's backlog grows with arrivals and
shrinks by what its running tasks drain.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Literal

CPU_QUERY = "avg by (marathon_app) (demo_cpu_utilisation)"
BACKLOG_QUERY = "sum by (marathon_app) (demo_queue_backlog)"


class SimClock:
    """Simulated time: starts at `start` and runs `speed` times faster than the wall clock."""

    def __init__(self, start: datetime, *, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)

    def epoch(self) -> float:
        return self.now().timestamp()


@dataclass(frozen=True)
class Event:
    """Traffic multiplied by `factor` between `start` and `end` (a push, a sale)."""

    name: str
    start: datetime
    end: datetime
    factor: float


@dataclass(frozen=True)
class DemoApp:
    app_id: str
    initial_instances: int
    peak_instances: float  # instances the day's peak needs at 100 % utilisation
    kind: Literal["cpu", "queue"] = "cpu"
    capacity: float = 50.0  # requests (or messages) per second one running task handles
    events: tuple[Event, ...] = ()


def load_day_trace() -> list[float]:
    """Requests per minute for each minute of the embedded day (index = minute of the day)."""
    text = resources.files("autoscaler.demo").joinpath("nasa_1995-07-06.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return [float(row["value"]) for row in rows]


class DemoWorld:
    """Computes each app's metric from the trace, its events and its running tasks."""

    def __init__(
        self,
        *,
        apps: Sequence[DemoApp],
        trace: Sequence[float],
        running: Callable[[str], int],
    ) -> None:
        self.apps = {app.app_id: app for app in apps}
        self._trace = list(trace)
        self._trace_peak = max(self._trace) or 1.0
        self._running = running
        self._backlog: dict[str, float] = {app.app_id: 0.0 for app in apps if app.kind == "queue"}
        self._backlog_at: dict[str, float] = {}

    def demand(self, app_id: str, at: datetime) -> float:
        """Requests per second for the app at simulated time `at` (local minute of the day)."""
        app = self.apps[app_id]
        minute = (at.hour * 60 + at.minute) % len(self._trace)
        base = self._trace[minute] / self._trace_peak * app.peak_instances * app.capacity
        factor = max((e.factor for e in app.events if e.start <= at < e.end), default=1.0)
        return base * factor

    def utilisation(self, app_id: str, at: datetime) -> float:
        app = self.apps[app_id]
        running = self._running(app_id)
        if running <= 0:
            return 1.0
        return min(1.0, self.demand(app_id, at) / (running * app.capacity))

    def backlog(self, app_id: str, at: datetime) -> float:
        """The queue after arrivals and draining since the last look (integrated in simulated time)."""
        app = self.apps[app_id]
        now = at.timestamp()
        last = self._backlog_at.get(app_id, now)
        elapsed = max(0.0, now - last)
        drained = self._running(app_id) * app.capacity * elapsed
        self._backlog[app_id] = max(0.0, self._backlog[app_id] + self.demand(app_id, at) * elapsed - drained)
        self._backlog_at[app_id] = now
        return self._backlog[app_id]

    def series_for(self, query: str, at_epoch: float, *, tz_of: datetime) -> list[tuple[Mapping[str, str], float]]:
        at = datetime.fromtimestamp(at_epoch, tz_of.tzinfo)
        if query == CPU_QUERY:
            return [
                ({"marathon_app": a.app_id}, self.utilisation(a.app_id, at))
                for a in self.apps.values()
                if a.kind == "cpu"
            ]
        if query == BACKLOG_QUERY:
            return [
                ({"marathon_app": a.app_id}, self.backlog(a.app_id, at))
                for a in self.apps.values()
                if a.kind == "queue"
            ]
        return []
