"""decide(policy, state, observations, history, now) -> Decision: the whole engine, pure.

A decision is a fold of a `Draft` over named stages (core.stages), each recording what it did in
plain words. In order:

1. `hold_for_deployment`: a deployment in progress -> hold (never fight a running deployment);
2. `propose`: the metrics' proposals, the highest wins; missing metrics may not drive a scale-down;
   `see_metric_window`: a hold only because instances became ready (or went away) within the metric
   window, so its average has not measured them yet, is `metric_window`; `remember`: what History
   keeps (the proposal raised to an active floor, and to the forecast when it acts); `plan_ramps`,
   `plan_fallback`: a window's ramp in force, and the fallback when every metric is missing
   (core.floors), both remembered like a floor;
3. `wait_for_ready`, `wait_for_full_window`: scale-down is held while instances are still becoming
   ready, and until one stabilisation window of recommendations has been observed (so a restart
   cannot cause a scale-down);
4. `judge_fall`: while every metric's load has been falling (or flat) steadily (core.steady), a
   scale-down goes by `scale_down.steady` in stages 4-6 instead of `scale_down`'s own window, step
   limit and cooldown; `stabilize`: a scale-down goes only as low as the highest recommendation of
   its window (a scale-up only as high as the lowest of its window, when one is set);
5. `limit_step`, `skip_small_scale_down`: step limits per direction, and the smallest scale-down
   worth a deployment (`scale_down.min_step`);
6. `cool_down`: cooldowns per direction, measured from the app's last scale by anyone (Marathon's
   lastScalingAt);
7. `follow_forecast`, `raise_to_fallback`, `cap_at_schedule_ceiling`, `raise_to_schedule_floor`,
   `follow_ramp`: the forecast and the fallback, then schedule and campaign windows (the lowest active
   ceiling, then the highest active floor, then a ramp's level and the steps of a ramp down), at once;
8. `keep_within_bounds`: min/max bounds, always, also when the app was set outside them by hand;
9. `hold_for_pause` (`FINAL`, core.pausing): a pause in force keeps the count where it is, whatever
   the stages above decided (schedule floors included), also after a stage stopped the decision.

Stages 1-6 (`SHAPING`) shape the metrics' proposal; stages 7-8 (`SETTING`) set the count whatever the
metrics say, and a scale is attributed to the last of them that moved it (its `Cause`).

A policy without metrics proposes its baseline, `min_instances`, at stage 2: a window raises the count
at stage 7, and after the window the count returns to the baseline through stages 3-6 (cause
`baseline`), exactly as a metric-driven count comes down after a window.

The caller keeps the History (recommendations and ready counts of recent ticks) and feeds it back in;
`record()` returns the next History (core.controller does both). Nothing here reads a clock or does
I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from autoscaler.core.codes import Cause, Hold, Outcome, Rule
from autoscaler.core.decision import Action, Clamp, Decision, History, ReadyCount, Recommendation
from autoscaler.core.floors import follow_ramp, plan_fallback, plan_ramps, raise_to_fallback
from autoscaler.core.forecast import Outlook
from autoscaler.core.model import AppState, Observation
from autoscaler.core.pause import Pause
from autoscaler.core.pausing import hold_for_pause
from autoscaler.core.policy import Policy
from autoscaler.core.stages import (
    READY_SHARE_FOR_SCALE_DOWN,
    Draft,
    Stage,
    cap_at_schedule_ceiling,
    cool_down,
    follow_forecast,
    hold_for_deployment,
    judge_fall,
    keep_within_bounds,
    limit_step,
    propose,
    raise_to_schedule_floor,
    remember,
    see_metric_window,
    skip_small_scale_down,
    stabilize,
    wait_for_full_window,
    wait_for_ready,
)

__all__ = [
    "FINAL",
    "READY_SHARE_FOR_SCALE_DOWN",
    "SETTING",
    "SHAPING",
    "Action",
    "Clamp",
    "Decision",
    "History",
    "ReadyCount",
    "Recommendation",
    "decide",
]

# Stages 1-6: from the metrics' proposal to the count the metrics' rules allow.
SHAPING: tuple[Stage, ...] = (
    hold_for_deployment,
    propose,
    see_metric_window,
    remember,
    plan_ramps,
    plan_fallback,
    wait_for_ready,
    wait_for_full_window,
    judge_fall,
    stabilize,
    limit_step,
    skip_small_scale_down,
    cool_down,
)
# Stages 7-8: what sets the count whatever the metrics say; a scale they made is theirs (its cause).
SETTING: tuple[Stage, ...] = (
    follow_forecast,
    raise_to_fallback,
    cap_at_schedule_ceiling,
    raise_to_schedule_floor,
    follow_ramp,
    keep_within_bounds,
)

# The last word, after everything else: a pause in force keeps the count where it is (core.pausing).
FINAL: tuple[Stage, ...] = (hold_for_pause,)

# The cause of a scale that a SETTING stage made, by the rule of its last clamp.
_CAUSES: Mapping[str, Cause] = {
    Rule.FORECAST: Cause.FORECAST,
    Rule.FALLBACK: Cause.FALLBACK,
    Rule.SCHEDULE_RAMP: Cause.RAMP,
    Rule.SCHEDULE_FLOOR: Cause.SCHEDULE,
    Rule.SCHEDULE_CEILING: Cause.SCHEDULE,
    Rule.MIN_INSTANCES: Cause.BOUNDS,
    Rule.MAX_INSTANCES: Cause.BOUNDS,
}

# A hold whose last clamp is one of these sits on that bound: its code says so.
_AT_BOUND: Mapping[str, Hold] = {
    Rule.MAX_INSTANCES: Hold.AT_MAX,
    Rule.MIN_INSTANCES: Hold.AT_MIN,
    Rule.SCHEDULE_FLOOR: Hold.AT_SCHEDULE_FLOOR,
    Rule.SCHEDULE_RAMP: Hold.AT_SCHEDULE_FLOOR,
    Rule.SCHEDULE_CEILING: Hold.AT_SCHEDULE_CEILING,
    Rule.FORECAST: Hold.AT_FORECAST,
}


def decide(
    policy: Policy,
    state: AppState,
    observations: Mapping[str, Observation],
    history: History,
    now: datetime,
    *,
    outlook: Outlook | None = None,
    pause: Pause | None = None,
) -> Decision:
    """Decide the instance count of one app. Pure and deterministic.

    `outlook` (optional) carries what the caller forecast from pure functions: the seasonal forecast
    of the load (`core.forecast`) and the lead for `lead: auto`. The forecast may only raise the
    recommendation, and only when the policy's `predictive.mode` is `on`. `pause`, the pause in force
    for the app, has the last word (`FINAL`): the count stays put, with code `paused`.
    """
    draft = Draft.start(policy, state, observations, history, now, outlook=outlook, pause=pause)
    shaped = draft.desired
    for stage in SHAPING:
        stage(draft)
        if draft.stopped is not None:
            break
    else:
        shaped = draft.desired
        for stage in SETTING:
            stage(draft)
    for stage in FINAL:  # also after a stage stopped the decision: a paused app always says so
        stage(draft)
    if draft.stopped is not None:
        return _finish(draft, draft.stopped, Cause.NONE)
    current, desired = draft.current, draft.desired
    if desired == current:
        return _finish(draft, _hold_code(draft), Cause.NONE)
    code = Outcome.SCALED_UP if desired > current else Outcome.SCALED_DOWN
    if desired != shaped:
        cause = _CAUSES.get(draft.clamps[-1].rule, Cause.METRICS)
    elif draft.metrics:
        cause = Cause.METRICS
    else:  # without metrics the way down is the return to the baseline; the way up is min_instances
        cause = Cause.BASELINE if desired < current else Cause.BOUNDS
    return _finish(draft, code, cause)


def _finish(draft: Draft, code: str, cause: str) -> Decision:
    predictive = draft.policy.predictive
    return Decision(
        proposed=draft.proposed,
        app_id=draft.policy.app,
        at=draft.now,
        current=draft.current,
        desired=draft.desired,
        code=code,
        metrics=draft.metrics,
        clamps=tuple(draft.clamps),
        windows=draft.windows,
        recommendation=draft.recording,
        cause=cause,
        notes=tuple(draft.notes),
        ready=draft.ready,
        forecast=draft.forecast,
        proposed_by=draft.proposed_by,
        forecast_mode=predictive.mode if predictive is not None else None,
        pause=draft.pause if code == Hold.PAUSED else None,
        fallback=draft.fallback,
        ramp=draft.ramp,
        loads=draft.loads,
        steady_since=draft.steady,
    )


def _hold_code(draft: Draft) -> Hold:
    """The machine-readable reason nothing happened, most specific first: a bound the count sits on,
    then the first stage that held it, then the last clamp's bound, else within tolerance."""
    last = draft.clamps[-1].rule if draft.clamps else ""
    fallback = Hold.WITHIN_TOLERANCE if draft.metrics else Hold.NO_METRICS
    return _sits_on_bound(draft) or (draft.holds[0] if draft.holds else None) or _AT_BOUND.get(last) or fallback


def _sits_on_bound(draft: Draft) -> Hold | None:
    """A bound that the count already sits on, in the direction the metrics want to move it.

    It explains a hold better than a cooldown or a window that would only have delayed the move: at
    max with load above target is `at_max`, not `cooldown`.
    """
    policy, current, wanted = draft.policy, draft.current, draft.intent
    if wanted > current:
        if current >= policy.max_instances:
            return Hold.AT_MAX
        if draft.ceiling is not None and current >= draft.ceiling:
            return Hold.AT_SCHEDULE_CEILING
    elif wanted < current:
        if current <= policy.min_instances:
            return Hold.AT_MIN
        if draft.floor is not None and current <= draft.floor:
            return Hold.AT_SCHEDULE_FLOOR
    return None
