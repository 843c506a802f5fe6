"""The stages of a decision, each a small function that records its clamp.

`decide` (core.decide) folds a `Draft` through these stages in order. A stage reads the draft and may:

- move the count only through `draft.clamp(rule, after, detail)`, which records the clamp (its
  `Rule`, the counts before and after, and the reason, formatted only when read);
- name the hold it caused (`draft.holds`, a `Hold` code) and add notes (`draft.notes`);
- end the decision at once with `draft.stop(code, note)` (a deployment in progress does).

A stage that does not apply returns without a trace. Adding a stage means writing one such function,
its `Rule` (and `Hold`, if it holds) in `core.codes`, and placing it in `SHAPING` (it shapes the
metrics' proposal) or `SETTING` (it sets the count whatever the metrics say) in `core.decide`.
Nothing here reads a clock or does I/O: `draft.now` is the decision's time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autoscaler.core.codes import Hold, Rule
from autoscaler.core.decision import Clamp, History
from autoscaler.core.fallback import FallbackState
from autoscaler.core.forecast import LoadForecast, Outlook
from autoscaler.core.model import AppState, Observation
from autoscaler.core.pause import Pause
from autoscaler.core.policy import Policy, ScaleRule
from autoscaler.core.ramp import RampFloor
from autoscaler.core.rules import MetricEvaluation, evaluate_all
from autoscaler.core.schedule import Window, active_windows
from autoscaler.core.steady import LoadRun, advance, restarted, steady_since
from autoscaler.core.units import format_duration

# Scale-down waits while fewer than this share of the instances are ready (tasks still starting or
# unhealthy): shrinking a fleet that has not finished starting acts on numbers that are about to change.
READY_SHARE_FOR_SCALE_DOWN = 0.9

Stage = Callable[["Draft"], None]


@dataclass(slots=True)
class Draft:
    """A decision in the making: its inputs, what the stages worked out so far, and their trail."""

    policy: Policy
    state: AppState
    observations: Mapping[str, Observation]
    history: History
    now: datetime
    current: int  # the app's instance count (Marathon's `instances`)
    ready: int  # instances that count as capacity
    metrics: tuple[MetricEvaluation, ...]
    windows: tuple[Window, ...]
    ready_range: tuple[int, int] | None  # fewest and most ready within the metric window (None: no History)
    forecast: LoadForecast | None  # the outlook's forecast, for a policy with `predictive`
    floor: int | None = None  # the highest floor of the windows in force
    ceiling: int | None = None  # the lowest ceiling of the windows in force
    proposed: int | None = None  # what the metrics asked for (after the missing-metric guard), else the baseline
    desired: int = 0  # the count as the stages so far leave it
    intent: int = 0  # the proposal the hold code is judged against (the metric window's, if it holds)
    recording: int | None = None  # the recommendation kept in History
    acting: LoadForecast | None = None  # the forecast when it acts (mode `on`, periods agree)
    auto_lead: timedelta | None = None  # the outlook's lead for `lead: auto` schedules
    ramp: RampFloor | None = None  # the ramps of windows in force (core.floors)
    fallback: FallbackState | None = None  # every metric missing under a `fallback` (core.floors)
    proposed_by: str = "reactive"
    stopped: Hold | None = None  # set by a stage that ends the decision at once
    pause: Pause | None = None  # the pause in force for the app (core.pausing has the last word)
    clamps: list[Clamp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)  # codes of stages that kept the count where it was
    loads: tuple[LoadRun, ...] = ()  # each metric's load run after this tick (core.steady)
    steady: datetime | None = None  # since when the load has been steady, when the scale-down goes by it

    def rule(self, up: bool) -> ScaleRule:
        """The settings this tick's move in that direction goes by: `scale_up`, or `scale_down` (its
        `steady` ones while the load falls steadily)."""
        return self.policy.scale_up if up else self.policy.scale_down.shedding(self.steady is not None)

    def rule_name(self, up: bool) -> str:
        """The policy block whose settings this tick's move in that direction goes by."""
        return "scale_up" if up else "scale_down.steady" if self.steady is not None else "scale_down"

    @staticmethod
    def start(
        policy: Policy,
        state: AppState,
        observations: Mapping[str, Observation],
        history: History,
        now: datetime,
        *,
        outlook: Outlook | None,
        pause: Pause | None = None,
    ) -> Draft:
        """The draft before any stage: the metrics evaluated, the windows in force found."""
        ready = state.ready_instances
        auto_lead = outlook.lead if outlook is not None else None
        windows = tuple(active_windows(policy.schedules, now, auto_lead=auto_lead)) if policy.schedules else ()
        since = now - policy.metric_window
        ready_range = history.ready_range(since, ready) if history.ready else None
        last_ready = history.last_ready(since)
        metrics = tuple(
            evaluate_all(policy, observations, state=state, now=now, ready_range=ready_range, last_ready=last_ready)
        )
        forecast = outlook.forecast if outlook is not None and policy.predictive is not None else None
        draft = Draft(
            policy=policy,
            state=state,
            observations=observations,
            history=history,
            now=now,
            current=state.instances,
            ready=ready,
            metrics=metrics,
            windows=windows,
            ready_range=ready_range,
            forecast=forecast,
            desired=state.instances,
            pause=pause,
            auto_lead=auto_lead,
        )
        steady = policy.scale_down.steady
        if steady is not None:
            draft.loads = advance(history.loads, metrics, now, steady)
        if windows:
            floors = [w.min_instances for w in windows if w.min_instances is not None]
            ceilings = [w.max_instances for w in windows if w.max_instances is not None]
            draft.floor = max(floors) if floors else None
            draft.ceiling = min(ceilings) if ceilings else None
        return draft

    def clamp(self, rule: Rule, after: int, detail: str | Callable[[], str]) -> None:
        """Move the count to `after`, recording the clamp."""
        self.clamps.append(Clamp(rule, self.desired, after, detail))
        self.desired = after

    def stop(self, code: Hold, note: str) -> None:
        """End the decision at the current count with `code`; no later stage runs."""
        self.notes.append(note)
        self.desired = self.current
        self.stopped = code


# --- 1. never fight a running deployment ------------------------------------------------------------


def hold_for_deployment(draft: Draft) -> None:
    state = draft.state
    if state.deployment_in_progress:
        draft.stop(
            Hold.DEPLOYMENT_IN_PROGRESS,
            f"deployment {', '.join(state.deployment_ids)} in progress: holding, Marathon would refuse a change",
        )


# --- 2. proposals ------------------------------------------------------------------------------------


def propose(draft: Draft) -> None:
    """The highest metric proposal wins (the baseline without metrics); a missing metric may not
    drive a scale-down."""
    current, metrics = draft.current, draft.metrics
    present = [m for m in metrics if m.proposal is not None]
    missing = [m for m in metrics if m.proposal is None]
    if not metrics:
        # A policy without metrics wants its baseline, `min_instances`: windows raise the count above
        # it (stage 7), and once they end it comes back down through stages 3-6 like any scale-down.
        recommendation = draft.policy.min_instances
        if recommendation != current:
            draft.notes.append(
                f"no metrics: outside its windows the policy wants its baseline, min_instances {recommendation}"
            )
    elif present:
        best = max(present, key=lambda m: m.proposal or 0)
        recommendation = best.proposal or 0
        if len(present) > 1:
            draft.notes.append(f"highest proposal: {best.name} ({recommendation})")
    else:
        recommendation = current
        draft.holds.append(Hold.MISSING_METRICS)
        draft.notes.append("every metric is missing: holding at the current count")
    draft.desired = recommendation
    if missing and recommendation < current:
        names = ", ".join(m.name for m in missing)
        draft.clamp(
            Rule.MISSING_METRICS,
            current,
            f"{names} missing, so no scale-down (scale-up from present metrics stays allowed)",
        )
        draft.holds.append(Hold.MISSING_METRICS)
    draft.proposed = draft.intent = draft.desired


def see_metric_window(draft: Draft) -> None:
    """A hold that only the metric window made (this tick's ready count would have moved the count)
    is the window's: `metric_window`."""
    ready = draft.ready
    if draft.desired != draft.current or draft.ready_range is None or draft.ready_range == (ready, ready):
        return
    policy, current = draft.policy, draft.current
    evaluations = evaluate_all(policy, draft.observations, state=draft.state, now=draft.now)
    present = [m.proposal for m in evaluations if m.proposal is not None]
    if not present:
        return
    wanted = max(present)
    if wanted < current and len(present) < len(policy.metrics):
        draft.holds.append(Hold.MISSING_METRICS)  # it would hold the scale-down even without the window
        return
    draft.intent = wanted
    if wanted != current:
        window = policy.metric_window
        which = "became ready" if wanted > current else "went away"
        draft.notes.append(
            f"metric window: over this tick's {ready} ready instances the metrics would ask for {wanted}, but "
            f"instances that {which} within the {format_duration(window)} window are not yet measured by "
            "its average; holding until it covers the current fleet"
        )
        draft.holds.append(Hold.METRIC_WINDOW)


def remember(draft: Draft) -> None:
    """What History keeps: the proposal raised to an active floor (so after a window the count comes
    down through stabilisation and step limits instead of falling off a cliff), and to the forecast
    when it acts (mode `on`, the previous periods agreeing)."""
    recording = draft.desired
    if draft.floor is not None and recording < draft.floor:
        recording = draft.floor
    predictive, forecast = draft.policy.predictive, draft.forecast
    acting = forecast if forecast is not None and predictive is not None and predictive.mode == "on" else None
    if acting is not None and not acting.agreed:
        draft.notes.append(
            f"forecast not acting: the previous periods disagree (spread {acting.spread * 100:.0f}% "
            f"> max_spread {acting.max_spread * 100:g}%)"
        )
        acting = None
    if acting is not None and acting.proposal > recording:
        recording = acting.proposal
    draft.acting = acting
    draft.recording = recording


# --- 3. no scale-down while instances start, or before a full window has been observed --------------


def wait_for_ready(draft: Draft) -> None:
    current, ready = draft.current, draft.ready
    if draft.desired < current and ready < READY_SHARE_FOR_SCALE_DOWN * current:
        draft.clamp(
            Rule.INSTANCES_NOT_READY,
            current,
            lambda: f"only {ready} of {current} instances ready; not scaling down while they start",
        )
        draft.holds.append(Hold.INSTANCES_NOT_READY)


def wait_for_full_window(draft: Draft) -> None:
    if draft.desired >= draft.current:
        return
    window = draft.policy.scale_down.stabilization
    since = draft.history.observing_since
    if window > timedelta(0) and (since is None or draft.now - since < window):
        seen = timedelta(0) if since is None else draft.now - since
        draft.clamp(
            Rule.STABILIZATION,
            draft.current,
            lambda: (
                f"observed for {format_duration(seen)} of the {format_duration(window)} "
                "scale-down window; no scale-down before a full window"
            ),
        )
        draft.holds.append(Hold.STABILIZING)


# --- 4. a steady fall is followed closely; stabilisation windows -------------------------------------


def judge_fall(draft: Draft) -> None:
    """A scale-down while every metric's load has been steady (core.steady) goes by `scale_down.steady`.

    A count held up by a floor, the forecast, a ramp or the fallback is no fall of the load: while the
    recommendation is raised above the metrics' proposal, the load runs begin again, so the steady
    settings apply only a full window after the raise ends."""
    rule = draft.policy.scale_down.steady
    if rule is None:
        return
    if draft.loads and draft.recording is not None and draft.proposed is not None and draft.recording > draft.proposed:
        draft.loads = restarted(draft.loads, draft.now)
    if draft.desired >= draft.current:
        return
    since = steady_since(draft.loads, draft.metrics, draft.now, rule)
    if since is None:
        return
    draft.steady = since
    window, tolerance = format_duration(draft.now - since), rule.tolerance
    draft.notes.append(
        f"steady fall: for {window} no load rose more than {tolerance * 100:g}% above its lowest or dropped "
        f"by more in one tick; the scale-down goes by scale_down.steady (stabilization "
        f"{format_duration(rule.stabilization)}, cooldown {format_duration(rule.cooldown)}, "
        f"max_step {', '.join(map(str, rule.max_step))})"
    )


def stabilize(draft: Draft) -> None:
    """A scale-down goes only as low as the highest recommendation of its window, a scale-up only as
    high as the lowest of its window (only the window of the direction of travel matters)."""
    desired, current = draft.desired, draft.current
    if desired == current:
        return
    up = desired > current
    length = draft.rule(up).stabilization
    cutoff = draft.now - length
    limit = draft.proposed if draft.proposed is not None else desired
    for past in draft.history.recommendations:
        if past.at > cutoff and (past.instances < limit if up else past.instances > limit):
            limit = past.instances
    stabilized = max(min(desired, limit), current) if up else max(desired, min(limit, current))
    if stabilized == desired:
        return
    draft.clamp(
        Rule.STABILIZATION,
        stabilized,
        lambda: f"{'lowest' if up else 'highest'} recommendation of the last {format_duration(length)} is {stabilized}",
    )
    if stabilized == current:
        draft.holds.append(Hold.STABILIZING)


# --- 5. step limits; a scale-down too small to be worth a deployment waits (hysteresis) ------------


def limit_step(draft: Draft) -> None:
    desired, current = draft.desired, draft.current
    if desired == current:
        return
    up = desired > current
    rule = draft.rule(up)
    step = rule.step_size(current)
    if abs(desired - current) <= step:
        return
    limits, name, sign = rule.max_step, draft.rule_name(up), "+" if up else "-"
    draft.clamp(
        Rule.MAX_STEP,
        current + step if up else current - step,
        lambda: f"{name} max_step {', '.join(map(str, limits))} allows {sign}{step} from {current}",
    )


def skip_small_scale_down(draft: Draft) -> None:
    desired, current, min_step = draft.desired, draft.current, draft.policy.scale_down.min_step
    if desired >= current:
        return
    least = min_step.size(current)
    shed = current - desired
    if shed < least:
        draft.clamp(
            Rule.MIN_STEP,
            current,
            lambda: (
                f"shedding {shed} is below scale_down min_step {min_step} ({least} from {current}): "
                "not worth a deployment"
            ),
        )
        draft.holds.append(Hold.WITHIN_TOLERANCE)


# --- 6. cooldowns, from the app's last scale by anyone (Marathon's lastScalingAt) -------------------


def cool_down(draft: Draft) -> None:
    desired, current, last = draft.desired, draft.current, draft.state.last_scaled_at
    if desired == current or last is None:
        return
    up = desired > current
    cooldown = draft.rule(up).cooldown
    elapsed = max(draft.now - last, timedelta(0))
    if elapsed >= cooldown:
        return
    direction = draft.rule_name(up)
    draft.clamp(
        Rule.COOLDOWN,
        current,
        lambda: (
            f"last scaled {format_duration(elapsed)} ago; {direction} cooldown is "
            f"{format_duration(cooldown)} (wait {format_duration(cooldown - elapsed)})"
        ),
    )
    draft.holds.append(Hold.COOLDOWN)


# --- 7. the forecast, then schedule windows: ceiling, then floor (planned capacity wins), at once ---


def follow_forecast(draft: Draft) -> None:
    acting = draft.acting
    if acting is None or draft.desired >= acting.proposal:
        return
    draft.clamp(
        Rule.FORECAST,
        acting.proposal,
        lambda: (
            f"the forecast expects {acting.load:.2f} within {format_duration(acting.horizon)}: at least "
            f"{acting.proposal} (applies at once, like a schedule floor)"
        ),
    )
    draft.proposed_by = "forecast"


def cap_at_schedule_ceiling(draft: Draft) -> None:
    ceiling = draft.ceiling
    if ceiling is not None and draft.desired > ceiling:
        names = ", ".join(w.name for w in draft.windows if w.max_instances == ceiling)
        draft.clamp(Rule.SCHEDULE_CEILING, ceiling, f"schedule {names} caps the count at {ceiling}")


def raise_to_schedule_floor(draft: Draft) -> None:
    floor = draft.floor
    if floor is not None and draft.desired < floor:
        names = ", ".join(w.name for w in draft.windows if w.min_instances == floor)
        draft.clamp(
            Rule.SCHEDULE_FLOOR,
            floor,
            f"schedule {names} requires at least {floor} (applies at once, ignoring cooldowns and steps)",
        )


# --- 8. min/max bounds, always, also when the app was set outside them by hand ----------------------


def keep_within_bounds(draft: Draft) -> None:
    policy, current = draft.policy, draft.current
    if draft.desired > policy.max_instances:
        draft.clamp(
            Rule.MAX_INSTANCES,
            policy.max_instances,
            f"capped at max_instances {policy.max_instances}"
            + (" (the app was above it)" if current > policy.max_instances else ""),
        )
    if draft.desired < policy.min_instances:
        draft.clamp(
            Rule.MIN_INSTANCES,
            policy.min_instances,
            f"raised to min_instances {policy.min_instances}"
            + (" (the app was below it)" if current < policy.min_instances else ""),
        )
