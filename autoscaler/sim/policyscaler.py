"""Our engine as one of the simulator's scalers: `core.decide` under one policy, driven tick by tick.

The baselines (`sim.baselines`) stand beside it behind the same `Scaler` protocol; `sim.runner`
chooses one and runs it over a trace in the fleet model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from autoscaler.core.controller import AppController
from autoscaler.core.decide import Decision
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.startup import StartupTracker
from autoscaler.sim.baselines import TickView, Verdict
from autoscaler.sim.outage import Outage, blank


class PolicyScaler:
    """Our engine: `core.decide` under one policy, with its History kept as the live loop keeps it.

    A policy with `predictive` also learns as the live loop does: the start-up time from the fleet's
    states (StartupTracker), and each metric's load history from the run's own observations, so the
    forecast of a run rests on the trace's earlier days (the warm-up).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        start: datetime,
        tick: float = 15.0,
        outages: Sequence[Outage] = (),
        reasons: bool = True,
    ) -> None:
        """`reasons`: give each verdict its reason (the text of the decision's last clamp or cause);
        without, the decisions' texts are never written (a run that keeps no timeline reads none)."""
        self.name = "policy" if policy.predictive is None else "predictive"
        self._controller = AppController(policy, tick=timedelta(seconds=tick), tracker=StartupTracker())
        self.policy = policy
        self.min_instances = policy.min_instances
        self.max_instances = policy.max_instances
        self._start = start
        self._outages = tuple(outages)
        self._reasons = reasons
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
        reason = decision.clamps[-1].detail if decision.clamps and self._reasons else ""
        return Verdict(decision.desired, decision.code, reason, floor=floor)


def _floor_of(decision: Decision) -> int | None:
    """The highest floor in force for a decision: its windows', its ramp's, its fallback's."""
    floors = [window.min_instances for window in decision.windows if window.min_instances is not None]
    if decision.ramp is not None:
        floors.append(decision.ramp.level)
    if decision.fallback is not None and decision.fallback.instances is not None:
        floors.append(decision.fallback.instances)
    return max(floors) if floors else None
