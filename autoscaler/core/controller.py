"""The one way to drive the engine for one app, tick after tick: live, in simulation, in backtest
and in explain alike.

`decide` is a pure function; what makes a run of decisions the service's is what is fed back between
them. `AppController` holds that for one app and performs the per-app step in one place:

1. the start-up estimate: learned from the app's states (a `StartupTracker`) or given;
2. the forecaster's outlook over the start-up time plus one tick (`lead: auto` and `predictive`);
3. `decide`, given the app's pause if one is in force (its last stage then holds the count);
4. the forecaster records the load the decision measured (against the History *before* it);
5. the History records the decision.

Steps 1, 2 and 4 run only for a policy that `learns` (it forecasts, or has a `lead: auto` schedule);
the others pay nothing for them. With `reuse`, a steady app's last decision is taken again instead of
recomputed (`core.reuse`), as the live loop does over thousands of apps.

The controller is pure in the engine's sense: the time, the state and the observations are values
handed in, nothing here reads a clock or does I/O; its only effect is on its own memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from autoscaler.core.decide import Decision, History, decide
from autoscaler.core.forecast import Outlook
from autoscaler.core.frozen import replaced
from autoscaler.core.model import AppState, Observation
from autoscaler.core.pause import Pause
from autoscaler.core.policy import Policy
from autoscaler.core.predict import Forecaster
from autoscaler.core.reuse import Inputs, inputs_of, reusable
from autoscaler.core.startup import StartupTracker

__all__ = ["AppController", "learns"]


def learns(policy: Policy) -> bool:
    """Whether the app's decisions rest on something learned over time: a `predictive` forecast, or a
    schedule with `lead: auto` (its lead is the learned start-up time plus one tick). Only such apps
    track start-up times and load histories, and their decisions are never reused."""
    return policy.predictive is not None or any(schedule.lead is None for schedule in policy.schedules)


class AppController:
    """One app's engine state (History, forecaster, start-up time) and the step that advances it.

    `tick`: the interval between steps (the forecast's horizon and `lead: auto` add one).
    `tracker`: where start-up times are learned from the app's states (shared between the apps of a
    loop); without one, `startup` is the start-up time (given, or None: the forecast's fallback).
    `history`, `forecaster`: what this app remembers already (a reload, a replay with prior history).
    `reuse`: take a steady app's last decision again instead of recomputing it (see `core.reuse`).
    """

    __slots__ = (
        "_held",
        "_history",
        "_unrecorded",
        "forecaster",
        "keep",
        "last_outlook",
        "learns",
        "policy",
        "reuse",
        "reused",
        "startup",
        "tick",
        "tracker",
    )

    def __init__(
        self,
        policy: Policy,
        *,
        tick: timedelta,
        tracker: StartupTracker | None = None,
        startup: timedelta | None = None,
        history: History | None = None,
        forecaster: Forecaster | None = None,
        reuse: bool = False,
    ) -> None:
        self.policy = policy
        self.tick = tick
        self.tracker = tracker
        self.startup = startup
        self._history = history if history is not None else History()
        self._unrecorded: datetime | None = None  # the last tick that reused the held decision, not yet recorded
        self.forecaster = forecaster if forecaster is not None else Forecaster(policy.predictive)
        self.keep = policy.stabilization_window()  # how much History the policy's windows need
        self.learns = learns(policy)
        self.reuse = reuse
        self.reused = False  # whether the last step took the previous decision again
        self.last_outlook: Outlook | None = None  # what the last decision was given (shown by explain)
        self._held: tuple[Inputs, Decision] | None = None

    @property
    def history(self) -> History:
        """What the app remembers, as if every tick's decision had been recorded.

        A tick that reuses the held decision does not record it: recording the same decision again
        only moves the newest entries' time forward (`History.record` keeps a run of one count as one
        entry at its latest tick) and drops what expired, so recording the run's last tick alone, when
        the History is next read, gives the same History."""
        if self._unrecorded is not None and self._held is not None:
            self._history = self._history.record(self._held[1], keep=self.keep, at=self._unrecorded)
        self._unrecorded = None
        return self._history

    @history.setter
    def history(self, history: History) -> None:
        self._history = history
        self._unrecorded = None

    def adopt(self, policy: Policy) -> AppController:
        """The controller for a reloaded `policy`: the History is kept, and the load histories where
        their shape is unchanged; a held decision only when the policy is the very same object."""
        if policy is self.policy:
            return self
        return AppController(
            policy,
            tick=self.tick,
            tracker=self.tracker,
            startup=self.startup,
            history=self.history,
            forecaster=self.forecaster.adopt(policy),
            reuse=self.reuse,
        )

    def startup_time(self, state: AppState, now: datetime) -> timedelta | None:
        """The start-up time to plan with at `now`: learned from `state` by the tracker, else given."""
        if self.tracker is None:
            return self.startup
        estimate = self.tracker.observe(state, now)
        return estimate.duration if estimate is not None else None

    def outlook(self, state: AppState, now: datetime) -> Outlook | None:
        """Steps 1 and 2: the forecaster's outlook at `now` (None for a policy that does not learn)."""
        if not self.learns:
            return None
        return self.forecaster.outlook(self.policy, now, startup=self.startup_time(state, now), tick=self.tick)

    def step(
        self, state: AppState, observations: Mapping[str, Observation], now: datetime, *, pause: Pause | None = None
    ) -> Decision:
        """Decide at `now` from the app's `state` and its metrics' `observations`, and remember it.

        `pause`: the pause in force for the app, if any: the decision is made as usual, then held
        (`core.pausing`); it is never reused, so its text always names the pause in force."""
        self.reused = False
        self.last_outlook = None
        inputs: Inputs | None = None
        if self.reuse and not self.learns and pause is None:
            # The History as last recorded reads the same here: a run of reused ticks only moved its
            # newest entries' time, and those entries hold the current ready count (the state is an input).
            inputs = inputs_of(self.policy, state, observations, self._history, now)
            if inputs is not None and self._held is not None and self._held[0] == inputs:
                # the same answer, stamped with this tick's time: the status and the API show when it held
                decision = replaced(self._held[1], at=now)
                self._held = (inputs, decision)
                self.reused = True
                self._unrecorded = now  # recorded when the History is next read (`history`)
                return decision
        history = self.history
        outlook = self.last_outlook = self.outlook(state, now)
        decision = decide(self.policy, state, observations, history, now, outlook=outlook, pause=pause)
        if self.learns:
            self.forecaster.record(self.policy, decision, history)
        self._held = (inputs, decision) if inputs is not None and reusable(decision) else None
        self.history = history.record(decision, keep=self.keep)
        return decision

    def wrote(self, instances: int, *, at: datetime) -> None:
        """Marathon accepted a write of `instances` at `at`: a scale-up opens a start-up measurement."""
        if self.learns and self.tracker is not None:
            self.tracker.wrote(self.policy.app, instances=instances, at=at)
