"""The values of a decision: the Decision itself, its clamps, and the History fed back between ticks.

`decide` (core.decide) makes a Decision; everything that shows one (logs, the status API, explain,
notifications, the simulator's timeline) reads these values. They are frozen: a Decision is a record
of what the engine did, and the History is replaced, never changed, by `record`.

The text of every reason is formatted only when it is read (`Clamp.detail`, `reasons()`): most
decisions of a live loop over thousands of apps are holds that nobody reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from autoscaler.core import render
from autoscaler.core.codes import Outcome, Rule
from autoscaler.core.fallback import FallbackState
from autoscaler.core.forecast import LoadForecast
from autoscaler.core.frozen import assemble
from autoscaler.core.lazytext import LazyDetail
from autoscaler.core.pause import Pause
from autoscaler.core.ramp import RampFloor, RampKey
from autoscaler.core.rules import MetricEvaluation
from autoscaler.core.schedule import Window
from autoscaler.core.steady import LoadRun

Action = Literal["up", "down", "none"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    at: datetime
    instances: int


@dataclass(frozen=True, slots=True)
class ReadyCount:
    """How many instances were ready at one tick (for the metric window)."""

    at: datetime
    instances: int


def _appended(items: tuple[Any, ...], item: Any, cutoff: datetime) -> tuple[Any, ...]:
    """`items` (oldest first) without those at or before `cutoff`, then `item`.

    Consecutive equal counts are kept as one entry, stamped with the latest of their ticks: every
    reader asks only "is there an entry of this count after a moment", which the latest tick answers,
    so an app whose count stays put keeps one entry instead of one per tick. Ticks arrive in time
    order, so only the oldest entries expire and the rest is kept as one slice; if the clock went back,
    every entry is checked instead (and nothing is merged).
    """
    if items and items[-1].at > item.at:
        return (*(i for i in items if i.at > cutoff), item)
    start, end = 0, len(items)
    while start < end and items[start].at <= cutoff:
        start += 1
    if start < end and items[-1].instances == item.instances:
        end -= 1  # the same count again: the new entry replaces the last one
        if start == end:
            return (item,)
    if start or end < len(items):
        return (*items[start:end], item)
    return (*items, item)


@dataclass(frozen=True)
class History:
    """What the engine needs to remember between ticks for one app.

    `observing_since`: when this process first evaluated the app (restart safety);
    `recommendations`: recent recommendations, oldest first, for the stabilisation windows;
    `ready`: the ready count of recent ticks, oldest first, for the metric window;
    `metrics_missing_since`: the first tick of the current run of ticks at which every metric of the
    app was missing (None while one is present), for the policy's `fallback`;
    `ramp_bases`: the base each ramp in force started from (core.ramp);
    `loads`: each metric's load run, for the scale-down's steady settings (core.steady).
    The first two keep a run of ticks with the same count as one entry at the latest of them (the windows ask
    only whether a count was seen after a moment), so a steady app's History stays a few entries long.
    """

    observing_since: datetime | None = None
    recommendations: tuple[Recommendation, ...] = ()
    ready: tuple[ReadyCount, ...] = ()
    metrics_missing_since: datetime | None = None
    ramp_bases: tuple[tuple[RampKey, int], ...] = ()
    loads: tuple[LoadRun, ...] = ()

    def record(self, decision: Decision, *, keep: timedelta, at: datetime | None = None) -> History:
        """The history after `decision`, keeping only what a window of length `keep` can need.

        `at`: when the decision was taken again unchanged (a tick that reused it), if not `decision.at`.
        """
        at = decision.at if at is None else at
        since = self.observing_since or at
        cutoff = at - keep
        ready = self.ready
        if decision.ready is not None:
            ready = _appended(ready, ReadyCount(at, decision.ready), cutoff)
        missing = None
        if decision.metrics:
            for metric in decision.metrics:
                if metric.proposal is not None:
                    break
            else:  # every metric missing
                missing = self.metrics_missing_since or at
        if decision.ramp is not None:
            bases = decision.ramp.bases
        else:  # a hold for a running deployment evaluates no ramp: its bases stay for the next tick
            bases = self.ramp_bases if decision.code == Outcome.DEPLOYMENT_IN_PROGRESS else ()
        if bases == self.ramp_bases:
            bases = self.ramp_bases
        recommendations = self.recommendations
        loads = decision.loads if decision.loads != self.loads else self.loads
        unchanged = missing is self.metrics_missing_since and bases is self.ramp_bases and loads is self.loads
        if decision.recommendation is None:
            if since is self.observing_since and ready is self.ready and unchanged:
                return self
        else:
            recommendations = _appended(recommendations, Recommendation(at, decision.recommendation), cutoff)
        # made without the dataclass's __init__ (core.frozen): one History per app per tick
        return assemble(
            History,
            {
                "observing_since": since,
                "recommendations": recommendations,
                "ready": ready,
                "metrics_missing_since": missing,
                "ramp_bases": bases,
                "loads": loads,
            },
        )

    def last_ready(self, since: datetime) -> int | None:
        """The ready count of the newest tick recorded from `since` on (None: none is)."""
        if not self.ready or self.ready[-1].at < since:
            return None
        return self.ready[-1].instances

    def ready_range(self, since: datetime, ready: int) -> tuple[int, int]:
        """The fewest and the most instances ready at the ticks from `since` on, `ready` (now) included."""
        fewest = most = ready
        for past in reversed(self.ready):
            if past.at < since:
                break
            count = past.instances
            if count < fewest:
                fewest = count
            elif count > most:
                most = count
        return fewest, most


class Clamp(LazyDetail):
    """One stage that changed (or held) the count: its rule, the numbers before and after, and why.

    Immutable. `detail` may be given as text or as a function that makes it, once, when first read.
    """

    __slots__ = ("after", "before", "rule")
    _FIELDS = ("rule", "before", "after")

    rule: str
    before: int
    after: int

    def __init__(self, rule: str, before: int, after: int, detail: str | Callable[[], str]) -> None:
        self._init(detail, rule=rule, before=before, after=after)


@dataclass(frozen=True)
class Decision:
    """The engine's answer, with everything needed to explain it."""

    app_id: str
    at: datetime
    current: int
    desired: int
    code: str  # scaled_up | scaled_down | within_tolerance | metric_window | cooldown | stabilizing | ...
    metrics: tuple[MetricEvaluation, ...] = ()
    clamps: tuple[Clamp, ...] = ()
    windows: tuple[Window, ...] = ()
    proposed: int | None = None  # what the metrics asked for (after the missing-metric guard), else the baseline
    recommendation: int | None = None  # `proposed` raised to an active floor; kept in History
    cause: str = ""  # what moved the count: metrics, baseline, forecast, schedule, bounds
    notes: tuple[str, ...] = field(default=())
    ready: int | None = None  # instances ready at this tick; kept in History for the metric window
    # The seasonal forecast (policies with `predictive`): its numbers, and whether it proposed more
    # than the metrics (`proposed_by`: "reactive" or "forecast"; a forecast_only one never does).
    forecast: LoadForecast | None = None
    proposed_by: str = "reactive"
    forecast_mode: str | None = None  # the policy's predictive mode, None without one
    pause: Pause | None = None  # the pause in force (code `paused`), see core.pausing

    @property
    def would(self) -> int:
        """The count the decision would set without a pause (`desired` when there is none)."""
        if self.pause is not None and self.clamps and self.clamps[-1].rule == Rule.PAUSED:
            return self.clamps[-1].before
        return self.desired

    # Every metric missing with a `fallback` in the policy: where the fallback stands, and since when.
    fallback: FallbackState | None = None
    # The ramps of schedule windows in force (core.ramp): their floor, and the base it ramps from.
    ramp: RampFloor | None = None
    # Each metric's load run after this tick (core.steady; empty when the policy has no steady
    # scale-down), and since when the load has been steady if the scale-down went by it.
    loads: tuple[LoadRun, ...] = ()
    steady_since: datetime | None = None

    @property
    def action(self) -> Action:
        if self.desired > self.current:
            return "up"
        if self.desired < self.current:
            return "down"
        return "none"

    @property
    def scaled(self) -> bool:
        return self.action != "none"

    # Its words are core.render's, the one renderer of a decision.
    def summary(self) -> str:
        """One line: `/shop/api: 4 -> 8 (scaled_up: metrics)` or `/shop/api: stays at 4 (cooldown)`."""
        return render.summary(self)

    def proposal_text(self) -> str:
        """What the count would be without windows, forecast and limits, in words."""
        return render.proposal_text(self)

    def reasons(self) -> list[str]:
        """Every reason in order, for logs and the status API."""
        return render.reasons(self)

    def explain(self) -> str:
        """A readable account of the whole decision."""
        return render.account(self)
