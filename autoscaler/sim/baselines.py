"""Reference scalers to compare our engine against, run in the same fleet model and the same tool.

- `hpa`: the Kubernetes HorizontalPodAutoscaler, rule for rule (`autoscaler.sim.hpa`): the replica
  calculator with its unready-pod rules, downscale stabilisation and the max(2 x current, 4) limit.
- `hpa-simple`: the HPA's proportional rule without the unready-pod rules: `ceil(ready x utilisation /
  target)` with a 0.1 tolerance; scale-up limited per 15 s period to the larger of +100 % and +4
  instances over the count at the start of the period; scale-down stabilisation 300 s (the highest
  raw recommendation of the last 5 minutes, this tick's included); no ready instance means no metric,
  so no change. It multiplies a metric window that still holds saturated samples by the new, larger
  ready count, and so overshoots after every rise: kept to show what those rules are worth.
- `threshold`: the classic marathon-autoscale rule: after 3 consecutive ticks above 80 % CPU multiply
  the count by 1.5 (rounded up), after 3 consecutive ticks below 20 % divide it by 1.5 (rounded down);
  the streaks restart after every action. Its thresholds are fixed (no target).
- `static`: always `peak_instances`, the count the trace's peak needs at 100 %.
- `oracle`: perfect foresight: ready = requested = ceil(demand / capacity) at every instant, with no
  startup delay (the fleet model follows the demand itself). The lower bound of cost at zero unserved.

Every scaler answers one TickView per tick with a Verdict; the runner applies it to the model.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

BaselineName = Literal["hpa", "hpa-simple", "threshold", "static", "oracle"]
BASELINES: tuple[BaselineName, ...] = ("hpa", "hpa-simple", "threshold", "static", "oracle")

# Kubernetes HPA v2 defaults
HPA_DEFAULT_TARGET = 0.8  # the default CPU utilisation target of `kubectl autoscale` / autoscaling/v1
HPA_TOLERANCE = 0.1
HPA_SCALE_UP_PERIOD = 15.0
HPA_SCALE_UP_PERCENT = 100.0
HPA_SCALE_UP_PODS = 4
HPA_SCALE_DOWN_STABILIZATION = 300.0

# the classic marathon-autoscale rule
THRESHOLD_HIGH = 0.8
THRESHOLD_LOW = 0.2
THRESHOLD_TICKS = 3
THRESHOLD_FACTOR = 1.5

# ceil() of a ratio that is an integer on paper must not round up because of float error
_EPSILON = 1e-9


@dataclass(frozen=True)
class TickView:
    """What a scaler may know at one tick: the clock, the fleet, and the metrics the model shows."""

    seconds: float  # since the start of the trace
    requested: int  # instances requested (ready + starting)
    ready: int
    cpu: float  # utilisation of ready instances, capped at 1.0, averaged over the metric window
    backlog: float  # requests waiting in the queue view
    # (seconds since it became ready, count) of the ready instances that did so less than one
    # metric window ago, oldest first
    recent: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True)
class Verdict:
    """A scaler's answer: the count it wants, a machine-readable code, and a short reason."""

    desired: int
    code: str
    reason: str = ""
    floor: int | None = None  # the floor in force (a window, its ramp, a fallback), for the plot


class Scaler(Protocol):
    name: str
    min_instances: int
    max_instances: int

    def step(self, view: TickView) -> Verdict: ...


class HpaSimpleScaler:
    """The HPA's proportional rule without its unready-pod rules (see the module docstring)."""

    def __init__(self, *, target: float, min_instances: int, max_instances: int) -> None:
        if not target > 0:
            raise ValueError(f"the hpa target must be positive, got {target}")
        self.name = "hpa-simple"
        self.target = target
        self.min_instances = min_instances
        self.max_instances = max_instances
        self._recommendations: deque[tuple[float, int]] = deque()
        self._events: deque[tuple[float, int]] = deque()  # (when, +added / -removed) for rate limits

    def step(self, view: TickView) -> Verdict:
        current = view.requested
        now = view.seconds
        if view.ready == 0:
            return Verdict(current, "missing_metrics", "no ready instance, no utilisation")
        ratio = view.cpu / self.target
        within = abs(1.0 - ratio) <= HPA_TOLERANCE
        raw = current if within else math.ceil(view.ready * ratio - _EPSILON)
        # stabilisation: scale-down only to the highest recommendation of the window (this one included)
        cutoff = now - HPA_SCALE_DOWN_STABILIZATION
        recommendations = self._recommendations
        while recommendations and recommendations[0][0] <= cutoff:
            recommendations.popleft()
        highest = max((r for _, r in recommendations), default=raw)
        recommendations.append((now, raw))
        stabilized = min(max(current, raw), max(highest, raw))
        code, reason = "within_tolerance", ""
        desired = stabilized
        if stabilized < raw:
            reason = f"scale-down stabilisation keeps {stabilized}"
        if desired > current:
            period_cut = now - HPA_SCALE_UP_PERIOD
            events = self._events
            while events and events[0][0] <= period_cut:
                events.popleft()
            added = sum(n for _, n in events if n > 0)
            removed = -sum(n for _, n in events if n < 0)
            start = current - added + removed
            limit = max(math.ceil(start * (1 + HPA_SCALE_UP_PERCENT / 100.0) - _EPSILON), start + HPA_SCALE_UP_PODS)
            limit = min(max(limit, current), self.max_instances)
            if desired > limit:
                desired = limit
                reason = f"scale-up limited to {limit}"
        elif desired < current:
            desired = max(desired, self.min_instances)
        desired = min(max(desired, self.min_instances), self.max_instances)
        if desired != current:
            self._events.append((now, desired - current))
            code = "scaled_up" if desired > current else "scaled_down"
        elif stabilized != raw and raw < current:
            code = "stabilizing"
        return Verdict(desired, code, reason)


class ThresholdScaler:
    """×1.5 after 3 ticks above 80 % CPU, ÷1.5 after 3 ticks below 20 % (see the module docstring)."""

    def __init__(self, *, min_instances: int, max_instances: int) -> None:
        self.name = "threshold"
        self.min_instances = min_instances
        self.max_instances = max_instances
        self._above = 0
        self._below = 0

    def step(self, view: TickView) -> Verdict:
        current = view.requested
        if view.ready == 0:
            return Verdict(current, "missing_metrics", "no ready instance, no utilisation")
        if view.cpu > THRESHOLD_HIGH:
            self._above, self._below = self._above + 1, 0
        elif view.cpu < THRESHOLD_LOW:
            self._above, self._below = 0, self._below + 1
        else:
            self._above = self._below = 0
        desired = current
        if self._above >= THRESHOLD_TICKS:
            desired = math.ceil(current * THRESHOLD_FACTOR - _EPSILON)
            self._above = 0
        elif self._below >= THRESHOLD_TICKS:
            desired = math.floor(current / THRESHOLD_FACTOR + _EPSILON)
            self._below = 0
        desired = min(max(desired, self.min_instances), self.max_instances)
        if desired > current:
            return Verdict(desired, "scaled_up", f"{THRESHOLD_TICKS} ticks above {THRESHOLD_HIGH:g}")
        if desired < current:
            return Verdict(desired, "scaled_down", f"{THRESHOLD_TICKS} ticks below {THRESHOLD_LOW:g}")
        streak = max(self._above, self._below)
        return Verdict(current, "within_thresholds" if streak == 0 else "waiting", "")


class StaticScaler:
    """Always the peak count."""

    def __init__(self, *, instances: int) -> None:
        self.name = "static"
        self.min_instances = self.max_instances = instances

    def step(self, view: TickView) -> Verdict:
        if view.requested != self.max_instances:
            code = "scaled_up" if self.max_instances > view.requested else "scaled_down"
            return Verdict(self.max_instances, code, "static count")
        return Verdict(view.requested, "static", "")


class OracleScaler:
    """Perfect foresight; the fleet model sets the count itself (follow_demand), so this only reports."""

    follows_demand = True

    def __init__(self) -> None:
        self.name = "oracle"
        self.min_instances = 0
        self.max_instances = 2**31

    def step(self, view: TickView) -> Verdict:
        return Verdict(view.requested, "follows_demand", "")
