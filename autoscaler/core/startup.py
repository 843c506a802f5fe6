"""How long new instances of an app take to become ready, learned from Marathon.

Each scale-up (ours, or anyone's: Marathon's `versionInfo.lastScalingAt` dates it) opens a
measurement: from the scale write until the app's ready count (healthy instances for apps with health
checks, running ones otherwise) reaches the new count. The estimate is the median of the last
`keep` measurements (default 9): one slow image pull or one instance that never became healthy does not
move it. Bounded memory per app: at most `keep` measurements and `MAX_OPEN` open scale-ups.

A measurement ends when the app is seen ready, so its resolution is the loop interval: the estimate
errs on the long side by at most one tick, which is the side a lead time should err on.
A scale-up that is cancelled (the count goes back down before it is ready) or that does not become
ready within `give_up` (default 30 min: a crash-looping or unschedulable app) measures nothing.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoscaler.core.model import AppState

DEFAULT_KEEP = 9
DEFAULT_GIVE_UP = timedelta(minutes=30)
MAX_OPEN = 8


@dataclass(frozen=True, slots=True)
class StartupEstimate:
    """The robust recent start-up time of one app and what it rests on."""

    app_id: str
    seconds: float  # median of `samples`
    samples: tuple[float, ...]  # the most recent measurements, oldest first

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def as_dict(self) -> dict[str, object]:
        return {"seconds": self.seconds, "samples": list(self.samples)}


@dataclass(slots=True)
class _Open:
    since: datetime  # when the scale was written
    target: int  # the instance count that must be ready


class _AppStartup:
    __slots__ = ("instances", "open", "samples")

    def __init__(self, keep: int) -> None:
        self.instances: int | None = None
        self.open: list[_Open] = []
        self.samples: deque[float] = deque(maxlen=keep)


class StartupTracker:
    """Start-up time per app, from consecutive AppStates and the loop's own writes."""

    def __init__(self, *, keep: int = DEFAULT_KEEP, give_up: timedelta = DEFAULT_GIVE_UP) -> None:
        if keep < 1:
            raise ValueError("keep at least one measurement")
        self._keep = keep
        self._give_up = give_up
        self._apps: dict[str, _AppStartup] = {}

    def _app(self, app_id: str) -> _AppStartup:
        app = self._apps.get(app_id)
        if app is None:
            app = self._apps[app_id] = _AppStartup(self._keep)
        return app

    def wrote(self, app_id: str, *, instances: int, at: datetime) -> None:
        """Our write of `instances` was accepted at `at` (a scale-up opens a measurement)."""
        app = self._app(app_id)
        app.open = [m for m in app.open if m.target <= instances]  # a scale-down cancels what it undercuts
        if app.instances is not None and instances > app.instances and all(m.target != instances for m in app.open):
            app.open.append(_Open(at, instances))
            del app.open[:-MAX_OPEN]
        app.instances = instances

    def observe(self, state: AppState, at: datetime) -> StartupEstimate | None:
        """Feed the app's state at a tick; returns the estimate after it."""
        app = self._app(state.app_id)
        previous = app.instances
        if previous is not None and state.instances > previous:
            # scaled by someone else (or our write was not reported): dated by Marathon when it can be
            since = state.last_scaled_at if state.last_scaled_at is not None and state.last_scaled_at <= at else at
            # undated and already ready: nothing to measure
            known = since != at or state.ready_instances < state.instances
            if known and all(m.target != state.instances for m in app.open):
                app.open.append(_Open(since, state.instances))
                del app.open[:-MAX_OPEN]
        if previous is not None and state.instances < previous:
            app.open = [m for m in app.open if m.target <= state.instances]
        app.instances = state.instances
        if app.open:
            ready = state.ready_instances
            still: list[_Open] = []
            for measurement in app.open:
                if ready >= measurement.target and not state.deployment_in_progress:
                    app.samples.append(max(0.0, (at - measurement.since).total_seconds()))
                elif at - measurement.since <= self._give_up:
                    still.append(measurement)
            app.open = still
        return self.estimate(state.app_id)

    def estimate(self, app_id: str) -> StartupEstimate | None:
        """The median of the recent measurements, or None before the first one."""
        app = self._apps.get(app_id)
        if app is None or not app.samples:
            return None
        samples = tuple(app.samples)
        return StartupEstimate(app_id, float(statistics.median(samples)), samples)

    def forget(self, keep_apps: set[str] | frozenset[str]) -> None:
        """Drop apps no longer managed (policy reload)."""
        self._apps = {app_id: app for app_id, app in self._apps.items() if app_id in keep_apps}

    def estimates(self) -> dict[str, StartupEstimate]:
        out = {}
        for app_id in self._apps:
            estimate = self.estimate(app_id)
            if estimate is not None:
                out[app_id] = estimate
        return out
