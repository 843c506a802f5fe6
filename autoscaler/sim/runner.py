"""Run a scaler (our engine under a policy, or a baseline) over a request trace in the fleet model.

`simulate(trace, scaler=ScalerSpec(...), setup=SimSetup(...))` runs what `ScalerSpec` names (a
policy or a baseline) in the world `SimSetup` describes (the fleet, its start-up time, the tick, the
warm-up). Our engine (`sim.policyscaler`) drives the SAME `autoscaler.core.decide` as the live loop,
tick by tick, with the simulated time as `now` (so schedules and campaign floors apply at their
simulated times) and the History fed back exactly as the loop does. Per tick:

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autoscaler.core.policy import MetricSpec, Policy, Predictive
from autoscaler.sim.baselines import (
    BASELINES,
    HPA_DEFAULT_TARGET,
    HpaSimpleScaler,
    OracleScaler,
    Scaler,
    StaticScaler,
    ThresholdScaler,
    TickView,
)
from autoscaler.sim.hpa import HpaScaler
from autoscaler.sim.model import Accounting, FleetModel, needed_instances, to_ms
from autoscaler.sim.outage import Outage
from autoscaler.sim.policyscaler import PolicyScaler
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


@dataclass(frozen=True)
class SimSetup:
    """The world a run is set in: the fleet's size at the peak, its instances' start-up time, the tick,
    the warm-up (run but not counted) and the window the metrics average over; all in seconds."""

    startup: float = 60.0
    peak_instances: int = 50
    tick: float = 15.0
    warmup: float = 0.0
    metric_window: float = 60.0

    def __post_init__(self) -> None:
        if self.peak_instances < 1:
            raise ValueError(f"peak_instances must be at least 1, got {self.peak_instances}")
        if self.tick <= 0 or to_ms(self.tick) == 0:
            raise ValueError(f"the tick must be positive, got {self.tick}")
        if self.startup < 0 or self.warmup < 0:
            raise ValueError("startup and warmup must be 0 or more")


@dataclass(frozen=True)
class ScalerSpec:
    """What scales in a run: a policy (the default one when neither it nor a baseline is given) or a
    baseline; `target` overrides the metric targets (see the module docstring); `predictive` adds or
    replaces the policy's predictive block; `outages` blank the policy's metrics over their intervals."""

    policy: Policy | None = None
    baseline: str | None = None
    target: float | None = None
    predictive: Predictive | None = None
    outages: tuple[Outage, ...] = ()

    def __post_init__(self) -> None:
        if self.policy is not None and self.baseline is not None:
            raise ValueError("give a policy or a baseline, not both")
        if self.target is not None and not (self.target > 0 and math.isfinite(self.target)):
            raise ValueError(f"the target must be a positive number, got {self.target}")
        if self.baseline is None:
            return
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINES)}")
        if self.target is not None and self.baseline not in ("hpa", "hpa-simple"):
            raise ValueError(f"the {self.baseline} baseline takes no target (only policies, hpa and hpa-simple do)")
        if self.outages:
            raise ValueError("an outage blanks a policy's metrics: the baselines read none, give a policy")


def build_scaler(
    spec: ScalerSpec, *, trace: Trace, setup: SimSetup, reasons: bool = True
) -> tuple[Scaler, float | None]:
    """The scaler for a run and the target it uses (None where a target does not apply); without
    `reasons` a policy's verdicts carry no reason (a run that keeps no timeline reads none)."""
    target, peak_instances, highest = spec.target, setup.peak_instances, DEFAULT_MAX_FACTOR * setup.peak_instances
    if spec.baseline is None:
        if spec.policy is None:
            chosen = default_policy(peak_instances=peak_instances, target=target)
        else:
            chosen = spec.policy if target is None else with_target(spec.policy, target)
        if spec.predictive is not None:
            chosen = with_predictive(chosen, spec.predictive)
        targets = sorted({metric.target for metric in chosen.metrics})
        scaler = PolicyScaler(chosen, start=trace.start, tick=setup.tick, outages=spec.outages, reasons=reasons)
        return scaler, targets[0] if len(targets) == 1 else None
    if spec.baseline in ("hpa", "hpa-simple"):
        used = HPA_DEFAULT_TARGET if target is None else target
        if spec.baseline == "hpa-simple":
            return HpaSimpleScaler(target=used, min_instances=1, max_instances=highest), used
        hpa = HpaScaler(
            target=used,
            min_instances=1,
            max_instances=highest,
            startup=setup.startup,
            metric_window=setup.metric_window,
        )
        return hpa, used
    if spec.baseline == "threshold":
        return ThresholdScaler(min_instances=1, max_instances=highest), None
    if spec.baseline == "static":
        return StaticScaler(instances=peak_instances), None
    return OracleScaler(), None


def simulate(
    trace: Trace,
    *,
    scaler: ScalerSpec | None = None,
    setup: SimSetup | None = None,
    keep_timeline: bool = True,
) -> SimResult:
    """Run one scaler (default: the default policy) over `trace` in the world of `setup` (default:
    `SimSetup()`); see the module docstring. The warm-up's seconds at the start are run but not
    counted. The fleet starts with every instance ready: ceil(first demand / capacity) within the
    scaler's bounds (the static count for `static`). A predictive policy's history is the trace's own
    earlier ticks, so give it a warm-up of at least `min_samples` periods to leave the learning out of
    the figures."""
    spec = ScalerSpec() if scaler is None else scaler
    setup = SimSetup() if setup is None else setup
    if setup.warmup >= trace.duration:
        raise ValueError(f"the warmup ({setup.warmup:g} s) covers the whole trace ({trace.duration:g} s)")
    capacity = trace.peak_rate / setup.peak_instances
    chosen, used_target = build_scaler(spec, trace=trace, setup=setup, reasons=keep_timeline)
    follows = isinstance(chosen, OracleScaler)
    initial = needed_instances(trace.rates[0], capacity)
    if not follows:
        initial = min(max(initial, chosen.min_instances), chosen.max_instances)
    model = FleetModel(
        trace,
        capacity=capacity,
        initial=initial,
        startup=0.0 if follows else setup.startup,
        metric_window=setup.metric_window,
        warmup=setup.warmup,
        follow_demand=follows,
    )
    ticks = -(-model.end_ms // to_ms(setup.tick))
    records = _run(
        model, scaler=chosen, start=trace.start, tick=setup.tick, outages=spec.outages, keep_timeline=keep_timeline
    )
    totals = model.accounting()
    return SimResult(
        scaler=chosen.name,
        target=used_target,
        startup=setup.startup,
        peak_instances=setup.peak_instances,
        tick=setup.tick,
        capacity_rps=capacity,
        start=trace.start,
        end=trace.end,
        warmup=setup.warmup,
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
        timeline=tuple(records),
        whole=model.whole_accounting() if setup.warmup > 0 else None,
        outages=spec.outages,
    )


def _run(
    model: FleetModel,
    *,
    scaler: Scaler,
    start: datetime,
    tick: float,
    outages: tuple[Outage, ...],
    keep_timeline: bool,
) -> list[TickRecord]:
    """Every tick of the run: the model advanced to it, the scaler's verdict applied; the model is
    left at the trace's end. Returns the timeline (empty without `keep_timeline`)."""
    follows = isinstance(scaler, OracleScaler)
    capacity, tick_ms = model.capacity, to_ms(tick)
    records: list[TickRecord] = []
    for index in range(-(-model.end_ms // tick_ms)):
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
            at = start + timedelta(milliseconds=now_ms)
            action = "up" if verdict.desired > requested else "down" if verdict.desired < requested else "none"
            records.append(
                TickRecord(
                    time=at,
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
                    outage=any(outage.covers(at) for outage in outages),
                )
            )
    model.advance(model.end_ms)
    return records
