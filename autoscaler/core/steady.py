"""Whether an app's load is falling (or flat) steadily: when a scale-down may follow it closely.

The scale-down's own settings (10 min of lower recommendations, 10 min between actions, 20 % per
action) keep a fleet from shedding into the next burst of bursty traffic, and cost instance-hours
after every fall of smooth traffic. Which kind a fall is can be seen in the load itself: bursty
traffic rises and drops by more than the tolerance from one tick to the next all the time, smooth
traffic does not. So each metric's load (`MetricEvaluation.load`: its proposal before rounding, in
instances) is followed tick by tick as a *run* (`LoadRun`):

- a run begins at the first tick with a load, and begins again at a tick whose load rose more than
  the tolerance above the lowest of the run, or dropped by more than the tolerance since last tick;
- a load that *collapses* (less than half of last tick's) is an interruption upstream, not a fall:
  it tends to end as abruptly as it began, so no run counts as steady until the load is back at
  half of what it was before the collapse;
- a missing metric ends its run.

The load is steady when every metric's run is at least `scale_down.steady.window` old and none waits
for a collapse to end: the scale-down then goes by `scale_down.steady` (`ScaleDownRule.shedding`).
A count held up by a floor, the forecast, a ramp or the fallback is no fall of the load: while the
recommendation is raised above the metrics' proposal the runs begin again at every tick (`restarted`,
from `core.stages.judge_fall`).
The runs are kept in History from tick to tick; a tick that takes the same values again leaves them
as they were, so a reused decision (core.reuse) keeps them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from autoscaler.core.policy import SteadyFall
from autoscaler.core.rules import MetricEvaluation

# A load below this share of last tick's has collapsed (an interruption, not a fall).
COLLAPSE = 0.5


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One metric's load since its run began (see the module docstring)."""

    metric: str
    since: datetime  # when the run began
    low: float  # the lowest load of the run
    last: float  # the load of the latest tick
    collapsed_from: float | None = None  # the load before a collapse that has not ended yet

    def steady_at(self, now: datetime, rule: SteadyFall) -> bool:
        return self.collapsed_from is None and now - self.since >= rule.window


def advance(
    runs: Sequence[LoadRun], metrics: Sequence[MetricEvaluation], now: datetime, rule: SteadyFall
) -> tuple[LoadRun, ...]:
    """The runs after this tick's `metrics` (one per metric with a load, in the metrics' order)."""
    previous = {run.metric: run for run in runs}
    tolerance = rule.tolerance
    advanced: list[LoadRun] = []
    for metric in metrics:
        load = metric.load
        if load is None:
            continue
        run = previous.get(metric.name)
        if run is None:
            advanced.append(LoadRun(metric.name, now, load, load))
            continue
        if run.last == load:  # the same value again (a steady app's usual tick)
            advanced.append(run)
            continue
        collapsed = run.collapsed_from
        if load < COLLAPSE * run.last:
            collapsed = max(run.last, collapsed or 0.0)
        elif collapsed is not None and load >= COLLAPSE * collapsed:
            collapsed = None
        if load > run.low * (1 + tolerance) or run.last - load > tolerance * run.last:
            advanced.append(LoadRun(metric.name, now, load, load, collapsed))
        else:
            advanced.append(LoadRun(metric.name, run.since, min(run.low, load), load, collapsed))
    return tuple(advanced)


def restarted(runs: Sequence[LoadRun], now: datetime) -> tuple[LoadRun, ...]:
    """The runs begun again at `now` (the count is held up by something other than the load)."""
    return tuple(run if run.since == now else replace(run, since=now, low=run.last) for run in runs)


def steady_since(
    runs: Sequence[LoadRun], metrics: Sequence[MetricEvaluation], now: datetime, rule: SteadyFall
) -> datetime | None:
    """Since when every metric's load has been steady, if it is now (each run at least `window` old,
    none waiting for a collapse to end, no metric missing); else None."""
    if not metrics or len(runs) != len(metrics):
        return None
    for run in runs:
        if not run.steady_at(now, rule):
            return None
    return max(run.since for run in runs)
