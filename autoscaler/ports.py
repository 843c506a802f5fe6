"""The narrow interfaces the control loop needs from the outside world, and nothing more.

A metrics provider answers a batch of queries; a target lists apps and scales one. The loop, the
simulator and the tests depend on these Protocols, never on a concrete client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from autoscaler.core.model import AppState, QueryResult


class MetricsProvider(Protocol):
    """One metric source (Prometheus, Graphite). `name` is the policy's `source` value."""

    name: str

    async def query(self, queries: Sequence[str], *, now: datetime) -> Mapping[str, QueryResult]:
        """Evaluate every query once (instant query at `now`) and return a result per query.

        A failure of one query is reported in its QueryResult.error and never raised; only a
        failure of the provider as a whole may raise MetricSourceError.
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class AppsSnapshot:
    """Every app Marathon listed, by id, plus the ids whose JSON could not be understood."""

    apps: Mapping[str, AppState]
    invalid: Mapping[str, str] = field(default_factory=dict)


ScaleOutcome = Literal[
    "scaled",
    "deployment_in_progress",
    "deployment_cap",
    "not_found",
    "rejected",
    "unavailable",
]


@dataclass(frozen=True)
class ScaleResult:
    """What happened to one scale request. Only `scaled` means Marathon accepted it."""

    app_id: str
    instances: int
    outcome: ScaleOutcome
    deployment_id: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "scaled"


class Target(Protocol):
    """The system whose instance counts we change (Marathon)."""

    async def list_apps(self) -> AppsSnapshot:
        """All apps in one request. Raises TargetAuthError or TargetUnavailable."""
        ...

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:
        """Set the app's instance count and nothing else. Never creates an app.

        Expected refusals (409 locked, 403 deployment cap, 404) come back as a ScaleResult;
        TargetAuthError is raised on 401.
        """
        ...

    async def aclose(self) -> None: ...
