"""What the running service knows about itself, for the status API, /metrics, readiness and logs.

The loop hands every TickReport to `ServiceStatus.record`; readers (the status server's thread,
`explain`, notifications) only read. Reading happens on another thread than writing, so every
mutation takes a lock and readers take an immutable `StatusSnapshot`; `version` changes with every
mutation, so a reader can tell whether what it built from the last snapshot is still current.

Per app the status keeps a bounded list of distinct outcomes and a compact trend of instances and
load against target (`trends`); a bounded list of recent scale actions is kept for the
whole service. The trend and the actions are folded from the reports by whoever reads them first
(the status server does it right after each tick, in its own thread), so `record` stays cheap on
the loop's critical path.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.policy import Policy
from autoscaler.core.startup import StartupEstimate
from autoscaler.policyfiles import Problem
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.status.trends import DEFAULT_TREND_POINTS, DEFAULT_TREND_WINDOW, ScaleAction, TrendStore

Role = Literal["single", "leader", "follower"]

DEFAULT_HISTORY = 100
DEFAULT_ACTIONS = 100
_PENDING = 64  # reports not yet folded into the trends; older ones are dropped from the trends only

__all__ = ["DEFAULT_HISTORY", "Role", "ServiceStatus", "StatusSnapshot"]


def _same(previous: AppOutcome, outcome: AppOutcome) -> bool:
    """Two outcomes that say the same thing: no action, same code, same counts."""
    if outcome.write is not None or previous.write is not None or outcome.code != previous.code:
        return False
    before, now = previous.decision, outcome.decision
    if before is None or now is None:
        return before is None and now is None
    return (before.current, before.desired) == (now.current, now.desired)


def _heartbeat_fresh(*, interval: timedelta, anchor: datetime, now: datetime) -> bool:
    return now - anchor <= 3 * interval


def _readiness(policies: Mapping[str, Policy], report: TickReport | None, *, detail: bool) -> tuple[bool, str]:
    if not policies:
        return False, "no valid policy loaded"
    if report is None:
        return False, "no tick has run yet"
    if not report.reached_marathon:
        reason = "the last tick could not read Marathon"
        return False, f"{reason}: {report.error}" if detail else reason
    return True, "ok"


@dataclass(frozen=True)
class StatusSnapshot:
    """The status at one moment, safe to read from any thread (nothing in it changes)."""

    version: int
    interval: timedelta
    started_at: datetime
    policies: Mapping[str, Policy]
    policy_problems: tuple[Problem, ...]
    role: Role
    last_report: TickReport | None
    last_tick_at: datetime | None
    last_success_at: datetime | None
    ticks: int
    startup: Mapping[str, StartupEstimate]
    outcomes: Mapping[str, AppOutcome]  # each app's last outcome

    def last(self, app_id: str) -> AppOutcome | None:
        return self.outcomes.get(app_id)

    def heartbeat_fresh(self, now: datetime) -> bool:
        return _heartbeat_fresh(interval=self.interval, anchor=self.last_tick_at or self.started_at, now=now)

    def readiness(self, *, detail: bool = True) -> tuple[bool, str]:
        return _readiness(self.policies, self.last_report, detail=detail)


class ServiceStatus:
    """Mutable by the loop's owner only (any thread may read, through the methods or a snapshot)."""

    def __init__(
        self,
        *,
        interval: timedelta,
        started_at: datetime,
        history_size: int = DEFAULT_HISTORY,
        trend_window: timedelta = DEFAULT_TREND_WINDOW,
        trend_points: int = DEFAULT_TREND_POINTS,
        actions_size: int = DEFAULT_ACTIONS,
    ) -> None:
        self.interval = interval
        self.started_at = started_at
        self.history_size = history_size
        self.policies: Mapping[str, Policy] = {}
        self.policy_problems: list[Problem] = []
        self.last_report: TickReport | None = None
        self.last_tick_at: datetime | None = None
        self.last_success_at: datetime | None = None
        self.ticks = 0
        self._role: Role = "single"
        # Start-up time learned from Marathon per app (apps with `predictive` or a `lead: auto`); the
        # owner refreshes it after each tick from the loop's StartupTracker.
        self._startup: Mapping[str, StartupEstimate] = {}
        self._recent: dict[str, deque[AppOutcome]] = {}
        self._last: dict[str, AppOutcome] = {}  # replaced, never changed in place: snapshots share it
        self._version = 0
        self._lock = threading.Lock()
        self._trends = TrendStore(window=trend_window, points=trend_points)
        self._actions: deque[ScaleAction] = deque(maxlen=actions_size)
        self._pending: deque[TickReport] = deque(maxlen=_PENDING)
        self._fold_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    # --- written by the loop's owner -------------------------------------------------------------

    def record(self, report: TickReport) -> None:
        with self._lock:
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
            if report.outcomes:
                self._last = {**self._last, **report.outcomes}
            self._pending.append(report)
            self._version += 1
        self._changed()

    def set_policies(self, policies: Mapping[str, Policy], problems: list[Problem]) -> None:
        with self._lock:
            self.policies = dict(policies)
            self.policy_problems = list(problems)
            for app_id in list(self._recent):
                if app_id not in self.policies:
                    del self._recent[app_id]
            self._last = {app_id: o for app_id, o in self._last.items() if app_id in self.policies}
            self._startup = {app_id: e for app_id, e in self._startup.items() if app_id in self.policies}
            self._version += 1
        with self._fold_lock:
            self._trends.keep(set(self.policies))
        self._changed()

    @property
    def role(self) -> Role:
        return self._role

    @role.setter
    def role(self, role: Role) -> None:
        if role != self._role:
            with self._lock:
                self._role = role
                self._version += 1
            self._changed()

    @property
    def startup(self) -> Mapping[str, StartupEstimate]:
        return self._startup

    @startup.setter
    def startup(self, estimates: Mapping[str, StartupEstimate]) -> None:
        if estimates != self._startup:
            with self._lock:
                self._startup = dict(estimates)
                self._version += 1
            self._changed()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (with no lock held, on the writer's thread) after every change; keep it cheap.
        Returns the function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # --- read by anyone --------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> StatusSnapshot:
        with self._lock:
            return StatusSnapshot(
                version=self._version,
                interval=self.interval,
                started_at=self.started_at,
                policies=self.policies,
                policy_problems=tuple(self.policy_problems),
                role=self._role,
                last_report=self.last_report,
                last_tick_at=self.last_tick_at,
                last_success_at=self.last_success_at,
                ticks=self.ticks,
                startup=self._startup,
                outcomes=self._last,
            )

    def recent(self, app_id: str) -> list[AppOutcome]:
        """The app's latest distinct outcomes, oldest first (a repeated hold is kept once, newest)."""
        with self._lock:
            return list(self._recent.get(app_id, ()))

    def last(self, app_id: str) -> AppOutcome | None:
        return self._last.get(app_id)

    def heartbeat_fresh(self, now: datetime) -> bool:
        """Ticks are happening: the last one started within three intervals (or start-up is recent)."""
        return _heartbeat_fresh(interval=self.interval, anchor=self.last_tick_at or self.started_at, now=now)

    def readiness(self, *, detail: bool = True) -> tuple[bool, str]:
        """Ready when policies are loaded and the last tick reached Marathon; else why not (with the
        tick's error only when `detail`)."""
        return _readiness(self.policies, self.last_report, detail=detail)

    # --- trends and scale actions, folded from the reports ----------------------------------------

    def fold(self) -> None:
        """Fold the reports recorded since the last fold into the trends and the recent actions."""
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        if not pending:
            return
        with self._fold_lock:
            for report in pending:
                self._trends.add(report)
                self._actions.extend(self._trends.actions_of(report))

    def trend(self, app_id: str) -> list[tuple[int, int, int, float]]:
        """The app's recent points, oldest first: (unix seconds, instances, desired, load/target)."""
        self.fold()
        with self._fold_lock:
            trend = self._trends.get(app_id)
            return list(trend.rows()) if trend is not None else []

    @property
    def trend_step(self) -> int:
        """Seconds between two points of a trend."""
        return self._trends.step

    def recent_actions(self, limit: int = DEFAULT_ACTIONS) -> list[ScaleAction]:
        """The service's latest scale actions Marathon accepted, newest first."""
        self.fold()
        with self._fold_lock:
            actions = list(self._actions)
        return actions[::-1][:limit]
