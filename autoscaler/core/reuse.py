"""When last tick's Decision is this tick's too, so that a steady app costs no `decide`.

Over thousands of apps most ticks change nothing for most of them: same Marathon state, same metric
values, same policy. `decide` is pure, so its answer can only differ if one of its inputs differs or
if one of its rules reads the clock. This module names both:

- `inputs_of` gathers, for one app and one tick, everything `decide` reads that can change from tick
  to tick: the app's state, each metric's value (and why it is missing), the fewest and most ready
  instances in the metric window, and the schedule windows in force. A metric whose newest sample is
  stale or from the future is worded with its age, which changes every tick: such an app has no key
  (None) and is decided again; so has one with a `lead: auto` schedule (its lead is learned), and one
  whose metrics are all missing under a `fallback` (which applies once they have been missing long
  enough). The ramps in force and how many of their steps have been taken are inputs too.
- `reusable` says whether a Decision depended on the clock only through those inputs. That holds when
  the metrics' proposal equals the current count (or a deployment was running): the stages that read
  the clock or the recommendation History (the scale-down hold before a full window, stabilisation,
  step limits, cooldowns) all act only on a change, and bounds or a schedule window that would move
  the count make it a scale, which is never reused. Decisions with a forecast are never reused: the
  forecast moves with time.

A decision that is reused is stamped with the current tick's time and recorded in the History at
that tick, exactly as a fresh identical decision would have been. The
equivalence (reuse vs decide every tick, over random sequences) is a property test of the loop.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from datetime import datetime

from autoscaler.core.decide import Decision, History
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.ramp import ramps_at
from autoscaler.core.schedule import Window, active_windows

Inputs = tuple[Hashable, ...]


def inputs_of(
    policy: Policy,
    state: AppState,
    observations: Mapping[str, Observation],
    history: History,
    now: datetime,
) -> Inputs | None:
    """What `decide(policy, state, observations, history, now)` (without an outlook) reads that may
    change between ticks, as a value to compare with last tick's; None when it cannot be reused."""
    values: list[Hashable] = []
    for spec in policy.metrics:
        observation = observations.get(spec.name)
        if observation is None:
            values.append(None)
            continue
        value = observation.value
        if value == 0 and math.copysign(1.0, value) < 0:
            return None  # -0.0 equals 0.0 but is written "-0"
        if value is not None and observation.timestamp is not None:
            age = now - observation.timestamp
            max_age = spec.max_age if spec.max_age is not None else policy.max_metric_age
            if age > max_age or -age > max_age:
                return None  # worded with its age: differs every tick
        values.append((value, observation.reason))
    if policy.fallback is not None and all(
        (observation := observations.get(spec.name)) is None or observation.value is None for spec in policy.metrics
    ):
        return None  # the fallback follows the time since the metrics went missing
    # as decide computes it; without a History it is this tick's count alone, which evaluates the same
    ready = state.ready_instances
    since = now - policy.metric_window
    fewest, most = history.ready_range(since, ready) if history.ready else (ready, ready)
    # a saturated average above the fewest goes over the last tick's count (core.rules)
    ready_range = (fewest, most, history.last_ready(since) if fewest < ready else None)
    windows: tuple[Window, ...] = ()
    if policy.schedules:
        if any(schedule.lead is None for schedule in policy.schedules):
            return None  # `lead: auto` follows the learned start-up time
        windows = tuple(active_windows(policy.schedules, now))
        ramps = tuple((ramp.window, ramp.direction, ramp.taken) for ramp in ramps_at(policy.schedules, now))
        if ramps:
            return (state, ready_range, windows, ramps, *values)
    return (state, ready_range, windows, *values)


def reusable(decision: Decision) -> bool:
    """Whether `decision` is also the answer to a later tick with equal `inputs_of`."""
    if decision.scaled or decision.forecast_mode is not None or decision.fallback is not None:
        return False
    return decision.code == "deployment_in_progress" or decision.proposed == decision.current
