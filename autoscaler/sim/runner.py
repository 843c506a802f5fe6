"""Run a scaler (our engine under a policy, or a baseline) over a request trace in the fleet model.

`simulate()` drives the SAME `autoscaler.core.decide` as the live loop, tick by tick, with the
simulated time as `now` (so schedules and campaign floors apply at their simulated times) and the
History fed back exactly as the loop does. Per tick:

1. the model runs up to the tick (instances whose startup is over become ready);
2. the scaler sees the state (requested and ready counts, the last scale time) and the metrics:
   every `target_average` metric of a policy sees the model's CPU utilisation, every
   `target_per_instance` metric the queue backlog;
3. its desired count is applied at once (no deployment is modelled).

`outages` blank every metric a policy sees over their intervals (`sim.outage`): the load goes on,
the policy holds or rises to its `fallback`. They apply to policies only (the baselines read no
metric source).

Without a policy or baseline the default policy is used: min 1, max 10 x peak_instances, one CPU
`target_average` metric, every other setting at the engine's own defaults (read from `Policy` at run
time). `target` overrides every metric target of a policy (per-instance targets included) and the
target of the `hpa` baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autoscaler.core.controller import AppController
from autoscaler.core.decide import Decision
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import MetricSpec, Policy, Predictive
from autoscaler.core.startup import StartupTracker
from autoscaler.sim.baselines import (
    BASELINES,
    HPA_DEFAULT_TARGET,
    HpaSimpleScaler,
    OracleScaler,
    Scaler,
    StaticScaler,
    ThresholdScaler,
    TickView,
    Verdict,
)
from autoscaler.sim.hpa import HpaScaler
from autoscaler.sim.model import Accounting, FleetModel, needed_instances, to_ms
from autoscaler.sim.outage import Outage, blank
from autoscaler.sim.trace import Trace

DEFAULT_APP = "/sim/app"
# The CPU target of the default policy when none is given: the value of the README's example policy.
DEFAULT_TARGET = 0.6
DEFAULT_MAX_FACTOR = 10  # the default policy's max_instances is this many times peak_instances


@dataclass(frozen=True)
class TickRecord:
    """One tick of a run: the load, the fleet before the decision, and what the scaler decided."""

    time: datetime
    demand_rps: float
    ready_capacity_rps: float
    ready: int
    requested: int
    desired: int
    action: str  # up | down | none
    code: str
    reason: str
    cpu: float
    backlog: float
    floor: int | None = None  # the floor in force: a window's, its ramp's or the fallback's
    outage: bool = False  # the metrics were blanked at this tick


@dataclass(frozen=True)
class SimResult:
    """The outcome of one run: the headline metrics, the settings that produced them, the timeline."""

    scaler: str
    target: float | None
    startup: float
    peak_instances: int
    tick: float
    capacity_rps: float
    start: datetime
    end: datetime
    warmup: float
    instance_hours: float
    unserved_pct: float
    overload_minutes: float
    scale_actions: int
    total_requests: float
    unserved_requests: float
    peak_backlog: float
    mean_wait_seconds: float
    ticks: int
    filled_intervals: int
    timeline: tuple[TickRecord, ...] = ()
    # the totals over the whole trace, warm-up included (None: no warm-up, the same as the above)
    whole: Accounting | None = None
    outages: tuple[Outage, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The headline numbers and settings as plain JSON-ready values."""
        return {
            "scaler": self.scaler,
            "target": self.target,
            "instance_hours": self.instance_hours,
            "unserved_pct": self.unserved_pct,
            "overload_minutes": self.overload_minutes,
            "scale_actions": self.scale_actions,
            "total_requests": self.total_requests,
            "unserved_requests": self.unserved_requests,
            "peak_backlog": self.peak_backlog,
            "mean_wait_seconds": self.mean_wait_seconds,
            "startup": self.startup,
            "peak_instances": self.peak_instances,
            "tick": self.tick,
            "warmup": self.warmup,
            "capacity_rps": self.capacity_rps,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "ticks": self.ticks,
            "filled_intervals": self.filled_intervals,
            "outages": [str(outage) for outage in self.outages],
        }


def default_policy(*, peak_instances: int = 50, target: float | None = None) -> Policy:
    """min 1, max 10 x peak_instances, one CPU target_average metric; everything else at its default."""
    return Policy(
        app=DEFAULT_APP,
        min_instances=1,
        max_instances=DEFAULT_MAX_FACTOR * peak_instances,
        metrics=(
            MetricSpec(
                name="cpu",
                source="prometheus",
                query="simulated cpu utilisation",
                target_average=DEFAULT_TARGET if target is None else target,
            ),
        ),
    )


def with_predictive(policy: Policy, predictive: Predictive | None) -> Policy:
    """The policy with its `predictive` block replaced."""
    data = dict(policy)
    data["predictive"] = predictive
    return Policy.model_validate(data)


def with_target(policy: Policy, target: float) -> Policy:
    """The policy with every metric target replaced by `target` (validated like a policy file)."""
    metrics = []
    for spec in policy.metrics:
        data = dict(spec)
        data["target_average" if spec.kind == "average" else "target_per_instance"] = target
        metrics.append(MetricSpec.model_validate(data))
    data = dict(policy)
    data["metrics"] = tuple(metrics)
    return Policy.model_validate(data)


class PolicyScaler:
    """Our engine: `core.decide` under one policy, with its History kept as the live loop keeps it.

    A policy with `predictive` also learns as the live loop does: the start-up time from the fleet's
    states (StartupTracker), and each metric's load history from the run's own observations, so the
    forecast of a run rests on the trace's earlier days (the warm-up).
    """

    def __init__(self, policy: Policy, *, start: datetime, tick: float = 15.0, outages: Sequence[Outage] = ()) -> None:
        self.name = "policy" if policy.predictive is None else "predictive"
        self._controller = AppController(policy, tick=timedelta(seconds=tick), tracker=StartupTracker())
        self.policy = policy
        self.min_instances = policy.min_instances
        self.max_instances = policy.max_instances
        self._start = start
        self._outages = tuple(outages)
        self._last_scaled: datetime | None = None
        self._average = tuple(spec.name for spec in policy.metrics if spec.kind == "average")
        self._per_instance = tuple(spec.name for spec in policy.metrics if spec.kind == "per_instance")

    def step(self, view: TickView) -> Verdict:
        now = self._start + timedelta(seconds=view.seconds)
        state = AppState(
            app_id=self.policy.app,
            instances=view.requested,
            tasks_running=view.ready,
            last_scaled_at=self._last_scaled,
        )
        observations = {name: Observation(value=view.cpu, timestamp=now) for name in self._average}
        for name in self._per_instance:
            observations[name] = Observation(value=view.backlog, timestamp=now)
        if self._outages:
            observations = dict(blank(observations, at=now, outages=self._outages))
        decision = self._controller.step(state, observations, now)
        floor = _floor_of(decision)
        if decision.scaled:
            self._last_scaled = now
            self._controller.wrote(decision.desired, at=now)
            return Verdict(decision.desired, decision.code, decision.cause, floor=floor)
        reason = decision.clamps[-1].detail if decision.clamps else ""
        return Verdict(decision.desired, decision.code, reason, floor=floor)


def _floor_of(decision: Decision) -> int | None:
    """The highest floor in force for a decision: its windows', its ramp's, its fallback's."""
    floors = [window.min_instances for window in decision.windows if window.min_instances is not None]
    if decision.ramp is not None:
        floors.append(decision.ramp.level)
    if decision.fallback is not None and decision.fallback.instances is not None:
        floors.append(decision.fallback.instances)
    return max(floors) if floors else None


def build_scaler(
    *,
    trace: Trace,
    policy: Policy | None,
    baseline: str | None,
    target: float | None,
    peak_instances: int,
    tick: float = 15.0,
    predictive: Predictive | None = None,
    startup: float = 60.0,
    metric_window: float = 60.0,
    outages: Sequence[Outage] = (),
) -> tuple[Scaler, float | None]:
    """The scaler for a run and the target it uses (None where a target does not apply)."""
    if policy is not None and baseline is not None:
        raise ValueError("give a policy or a baseline, not both")
    if target is not None and not (target > 0 and math.isfinite(target)):
        raise ValueError(f"the target must be a positive number, got {target}")
    if baseline is None:
        if policy is None:
            chosen = default_policy(peak_instances=peak_instances, target=target)
        else:
            chosen = policy if target is None else with_target(policy, target)
        if predictive is not None:
            chosen = with_predictive(chosen, predictive)
        targets = sorted({spec.target for spec in chosen.metrics})
        scaler = PolicyScaler(chosen, start=trace.start, tick=tick, outages=outages)
        return scaler, targets[0] if len(targets) == 1 else None
    if baseline in ("hpa", "hpa-simple"):
        used = HPA_DEFAULT_TARGET if target is None else target
        highest = DEFAULT_MAX_FACTOR * peak_instances
        if baseline == "hpa-simple":
            return HpaSimpleScaler(target=used, min_instances=1, max_instances=highest), used
        hpa = HpaScaler(
            target=used, min_instances=1, max_instances=highest, startup=startup, metric_window=metric_window
        )
        return hpa, used
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
    if target is not None:
        raise ValueError(f"the {baseline} baseline takes no target (only policies, hpa and hpa-simple do)")
    if baseline == "threshold":
        return ThresholdScaler(min_instances=1, max_instances=DEFAULT_MAX_FACTOR * peak_instances), None
    if baseline == "static":
        return StaticScaler(instances=peak_instances), None
    return OracleScaler(), None


def simulate(
    trace: Trace,
    *,
    policy: Policy | None = None,
    baseline: str | None = None,
    target: float | None = None,
    startup: float = 60.0,
    peak_instances: int = 50,
    tick: float = 15.0,
    warmup: float = 0.0,
    metric_window: float = 60.0,
    keep_timeline: bool = True,
    predictive: Predictive | None = None,
    outages: Sequence[Outage] = (),
) -> SimResult:
    """Run one scaler over `trace` (see the module docstring). `warmup` seconds at the start are run
    but not counted. The fleet starts with every instance ready: ceil(first demand / capacity) within
    the scaler's bounds (the static count for `static`). `predictive` adds (or replaces) the policy's
    predictive block; its history is the trace's own earlier ticks, so give it a `warmup` of at least
    `min_samples` periods to leave the learning out of the figures. `outages` blank the policy's
    metrics over their intervals."""
    if peak_instances < 1:
        raise ValueError(f"peak_instances must be at least 1, got {peak_instances}")
    if tick <= 0 or to_ms(tick) == 0:
        raise ValueError(f"the tick must be positive, got {tick}")
    if startup < 0 or warmup < 0:
        raise ValueError("startup and warmup must be 0 or more")
    if warmup >= trace.duration:
        raise ValueError(f"the warmup ({warmup:g} s) covers the whole trace ({trace.duration:g} s)")
    if outages and baseline is not None:
        raise ValueError("an outage blanks a policy's metrics: the baselines read none, give a policy")
    capacity = trace.peak_rate / peak_instances
    scaler, used_target = build_scaler(
        trace=trace,
        policy=policy,
        baseline=baseline,
        target=target,
        peak_instances=peak_instances,
        tick=tick,
        predictive=predictive,
        startup=startup,
        metric_window=metric_window,
        outages=outages,
    )
    follows = isinstance(scaler, OracleScaler)
    initial = needed_instances(trace.rates[0], capacity)
    if not follows:
        initial = min(max(initial, scaler.min_instances), scaler.max_instances)
    model = FleetModel(
        trace,
        capacity=capacity,
        initial=initial,
        startup=0.0 if follows else startup,
        metric_window=metric_window,
        warmup=warmup,
        follow_demand=follows,
    )
    tick_ms = to_ms(tick)
    ticks = -(-model.end_ms // tick_ms)
    records: list[TickRecord] = []
    start = trace.start
    for index in range(ticks):
        now_ms = index * tick_ms
        model.advance(now_ms)
        if follows:
            model.scale_to(needed_instances(model.rate_at(now_ms), capacity))
        requested, ready = model.requested, model.ready
        cpu = model.cpu()
        backlog = model.backlog
        recent = tuple(((now_ms - at) / 1000.0, count) for at, count in model.recently_ready())
        verdict = scaler.step(
            TickView(seconds=now_ms / 1000.0, requested=requested, ready=ready, cpu=cpu, backlog=backlog, recent=recent)
        )
        model.scale_to(verdict.desired)
        if keep_timeline:
            action = "up" if verdict.desired > requested else "down" if verdict.desired < requested else "none"
            records.append(
                TickRecord(
                    time=start + timedelta(milliseconds=now_ms),
                    demand_rps=model.rate_at(now_ms),
                    ready_capacity_rps=ready * capacity,
                    ready=ready,
                    requested=requested,
                    desired=verdict.desired,
                    action=action,
                    code=verdict.code,
                    reason=verdict.reason,
                    cpu=cpu,
                    backlog=backlog,
                    floor=verdict.floor,
                    outage=any(o.covers(start + timedelta(milliseconds=now_ms)) for o in outages),
                )
            )
    model.advance(model.end_ms)
    return _result(
        model.accounting(),
        scaler=scaler.name,
        target=used_target,
        startup=startup,
        peak_instances=peak_instances,
        tick=tick,
        capacity=capacity,
        trace=trace,
        warmup=warmup,
        ticks=ticks,
        timeline=records,
        whole=model.whole_accounting() if warmup > 0 else None,
        outages=tuple(outages),
    )


def _result(
    totals: Accounting,
    *,
    scaler: str,
    target: float | None,
    startup: float,
    peak_instances: int,
    tick: float,
    capacity: float,
    trace: Trace,
    warmup: float,
    ticks: int,
    timeline: Sequence[TickRecord],
    whole: Accounting | None,
    outages: tuple[Outage, ...] = (),
) -> SimResult:
    return SimResult(
        scaler=scaler,
        target=target,
        startup=startup,
        peak_instances=peak_instances,
        tick=tick,
        capacity_rps=capacity,
        start=trace.start,
        end=trace.end,
        warmup=warmup,
        instance_hours=totals.instance_hours,
        unserved_pct=totals.unserved_pct,
        overload_minutes=totals.overload_minutes,
        scale_actions=totals.scale_actions,
        total_requests=totals.total_requests,
        unserved_requests=totals.unserved_requests,
        peak_backlog=totals.peak_backlog,
        mean_wait_seconds=totals.mean_wait_seconds,
        ticks=ticks,
        filled_intervals=trace.filled,
        timeline=tuple(timeline),
        whole=whole,
        outages=outages,
    )
