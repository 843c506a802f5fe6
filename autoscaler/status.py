"""What the running service knows about itself, for the status API, /metrics, readiness and logs.

The loop hands every TickReport to `ServiceStatus.record`; readers (the HTTP server, `explain`,
notifications) only read. History per app is bounded, so memory does not grow with uptime.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.policy import Policy
from autoscaler.loop import AppOutcome, TickReport
from autoscaler.policyfiles import Problem
from autoscaler.startup import StartupEstimate

Role = Literal["single", "leader", "follower"]

DEFAULT_HISTORY = 100


def _same(previous: AppOutcome, outcome: AppOutcome) -> bool:
    """Two outcomes that say the same thing: no action, same code, same counts."""
    if outcome.write is not None or previous.write is not None or outcome.code != previous.code:
        return False
    before, now = previous.decision, outcome.decision
    if before is None or now is None:
        return before is None and now is None
    return (before.current, before.desired) == (now.current, now.desired)


@dataclass
class ServiceStatus:
    """Mutable by the loop's owner only; everything else reads."""

    interval: timedelta
    started_at: datetime
    history_size: int = DEFAULT_HISTORY
    policies: Mapping[str, Policy] = field(default_factory=dict)
    policy_problems: list[Problem] = field(default_factory=list)
    role: Role = "single"
    last_report: TickReport | None = None
    last_tick_at: datetime | None = None
    last_success_at: datetime | None = None
    ticks: int = 0
    # Start-up time learned from Marathon per app (apps with `predictive` or a `lead: auto`); the
    # owner refreshes it after each tick from the loop's StartupTracker.
    startup: Mapping[str, StartupEstimate] = field(default_factory=dict)
    _recent: dict[str, deque[AppOutcome]] = field(default_factory=dict)

    def record(self, report: TickReport) -> None:
        self.ticks += 1
        self.last_report = report
        self.last_tick_at = report.at
        if report.reached_marathon:
            self.last_success_at = report.at
        for app_id, outcome in report.outcomes.items():
            recent = self._recent.get(app_id)
            if recent is None:
                recent = self._recent[app_id] = deque(maxlen=self.history_size)
            elif recent and _same(recent[-1], outcome):
                recent[-1] = outcome  # the same hold again: keep its newest form, not another entry
                continue
            recent.append(outcome)

    def set_policies(self, policies: Mapping[str, Policy], problems: list[Problem]) -> None:
        self.policies = dict(policies)
        self.policy_problems = list(problems)
        for app_id in list(self._recent):
            if app_id not in self.policies:
                del self._recent[app_id]
        self.startup = {app_id: e for app_id, e in self.startup.items() if app_id in self.policies}

    def recent(self, app_id: str) -> list[AppOutcome]:
        """The app's latest distinct outcomes, oldest first (a repeated hold is kept once, newest)."""
        return list(self._recent.get(app_id, ()))

    def last(self, app_id: str) -> AppOutcome | None:
        recent = self._recent.get(app_id)
        return recent[-1] if recent else None

    def heartbeat_fresh(self, now: datetime) -> bool:
        """Ticks are happening: the last one started within three intervals (or start-up is recent)."""
        anchor = self.last_tick_at or self.started_at
        return now - anchor <= 3 * self.interval

    def readiness(self) -> tuple[bool, str]:
        """Ready when policies are loaded and the last tick reached Marathon; else why not."""
        if not self.policies:
            return False, "no valid policy loaded"
        if self.last_report is None:
            return False, "no tick has run yet"
        if not self.last_report.reached_marathon:
            return False, f"the last tick could not read Marathon: {self.last_report.error}"
        return True, "ok"
