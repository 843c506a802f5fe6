"""The stages of the floors that are planned around a window or stand in for missing metrics:
a window's ramps (core.ramp) and the policy's fallback (core.fallback).

`plan_ramps` and `plan_fallback` run after `remember` (they raise what History keeps, so that after
them the count comes down through stabilisation like after any floor); `raise_to_fallback` runs with
the forecast, before the schedule ceiling (which caps it); `follow_ramp` after the schedule floor: a
ramp's level is a floor applied at once, and a ramp down steps the count down to its level instead
of leaving the drop to stabilisation. Pure, like every stage.
"""

from __future__ import annotations

from autoscaler.core.codes import Hold, Rule
from autoscaler.core.fallback import fallback_for
from autoscaler.core.ramp import ramp_floor
from autoscaler.core.stages import Draft

__all__ = ["follow_ramp", "plan_fallback", "plan_ramps", "raise_to_fallback"]


def plan_ramps(draft: Draft) -> None:
    """The ramps in force: a ramp up from the count it found (remembered), a ramp down to what the
    metrics recommended when it began."""
    policy = draft.policy
    if not policy.schedules:
        return
    present = [m.proposal for m in draft.metrics if m.proposal is not None]
    ramps = ramp_floor(
        policy.schedules,
        draft.now,
        current=draft.current,
        recommended=max(present, default=policy.min_instances),
        bases=dict(draft.history.ramp_bases),
        auto_lead=draft.auto_lead,
    )
    if ramps is None:
        return
    draft.ramp = ramps
    draft.notes.extend(ramps.notes())
    if draft.recording is not None and ramps.level > draft.recording:
        draft.recording = ramps.level


def plan_fallback(draft: Draft) -> None:
    """Where the fallback stands when every metric is missing (waiting, in force or unavailable)."""
    policy, forecast = draft.policy, draft.forecast
    if policy.fallback is None or not draft.metrics or any(m.proposal is not None for m in draft.metrics):
        return
    fallback = fallback_for(
        policy,
        missing_since=draft.history.metrics_missing_since or draft.now,
        now=draft.now,
        windows=draft.windows,
        forecast=forecast.proposal if forecast is not None and forecast.agreed else None,
        auto_lead=draft.auto_lead,
    )
    if fallback is None:
        return
    draft.fallback = fallback
    draft.notes.append(fallback.describe())
    if fallback.instances is not None and (draft.recording is None or fallback.instances > draft.recording):
        draft.recording = fallback.instances


def raise_to_fallback(draft: Draft) -> None:
    fallback = draft.fallback
    if fallback is None or fallback.instances is None or draft.desired >= fallback.instances:
        return
    lifted = fallback.instances
    draft.clamp(
        Rule.FALLBACK,
        lifted,
        lambda: (
            f"every metric missing since {fallback.missing_since.isoformat()}: the fallback "
            f"({fallback.source}) requires at least {lifted} (applies at once; ends when a metric is back)"
        ),
    )


def follow_ramp(draft: Draft) -> None:
    """A ramp's level is a floor, applied at once like a window's (each step is one scale action);
    ramping down, the count steps down to the level instead of waiting for stabilisation and the
    scale-down cooldown, when nothing else of the decision (the recommendation, a window's floor,
    the forecast, a fallback) asks for more. A missing metric (which holds the recommendation at the
    current count) or load above the level keeps the count, and leaves the way down to the usual
    stages: only the ramp's own levels are stepped to, so the ramp takes at most its steps."""
    ramps = draft.ramp
    if ramps is None:
        return
    ceiling = draft.ceiling
    level = ramps.level if ceiling is None else min(ramps.level, ceiling)
    desired, current = draft.desired, draft.current
    if desired < level:
        draft.clamp(Rule.SCHEDULE_RAMP, level, f"schedule {ramps.names()} ramps the floor to {level} (applies at once)")
        return
    if not ramps.descending or Hold.INSTANCES_NOT_READY in draft.holds:
        return
    fallback = draft.fallback
    least = max(
        draft.proposed if draft.proposed is not None else current,
        draft.floor or 0,
        draft.acting.proposal if draft.acting is not None else 0,
        fallback.instances if fallback is not None and fallback.instances is not None else 0,
    )
    if least <= level < desired <= current:
        draft.clamp(
            Rule.SCHEDULE_RAMP,
            level,
            f"schedule {ramps.names()} ramps down: floor {level} now (a planned step, not left to stabilisation)",
        )
