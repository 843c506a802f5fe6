"""The Kubernetes HorizontalPodAutoscaler as the simulator's reference scaler, rule for rule.

A baseline is only worth beating if it is the real thing, so this follows the controller's own
replica calculator for a CPU `Utilization` target and its normalisation without a `behavior` block
(what an HPA created by `kubectl autoscale`, or an autoscaling/v2 HPA without `behavior`, runs):

Replica calculator (per sync):
1. Pods are grouped. Failed pods and pods being deleted do not count at all. Pending pods are
   *ignored*. A pod without a metric sample is *missing*. Within the CPU initialisation period after
   its start (default 5 min), a pod is ignored when it is unready, or when it became ready less than
   one metric window ago (its sample may hold start-up CPU); after that period it is ignored only
   when it is unready and was never ready (its readiness last changed within the initial readiness
   delay, default 30 s, of its start). Every other pod is *ready* and counts.
2. The utilisation is the ready pods' usage over their requests, truncated to a whole percent; the
   usage ratio is that over the target percent.
3. With no ignored pod to rebalance (ratio at most 1) and no missing pod: inside the tolerance
   (|1 - ratio| <= 0.1) keep the current count, else ceil(ratio x ready pods).
4. Otherwise the ratio is re-checked: missing pods are put back at 100 % of their request on a
   scale-down (ratio < 1) and at 0 % on a scale-up (ratio > 1); on a scale-up ignored pods are put
   back at 0 %. The current count is kept when the new ratio is inside the tolerance, or points the
   other way than the first one, or when ceil(new ratio x pods counted) would move the count the
   other way; else that is the recommendation.
5. No ready pod with a sample: no recommendation (the HPA reports an error and does not scale).

Normalisation (`normalizeDesiredReplicas`):
- Downscale stabilisation: the result is the highest recommendation of the last 5 minutes (this one
  included); older recommendations are forgotten. (It can be above the current count: a
  recommendation that the scale-up limit cut short is still worth reaching.)
- Scale-up limit: at most max(2 x current, 4) per sync, then min/max replicas (a min of 0 acts as 1).

Everything here is pure: the simulator's runner gives one `TickView` per sync.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from autoscaler.sim.baselines import TickView, Verdict

# The controller's defaults (kube-controller-manager flags)
TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4

Phase = Literal["running", "pending", "failed"]

# floor() of a percentage that is whole on paper must not drop a point because of float error
_EPSILON = 1e-9


@dataclass(frozen=True)
class PodGroup:
    """`count` pods alike: their CPU request and usage (any one unit), phase and readiness clock.

    `usage` None: the metrics API returned no sample for them. `age` is the time since the pod
    started, `since_transition` the time since its readiness condition last changed (seconds).
    """

    count: int
    request: float
    usage: float | None
    phase: Phase = "running"
    deleting: bool = False
    ready: bool = True
    age: float = math.inf
    since_transition: float = math.inf


@dataclass(frozen=True)
class Calculation:
    """What the replica calculator found: the recommendation and the utilisation it reports."""

    replicas: int
    utilization: int  # whole percent of the request, over the ready pods


@dataclass(frozen=True)
class CalculatorSettings:
    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
    initial_readiness_delay: float = INITIAL_READINESS_DELAY
    metric_window: float = 60.0


def _ignored(group: PodGroup, settings: CalculatorSettings) -> bool:
    if group.age < settings.cpu_initialization_period:
        return not group.ready or group.since_transition < settings.metric_window
    never_ready = group.since_transition > group.age - settings.initial_readiness_delay
    return not group.ready and never_ready


def _utilization(pairs: Sequence[tuple[int, float, float]]) -> int:
    """Whole percent: sum of usage over sum of requests of (count, request, usage) triples."""
    used = sum(count * usage for count, _, usage in pairs)
    requested = sum(count * request for count, request, _ in pairs)
    if requested <= 0:
        raise ValueError("the pods with samples request no CPU")
    return math.floor(used * 100.0 / requested + _EPSILON)


def resource_replicas(  # noqa: PLR0912  the calculator's cases in the controller's order (docstring)
    *, current: int, target_percent: int, pods: Sequence[PodGroup], settings: CalculatorSettings | None = None
) -> Calculation | None:
    """The replica calculator for a CPU utilisation target (see the module docstring).

    None: no ready pod has a sample, so there is no recommendation."""
    settings = settings or CalculatorSettings()
    ready: list[tuple[int, float, float]] = []
    ignored: list[tuple[int, float]] = []
    missing: list[tuple[int, float]] = []
    for group in pods:
        if group.count <= 0 or group.deleting or group.phase == "failed":
            continue
        if group.phase == "pending":
            ignored.append((group.count, group.request))
        elif group.usage is None:
            missing.append((group.count, group.request))
        elif _ignored(group, settings):
            ignored.append((group.count, group.request))
        else:
            ready.append((group.count, group.request, group.usage))
    ready_count = sum(count for count, _, _ in ready)
    if ready_count == 0:
        return None
    utilization = _utilization(ready)
    ratio = utilization / target_percent
    rebalance = bool(ignored) and ratio > 1.0
    if not rebalance and not missing:
        if abs(1.0 - ratio) <= settings.tolerance:
            return Calculation(current, utilization)
        return Calculation(math.ceil(ratio * ready_count - _EPSILON), utilization)
    counted = list(ready)
    if missing and ratio < 1.0:
        counted += [(count, request, request) for count, request in missing]
    elif missing and ratio > 1.0:
        counted += [(count, request, 0.0) for count, request in missing]
    if rebalance:
        counted += [(count, request, 0.0) for count, request in ignored]
    new_ratio = _utilization(counted) / target_percent
    if abs(1.0 - new_ratio) <= settings.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Calculation(current, utilization)
    replicas = math.ceil(new_ratio * sum(count for count, _, _ in counted) - _EPSILON)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Calculation(current, utilization)
    return Calculation(replicas, utilization)


def scale_up_limit(current: int, *, factor: float = SCALE_UP_LIMIT_FACTOR) -> int:
    """The most one sync may ask for: max(factor x current, 4)."""
    return int(max(factor * current, SCALE_UP_LIMIT_MINIMUM))


def within_rules(
    *, current: int, desired: int, min_replicas: int, max_replicas: int, factor: float = SCALE_UP_LIMIT_FACTOR
) -> tuple[int, str]:
    """The scale-up limit and the replica bounds; returns the count and the limiting condition."""
    limit = scale_up_limit(current, factor=factor)
    if max_replicas > limit:
        highest, above = limit, "ScaleUpLimit"
    else:
        highest, above = max_replicas, "TooManyReplicas"
    lowest = max(min_replicas, 1)
    if desired < lowest:
        return lowest, "TooFewReplicas"
    if desired > highest:
        return highest, above
    return desired, "DesiredWithinRange"


class Stabilizer:
    """Downscale stabilisation: the highest recommendation of the window, this one included.

    Like the controller's log, an out-of-window entry is overwritten by the new one (the last such
    entry found), else the new one is added: the log never holds more than the window's syncs + 1."""

    def __init__(self, *, window: float = DOWNSCALE_STABILIZATION) -> None:
        self.window = window
        self.recommendations: list[tuple[float, int]] = []  # (when, replicas)

    def stabilize(self, *, now: float, recommendation: int) -> int:
        cutoff = now - self.window
        highest = recommendation
        stale: int | None = None
        for index, (at, value) in enumerate(self.recommendations):
            if at < cutoff:
                stale = index
            elif value > highest:
                highest = value
        if stale is None:
            self.recommendations.append((now, recommendation))
        else:
            self.recommendations[stale] = (now, recommendation)
        return highest


class HpaScaler:
    """The HPA in the fleet model: every requested instance is a pod requesting one instance's
    capacity; starting instances are pending, instances ready for less than one metric window are
    within the CPU initialisation period (start-up + window <= 5 min on every trace we run), the
    others show the model's CPU metric. The current count is the requested one (`spec.replicas`)."""

    def __init__(
        self,
        *,
        target: float,
        min_instances: int,
        max_instances: int,
        startup: float,
        metric_window: float = 60.0,
    ) -> None:
        if not target > 0:
            raise ValueError(f"the hpa target must be positive, got {target}")
        self.name = "hpa"
        self.target = target
        self.target_percent = max(1, round(target * 100))
        self.min_instances = min_instances
        self.max_instances = max_instances
        self.startup = startup
        self.settings = CalculatorSettings(metric_window=metric_window)
        self.stabilizer = Stabilizer()

    def step(self, view: TickView) -> Verdict:
        current = view.requested
        fresh = sum(count for _, count in view.recent)
        groups = [
            PodGroup(count=current - view.ready, request=1.0, usage=None, phase="pending"),
            PodGroup(count=view.ready - fresh, request=1.0, usage=view.cpu),
        ]
        groups += [
            PodGroup(count=count, request=1.0, usage=view.cpu, age=self.startup + since, since_transition=since)
            for since, count in view.recent
        ]
        found = resource_replicas(
            current=current, target_percent=self.target_percent, pods=groups, settings=self.settings
        )
        if found is None:
            return Verdict(current, "missing_metrics", "no ready instance with a full metric window")
        stabilized = self.stabilizer.stabilize(now=view.seconds, recommendation=found.replicas)
        desired, condition = within_rules(
            current=current, desired=stabilized, min_replicas=self.min_instances, max_replicas=self.max_instances
        )
        reason = f"utilisation {found.utilization} %, recommends {found.replicas}"
        if stabilized != found.replicas:
            reason += f", stabilised at {stabilized}"
        if condition != "DesiredWithinRange":
            reason += f", {condition}"
        if desired > current:
            return Verdict(desired, "scaled_up", reason)
        if desired < current:
            return Verdict(desired, "scaled_down", reason)
        return Verdict(current, "stabilizing" if stabilized > found.replicas else "within_tolerance", reason)
