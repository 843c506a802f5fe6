"""What one tick did, as every reader of the loop sees it: the tick report types.

The loop produces a `TickReport` per tick; the sinks (status, self-metrics, notifications, Graphite
events), the web layer, the demo and the command line read it. They depend on this module, never on
the loop itself, so an observer can be added or changed without touching the control loop and the
loop never learns who reads its reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from autoscaler.core.decide import Decision
from autoscaler.ports import ScaleResult

__all__ = ["AppOutcome", "TickReport"]


@dataclass(frozen=True)
class AppOutcome:
    """What happened to one app in one tick.

    `code` is the Decision's code, or, when no decision could be made or applied, why:
    app_not_found, invalid_app_state, internal_error, deployment_in_progress (409 on write),
    deployment_cap, write_rejected, write_failed, not_leader, dry_run.
    """

    app_id: str
    code: str
    detail: str = ""
    decision: Decision | None = None
    write: ScaleResult | None = None

    @property
    def scaled(self) -> bool:
        return self.write is not None and self.write.ok


@dataclass(frozen=True)
class TickReport:
    """One tick: each managed app's outcome, or why the tick failed, and what the tick cost."""

    at: datetime
    outcomes: Mapping[str, AppOutcome] = field(default_factory=dict)
    error: str | None = None
    auth_error: bool = False
    duration_seconds: float = 0.0
    queries: Mapping[str, int] = field(default_factory=dict)  # distinct queries sent, per source
    query_seconds: Mapping[str, float] = field(default_factory=dict)  # wall time of each source's batch
    query_errors: Mapping[str, int] = field(default_factory=dict)  # queries per source that ended in an error
    # what made the tick fail: "marathon" (the apps could not be read), "deadline" (the tick ran out of
    # time) or "internal" (an unexpected exception); None when it did not fail
    error_kind: str | None = None
    slow: tuple[str, ...] = ()  # what hit its deadline in this tick: metric sources, or the phase cut short

    @property
    def reached_marathon(self) -> bool:
        return self.error is None
