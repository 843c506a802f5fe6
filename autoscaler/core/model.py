"""Domain values shared by the engine and its callers: app state, metric samples and observations.

Frozen dataclasses: the engine never mutates what it is given, and callers (the loop, the simulator,
the tests) build these from whatever the outside world said.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AppState:
    """What Marathon says about one app at the start of a tick."""

    app_id: str
    instances: int
    tasks_running: int = 0
    tasks_healthy: int = 0
    tasks_staged: int = 0
    tasks_unhealthy: int = 0
    has_health_checks: bool = False
    deployment_ids: tuple[str, ...] = ()
    last_scaled_at: datetime | None = None
    # a pause declared in the app's labels (`autoscaler.paused-until`, `autoscaler.paused-reason`)
    paused_until: datetime | None = None
    paused_reason: str = ""

    @property
    def ready_instances(self) -> int:
        """Instances that count as capacity: healthy ones when the app has health checks, else
        running ones (Marathon reports tasksHealthy = 0 for apps without health checks)."""
        return self.tasks_healthy if self.has_health_checks else self.tasks_running

    @property
    def deployment_in_progress(self) -> bool:
        return bool(self.deployment_ids)


@dataclass(frozen=True)
class Sample:
    """One series' newest point as a metric source returned it.

    `labels` identifies the series: Prometheus labels, or {"name": target} for Graphite.
    `value` is None when the source returned null, NaN or an infinity.
    """

    labels: Mapping[str, str]
    value: float | None
    timestamp: datetime

    @staticmethod
    def clean(value: float | None) -> float | None:
        if value is None or math.isnan(value) or math.isinf(value):
            return None
        return value


@dataclass(frozen=True)
class QueryResult:
    """The answer to one query in one tick: every series it returned, or the error that prevented it."""

    query: str
    samples: tuple[Sample, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Observation:
    """The value one metric of one app had in this tick, or why it has none.

    `value is None` means missing; `reason` then says why (query error, empty result, NaN, ...).
    Staleness is judged by the engine from `timestamp` and the policy's `max_metric_age`.
    """

    value: float | None
    timestamp: datetime | None = None
    reason: str | None = None
    series: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def missing(reason: str) -> Observation:
        return Observation(value=None, timestamp=None, reason=reason)
