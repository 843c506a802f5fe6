"""decide(policy, state, observations, history, now) -> Decision: the whole engine, pure.

The pipeline, each stage recording what it did in plain words:

1. deployment in progress -> hold (never fight a running deployment);
2. metric proposals, the highest wins; missing metrics may not drive a scale-down; a hold only because
   instances became ready (or went away) within the metric window, so its average has not measured
   them yet, is `metric_window`;
3. scale-down is held while instances are still becoming ready, and until one stabilisation window
   of recommendations has been observed (so a restart cannot cause a scale-down);
4. stabilisation: a scale-down goes only as low as the highest recommendation of its window
   (a scale-up only as high as the lowest of its window, when one is set);
5. step limits per direction, and the smallest scale-down worth a deployment (`scale_down.min_step`);
6. cooldowns per direction, measured from the app's last scale by anyone (Marathon's lastScalingAt);
7. schedule and campaign windows: the lowest active ceiling, then the highest active floor, at once;
8. min/max bounds, always, also when the app was set outside them by hand.

A policy without metrics proposes its baseline, `min_instances`, at stage 2: a window raises the count
at stage 7, and after the window the count returns to the baseline through stages 3-6 (cause
`baseline`), exactly as a metric-driven count comes down after a window.

The caller keeps the History (recommendations and ready counts of recent ticks) and feeds it back in;
`record()` returns the next History. Nothing here reads a clock or does I/O.

The text of every reason is formatted only when it is read (`Clamp.detail`, `reasons()`, `explain()`):
most decisions of a live loop over thousands of apps are holds that nobody reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from autoscaler.core.codes import Cause, Hold, Outcome, Rule
from autoscaler.core.fallback import FallbackState, fallback_for
from autoscaler.core.forecast import LoadForecast, Outlook
from autoscaler.core.lazytext import LazyDetail
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy
from autoscaler.core.ramp import RampFloor, RampKey, ramp_floor
from autoscaler.core.rules import MetricEvaluation, evaluate_all
from autoscaler.core.schedule import Window, active_windows
from autoscaler.core.units import format_duration

Action = Literal["up", "down", "none"]

# Scale-down waits while fewer than this share of the instances are ready (tasks still starting or
# unhealthy): shrinking a fleet that has not finished starting acts on numbers that are about to change.
READY_SHARE_FOR_SCALE_DOWN = 0.9

SCALED_CODES = frozenset({Outcome.SCALED_UP, Outcome.SCALED_DOWN})


@dataclass(frozen=True, slots=True)
class Recommendation:
    at: datetime
    instances: int


@dataclass(frozen=True, slots=True)
class ReadyCount:
    """How many instances were ready at one tick (for the metric window)."""

    at: datetime
    instances: int


def _appended(items: tuple[Any, ...], item: Any, cutoff: datetime) -> tuple[Any, ...]:
    """`items` (oldest first) without those at or before `cutoff`, then `item`.

    Consecutive equal counts are kept as one entry, stamped with the latest of their ticks: every
    reader asks only "is there an entry of this count after a moment", which the latest tick answers,
    so an app whose count stays put keeps one entry instead of one per tick. Ticks arrive in time
    order, so only the oldest entries expire and the rest is kept as one slice; if the clock went back,
    every entry is checked instead (and nothing is merged).
    """
    if items and items[-1].at > item.at:
        return (*(i for i in items if i.at > cutoff), item)
    start, end = 0, len(items)
    while start < end and items[start].at <= cutoff:
        start += 1
    if start < end and items[-1].instances == item.instances:
        end -= 1  # the same count again: the new entry replaces the last one
        if start == end:
            return (item,)
    if start or end < len(items):
        return (*items[start:end], item)
    return (*items, item)


@dataclass(frozen=True)
class History:
    """What the engine needs to remember between ticks for one app.

    `observing_since`: when this process first evaluated the app (restart safety);
    `recommendations`: recent recommendations, oldest first, for the stabilisation windows;
    `ready`: the ready count of recent ticks, oldest first, for the metric window;
    `metrics_missing_since`: the first tick of the current run of ticks at which every metric of the
    app was missing (None while one is present), for the policy's `fallback`;
    `ramp_bases`: the base each ramp in force started from (core.ramp).
    Both keep a run of ticks with the same count as one entry at the latest of them (the windows ask
    only whether a count was seen after a moment), so a steady app's History stays a few entries long.
    """

    observing_since: datetime | None = None
    recommendations: tuple[Recommendation, ...] = ()
    ready: tuple[ReadyCount, ...] = ()
    metrics_missing_since: datetime | None = None
    ramp_bases: tuple[tuple[RampKey, int], ...] = ()

    def record(self, decision: Decision, *, keep: timedelta, at: datetime | None = None) -> History:
        """The history after `decision`, keeping only what a window of length `keep` can need.

        `at`: when the decision was taken again unchanged (a tick that reused it), if not `decision.at`.
        """
        at = decision.at if at is None else at
        since = self.observing_since or at
        cutoff = at - keep
        ready = self.ready
        if decision.ready is not None:
            ready = _appended(ready, ReadyCount(at, decision.ready), cutoff)
        missing = None
        if decision.metrics and all(metric.missing for metric in decision.metrics):
            missing = self.metrics_missing_since or at
        if decision.ramp is not None:
            bases = decision.ramp.bases
        else:  # a hold for a running deployment evaluates no ramp: its bases stay for the next tick
            bases = self.ramp_bases if decision.code == Outcome.DEPLOYMENT_IN_PROGRESS else ()
        if bases == self.ramp_bases:
            bases = self.ramp_bases
        unchanged = missing is self.metrics_missing_since and bases is self.ramp_bases
        if decision.recommendation is None:
            if since is self.observing_since and ready is self.ready and unchanged:
                return self
            return replace(self, observing_since=since, ready=ready, metrics_missing_since=missing, ramp_bases=bases)
        recommendations = _appended(self.recommendations, Recommendation(at, decision.recommendation), cutoff)
        return History(
            observing_since=since,
            recommendations=recommendations,
            ready=ready,
            metrics_missing_since=missing,
            ramp_bases=bases,
        )

    def ready_range(self, since: datetime, ready: int) -> tuple[int, int]:
        """The fewest and the most instances ready at the ticks from `since` on, `ready` (now) included."""
        fewest = most = ready
        for past in reversed(self.ready):
            if past.at < since:
                break
            count = past.instances
            if count < fewest:
                fewest = count
            elif count > most:
                most = count
        return fewest, most


class Clamp(LazyDetail):
    """One stage that changed (or held) the count: its rule, the numbers before and after, and why.

    Immutable. `detail` may be given as text or as a function that makes it, once, when first read.
    """

    __slots__ = ("after", "before", "rule")
    _FIELDS = ("rule", "before", "after")

    rule: str
    before: int
    after: int

    def __init__(self, rule: str, before: int, after: int, detail: str | Callable[[], str]) -> None:
        self._init(detail, rule=rule, before=before, after=after)


@dataclass(frozen=True)
class Decision:
    """The engine's answer, with everything needed to explain it."""

    app_id: str
    at: datetime
    current: int
    desired: int
    code: str  # scaled_up | scaled_down | within_tolerance | metric_window | cooldown | stabilizing | ...
    metrics: tuple[MetricEvaluation, ...] = ()
    clamps: tuple[Clamp, ...] = ()
    windows: tuple[Window, ...] = ()
    proposed: int | None = None  # what the metrics asked for (after the missing-metric guard), else the baseline
    recommendation: int | None = None  # `proposed` raised to an active floor; kept in History
    cause: str = ""  # what moved the count: metrics, baseline, forecast, schedule, bounds
    notes: tuple[str, ...] = field(default=())
    ready: int | None = None  # instances ready at this tick; kept in History for the metric window
    # The seasonal forecast (policies with `predictive`): its numbers, and whether it proposed more
    # than the metrics (`proposed_by`: "reactive" or "forecast"; a forecast_only one never does).
    forecast: LoadForecast | None = None
    proposed_by: str = "reactive"
    forecast_mode: str | None = None  # the policy's predictive mode, None without one
    # Every metric missing with a `fallback` in the policy: where the fallback stands, and since when.
    fallback: FallbackState | None = None
    # The ramps of schedule windows in force (core.ramp): their floor, and the base it ramps from.
    ramp: RampFloor | None = None

    @property
    def action(self) -> Action:
        if self.desired > self.current:
            return "up"
        if self.desired < self.current:
            return "down"
        return "none"

    @property
    def scaled(self) -> bool:
        return self.action != "none"

    def summary(self) -> str:
        """One line: `/shop/api: 4 -> 8 (scaled_up: metrics)` or `/shop/api: stays at 4 (cooldown)`."""
        if self.scaled:
            return f"{self.app_id}: {self.current} -> {self.desired} ({self.code}: {self.cause})"
        return f"{self.app_id}: stays at {self.current} ({self.code})"

    def proposal_text(self) -> str:
        """What the count would be without windows, forecast and limits, in words."""
        if not self.metrics:
            return f"baseline {self.proposed} (min_instances: the policy has no metrics)"
        return f"metrics recommend {self.proposed}"

    def reasons(self) -> list[str]:
        """Every reason in order, for logs and the status API."""
        out = [f"metric {m.name}: {m.detail}" for m in self.metrics]
        out += list(self.notes)
        out += [f"{c.rule}: {c.before} -> {c.after}: {c.detail}" for c in self.clamps]
        return out

    def explain(self) -> str:
        """A readable account of the whole decision."""
        lines = [self.summary()]
        for metric in self.metrics:
            value = "none" if metric.value is None else f"{metric.value:g}"
            target = f"target_{'average' if metric.kind == 'average' else 'per_instance'} {metric.target:g}"
            lines.append(f"  metric {metric.name} ({metric.source}): value {value} vs {target}: {metric.detail}")
        if not self.metrics:
            lines.append(
                "  no metrics in this policy: it wants its baseline (min_instances) outside schedule windows, "
                "and returns to it through stabilisation and step limits"
            )
        for window in self.windows:
            bounds = []
            if window.min_instances is not None:
                bounds.append(f"floor {window.min_instances}")
            if window.max_instances is not None:
                bounds.append(f"ceiling {window.max_instances}")
            lines.append(
                f"  schedule {window.name} in force ({', '.join(bounds)}): "
                f"{window.start.isoformat()} to {window.end.isoformat()}, lead {format_duration(window.lead)}"
            )
        if self.forecast_mode is not None:
            if self.forecast is None:
                lines.append(f"  forecast ({self.forecast_mode}): no forecast yet (not enough history)")
            else:
                won = "won" if self.proposed_by == "forecast" else "did not win"
                if self.forecast_mode == "forecast_only":
                    won = "not acted on: forecast_only"
                lines.append(f"  {self.forecast.describe()} ({self.forecast_mode}; {won})")
        if self.proposed is not None:
            remembered = (
                f" (remembered as {self.recommendation}, the schedule floor, for stabilisation)"
                if self.recommendation != self.proposed
                else ""
            )
            lines.append(f"  {self.proposal_text()}{remembered}")
        lines.extend(f"  {note}" for note in self.notes)
        lines.extend(f"  {c.rule}: {c.before} -> {c.after} ({c.detail})" for c in self.clamps)
        lines.append(f"  outcome: {self.code}, desired {self.desired}")
        return "\n".join(lines)


class _Trail:
    """Collects clamps and notes while the pipeline runs."""

    def __init__(self) -> None:
        self.clamps: list[Clamp] = []
        self.notes: list[str] = []
        self.holds: list[Hold] = []  # codes of stages that kept the count where it was

    def clamp(self, rule: str, before: int, after: int, detail: str | Callable[[], str]) -> int:
        self.clamps.append(Clamp(rule, before, after, detail))
        return after


def decide(
    policy: Policy,
    state: AppState,
    observations: Mapping[str, Observation],
    history: History,
    now: datetime,
    *,
    outlook: Outlook | None = None,
) -> Decision:
    """Decide the instance count of one app. Pure and deterministic.

    `outlook` (optional) carries what the caller forecast from pure functions: the seasonal forecast
    of the load (`core.forecast`) and the lead for `lead: auto`. The forecast may only raise the
    recommendation, and only when the policy's `predictive.mode` is `on`.
    """
    current = state.instances
    ready = state.ready_instances
    trail = _Trail()
    auto_lead = outlook.lead if outlook is not None else None
    windows = tuple(active_windows(policy.schedules, now, auto_lead=auto_lead)) if policy.schedules else ()
    predictive = policy.predictive
    forecast = outlook.forecast if outlook is not None and predictive is not None else None
    proposed_by = "reactive"
    ready_range = history.ready_range(now - policy.metric_window, ready) if history.ready else None
    metrics = tuple(evaluate_all(policy, observations, state=state, now=now, ready_range=ready_range))

    proposed: int | None = None
    fallback: FallbackState | None = None
    ramps: RampFloor | None = None

    def finish(desired: int, code: str, cause: str, recommendation: int | None) -> Decision:
        return Decision(
            proposed=proposed,
            app_id=policy.app,
            at=now,
            current=current,
            desired=desired,
            code=code,
            metrics=metrics,
            clamps=tuple(trail.clamps),
            windows=windows,
            recommendation=recommendation,
            cause=cause,
            notes=tuple(trail.notes),
            ready=ready,
            forecast=forecast,
            proposed_by=proposed_by,
            forecast_mode=predictive.mode if predictive is not None else None,
            fallback=fallback,
            ramp=ramps,
        )

    if state.deployment_in_progress:
        trail.notes.append(
            f"deployment {', '.join(state.deployment_ids)} in progress: holding, Marathon would refuse a change"
        )
        return finish(current, Hold.DEPLOYMENT_IN_PROGRESS, Cause.NONE, None)

    floors = [w.min_instances for w in windows if w.min_instances is not None]
    ceilings = [w.max_instances for w in windows if w.max_instances is not None]
    floor = max(floors) if floors else None
    ceiling = min(ceilings) if ceilings else None

    # 2. proposals
    present = [m for m in metrics if m.proposal is not None]
    missing = [m for m in metrics if m.proposal is None]
    if not metrics:
        # A policy without metrics wants its baseline, `min_instances`: windows raise the count above
        # it (stage 7), and once they end it comes back down through stages 3-6 like any scale-down.
        recommendation = policy.min_instances
        if recommendation != current:
            trail.notes.append(
                f"no metrics: outside its windows the policy wants its baseline, min_instances {recommendation}"
            )
    elif present:
        best = max(present, key=lambda m: m.proposal or 0)
        recommendation = best.proposal or 0
        if len(present) > 1:
            trail.notes.append(f"highest proposal: {best.name} ({recommendation})")
    else:
        recommendation = current
        trail.holds.append(Hold.MISSING_METRICS)
        trail.notes.append("every metric is missing: holding at the current count")
    if missing and recommendation < current:
        names = ", ".join(m.name for m in missing)
        recommendation = trail.clamp(
            Rule.MISSING_METRICS,
            recommendation,
            current,
            f"{names} missing, so no scale-down (scale-up from present metrics stays allowed)",
        )
        trail.holds.append(Hold.MISSING_METRICS)
    proposed = recommendation
    if policy.schedules:
        # A ramp fades a window's floor in from the count at its start, and out to the metrics' then.
        ramps = ramp_floor(
            policy.schedules,
            now,
            current=current,
            recommended=max((m.proposal or 0 for m in present), default=policy.min_instances),
            bases=dict(history.ramp_bases),
            auto_lead=auto_lead,
        )
        if ramps is not None:
            trail.notes.extend(ramps.notes())
    if policy.fallback is not None and metrics and not present:
        agreed = forecast.proposal if forecast is not None and forecast.agreed else None
        fallback = fallback_for(
            policy,
            missing_since=history.metrics_missing_since or now,
            now=now,
            windows=windows,
            forecast=agreed,
            auto_lead=auto_lead,
        )
        if fallback is not None:
            trail.notes.append(fallback.describe())
    # A hold that only the metric window made: this tick's ready count would have moved the count.
    intent = recommendation
    if recommendation == current and ready_range is not None and ready_range != (ready, ready):
        intent = _without_window(policy, observations, state=state, now=now, current=current, trail=trail)
    # Remembered raised to an active floor, so after the window ends the count comes down through the
    # stabilisation window and step limits instead of falling off a cliff.
    recording = floor if floor is not None and recommendation < floor else recommendation
    # A ramp's level and a fallback in force are floors too: remembered, so the count comes down after
    # them through stabilisation (a ramp down steps it down itself, see stage 7).
    planned = [
        level
        for level in (
            ramps.level if ramps is not None else None,
            fallback.instances if fallback is not None and fallback.in_force else None,
        )
        if level is not None
    ]
    if planned and max(planned) > recording:
        recording = max(planned)
    # The seasonal forecast (mode `on`): the higher of it and the reactive proposal wins. It acts like
    # a learned schedule floor (stage 7): the load it expects is due within one start-up time, so it
    # applies at once; it is remembered, so after the peak the count comes down through stabilisation.
    acting = forecast if forecast is not None and predictive is not None and predictive.mode == "on" else None
    if acting is not None and not acting.agreed:
        trail.notes.append(
            f"forecast not acting: the previous periods disagree (spread {acting.spread * 100:.0f}% "
            f"> max_spread {acting.max_spread * 100:g}%)"
        )
        acting = None
    if acting is not None and acting.proposal > recording:
        recording = acting.proposal

    desired = recommendation
    # 3. no scale-down while instances are starting, or before a full window has been observed
    if desired < current and ready < READY_SHARE_FOR_SCALE_DOWN * current:
        desired = trail.clamp(
            Rule.INSTANCES_NOT_READY,
            desired,
            current,
            lambda: f"only {ready} of {current} instances ready; not scaling down while they start",
        )
        trail.holds.append(Hold.INSTANCES_NOT_READY)
    if desired < current:
        window = policy.scale_down.stabilization
        since = history.observing_since
        if window > timedelta(0) and (since is None or now - since < window):
            seen = timedelta(0) if since is None else now - since
            desired = trail.clamp(
                Rule.STABILIZATION,
                desired,
                current,
                lambda: (
                    f"observed for {format_duration(seen)} of the {format_duration(window)} "
                    "scale-down window; no scale-down before a full window"
                ),
            )
            trail.holds.append(Hold.STABILIZING)

    # 4. stabilisation windows
    if desired != current:
        # only the window of the direction of travel matters
        limit = recommendation
        if desired > current:
            cutoff = now - policy.scale_up.stabilization
            for past in history.recommendations:
                if past.instances < limit and past.at > cutoff:
                    limit = past.instances
            stabilized = max(min(desired, limit), current)
        else:
            cutoff = now - policy.scale_down.stabilization
            for past in history.recommendations:
                if past.instances > limit and past.at > cutoff:
                    limit = past.instances
            stabilized = max(desired, min(limit, current))
        if stabilized != desired:
            up = desired > current
            length = policy.scale_up.stabilization if up else policy.scale_down.stabilization
            desired = trail.clamp(
                Rule.STABILIZATION,
                desired,
                stabilized,
                lambda: (
                    f"{'lowest' if up else 'highest'} recommendation of the last "
                    f"{format_duration(length)} is {stabilized}"
                ),
            )
            if desired == current:
                trail.holds.append(Hold.STABILIZING)

    # 5. step limits; a scale-down too small to be worth a deployment waits (hysteresis)
    if desired > current:
        step = policy.scale_up.step_size(current)
        if desired - current > step:
            desired = trail.clamp(
                Rule.MAX_STEP,
                desired,
                current + step,
                lambda: (
                    f"scale_up max_step {', '.join(map(str, policy.scale_up.max_step))} allows +{step} from {current}"
                ),
            )
    elif desired < current:
        step = policy.scale_down.step_size(current)
        if current - desired > step:
            desired = trail.clamp(
                Rule.MAX_STEP,
                desired,
                current - step,
                lambda: (
                    f"scale_down max_step {', '.join(map(str, policy.scale_down.max_step))} "
                    f"allows -{step} from {current}"
                ),
            )
        least = policy.scale_down.min_step.size(current)
        if current - desired < least:
            shed = current - desired
            desired = trail.clamp(
                Rule.MIN_STEP,
                desired,
                current,
                lambda: (
                    f"shedding {shed} is below scale_down min_step {policy.scale_down.min_step} "
                    f"({least} from {current}): not worth a deployment"
                ),
            )
            trail.holds.append(Hold.WITHIN_TOLERANCE)

    # 6. cooldowns
    if desired != current and state.last_scaled_at is not None:
        rule = policy.scale_up if desired > current else policy.scale_down
        elapsed = max(now - state.last_scaled_at, timedelta(0))
        if elapsed < rule.cooldown:
            direction = "scale_up" if desired > current else "scale_down"
            cooldown = rule.cooldown
            desired = trail.clamp(
                Rule.COOLDOWN,
                desired,
                current,
                lambda: (
                    f"last scaled {format_duration(elapsed)} ago; {direction} cooldown is "
                    f"{format_duration(cooldown)} (wait {format_duration(cooldown - elapsed)})"
                ),
            )
            trail.holds.append(Hold.COOLDOWN)

    metric_desired = desired
    # 7. the forecast, then schedule windows: ceiling, then floor (capacity for a planned event wins), at once
    if acting is not None and desired < acting.proposal:
        desired = trail.clamp(
            Rule.FORECAST,
            desired,
            acting.proposal,
            lambda: (
                f"the forecast expects {acting.load:.2f} within {format_duration(acting.horizon)}: at least "
                f"{acting.proposal} (applies at once, like a schedule floor)"
            ),
        )
        proposed_by = "forecast"
    if fallback is not None and fallback.instances is not None and desired < fallback.instances:
        lifted = fallback.instances
        desired = trail.clamp(
            Rule.FALLBACK,
            desired,
            lifted,
            lambda: (
                f"every metric missing since {fallback.missing_since.isoformat()}: the fallback "
                f"({fallback.source}) requires at least {lifted} (applies at once; ends when a metric is back)"
            ),
        )
    if ceiling is not None and desired > ceiling:
        names = ", ".join(w.name for w in windows if w.max_instances == ceiling)
        desired = trail.clamp(Rule.SCHEDULE_CEILING, desired, ceiling, f"schedule {names} caps the count at {ceiling}")
    if floor is not None and desired < floor:
        names = ", ".join(w.name for w in windows if w.min_instances == floor)
        desired = trail.clamp(
            Rule.SCHEDULE_FLOOR,
            desired,
            floor,
            f"schedule {names} requires at least {floor} (applies at once, ignoring cooldowns and steps)",
        )
    if ramps is not None:
        # what else holds the count up: the metrics (held at the current count when one is missing),
        # a window's floor, the acting forecast, a fallback in force
        least = max(recommendation, floor or 0, acting.proposal if acting is not None else 0, *planned)
        desired = _ramp_stage(trail, ramps, desired=desired, current=current, ceiling=ceiling, least=least)

    # 8. bounds
    if desired > policy.max_instances:
        desired = trail.clamp(
            Rule.MAX_INSTANCES,
            desired,
            policy.max_instances,
            f"capped at max_instances {policy.max_instances}"
            + (" (the app was above it)" if current > policy.max_instances else ""),
        )
    if desired < policy.min_instances:
        desired = trail.clamp(
            Rule.MIN_INSTANCES,
            desired,
            policy.min_instances,
            f"raised to min_instances {policy.min_instances}"
            + (" (the app was below it)" if current < policy.min_instances else ""),
        )

    if desired != current:
        code: str = Outcome.SCALED_UP if desired > current else Outcome.SCALED_DOWN
        if desired == metric_desired:
            # without metrics the way down is the return to the baseline; the way up is min_instances
            cause = Cause.METRICS if metrics else Cause.BASELINE if desired < current else Cause.BOUNDS
        else:
            causes: dict[str, Cause] = {
                Rule.FORECAST: Cause.FORECAST,
                Rule.FALLBACK: Cause.FALLBACK,
                Rule.SCHEDULE_RAMP: Cause.RAMP,
                Rule.SCHEDULE_FLOOR: Cause.SCHEDULE,
                Rule.SCHEDULE_CEILING: Cause.SCHEDULE,
                Rule.MIN_INSTANCES: Cause.BOUNDS,
                Rule.MAX_INSTANCES: Cause.BOUNDS,
            }
            cause = causes.get(trail.clamps[-1].rule, Cause.METRICS)
        return finish(desired, code, cause, recording)
    code = _hold_code(
        trail, policy, recommendation=intent, current=current, floor=floor, ceiling=ceiling, metrics=metrics
    )
    return finish(desired, code, Cause.NONE, recording)


def _ramp_stage(
    trail: _Trail,
    ramps: RampFloor,
    *,
    desired: int,
    current: int,
    ceiling: int | None,
    least: int,
) -> int:
    """Stage 7, ramps: a ramp's level is a floor, applied at once like a window's (each step is one
    scale action); ramping down, the count steps down to the level instead of waiting for
    stabilisation and the scale-down cooldown, when nothing else of the decision (`least`: the
    recommendation, a window's floor, the forecast, a fallback) asks for more. A missing metric (which
    holds the recommendation at the current count) or load above the level keeps the count, and
    leaves the way down to the usual stages: only the ramp's own levels are stepped to, so the ramp
    takes at most its steps."""
    level = ramps.level if ceiling is None else min(ramps.level, ceiling)
    if desired < level:
        return trail.clamp(
            Rule.SCHEDULE_RAMP, desired, level, f"schedule {ramps.names()} ramps the floor to {level} (applies at once)"
        )
    if not ramps.descending or Hold.INSTANCES_NOT_READY in trail.holds:
        return desired
    if least <= level < desired <= current:
        return trail.clamp(
            Rule.SCHEDULE_RAMP,
            desired,
            level,
            f"schedule {ramps.names()} ramps down: floor {level} now (a planned step, not left to stabilisation)",
        )
    return desired


def _without_window(
    policy: Policy,
    observations: Mapping[str, Observation],
    *,
    state: AppState,
    now: datetime,
    current: int,
    trail: _Trail,
) -> int:
    """What the metrics would recommend over this tick's ready count alone, when that differs from the
    current count that the metric window keeps: the hold is then the window's (`metric_window`).

    Called only for a hold while the ready count changed within the window, so rarely."""
    present = [m.proposal for m in evaluate_all(policy, observations, state=state, now=now) if m.proposal is not None]
    if not present:
        return current
    wanted = max(present)
    if wanted < current and len(present) < len(policy.metrics):
        trail.holds.append(Hold.MISSING_METRICS)  # it would hold the scale-down even without the window
        return current
    if wanted != current:
        ready, window = state.ready_instances, policy.metric_window
        which = "became ready" if wanted > current else "went away"
        trail.notes.append(
            f"metric window: over this tick's {ready} ready instances the metrics would ask for {wanted}, but "
            f"instances that {which} within the {format_duration(window)} window are not yet measured by "
            "its average; holding until it covers the current fleet"
        )
        trail.holds.append(Hold.METRIC_WINDOW)
    return wanted


def _hold_code(
    trail: _Trail,
    policy: Policy,
    *,
    recommendation: int,
    current: int,
    floor: int | None,
    ceiling: int | None,
    metrics: tuple[MetricEvaluation, ...],
) -> Hold:
    """The machine-readable reason nothing happened, most specific first.

    A bound that the count already sits on explains a hold better than a cooldown or a window that
    would only have delayed the move: at max with load above target is `at_max`, not `cooldown`.
    """
    if recommendation > current:
        if current >= policy.max_instances:
            return Hold.AT_MAX
        if ceiling is not None and current >= ceiling:
            return Hold.AT_SCHEDULE_CEILING
    if recommendation < current:
        if current <= policy.min_instances:
            return Hold.AT_MIN
        if floor is not None and current <= floor:
            return Hold.AT_SCHEDULE_FLOOR
    if trail.holds:
        return trail.holds[0]
    last = trail.clamps[-1].rule if trail.clamps else ""
    if last == Rule.MAX_INSTANCES:
        return Hold.AT_MAX
    if last == Rule.MIN_INSTANCES:
        return Hold.AT_MIN
    if last in (Rule.SCHEDULE_FLOOR, Rule.SCHEDULE_RAMP):
        return Hold.AT_SCHEDULE_FLOOR
    if last == Rule.SCHEDULE_CEILING:
        return Hold.AT_SCHEDULE_CEILING
    if last == Rule.FORECAST:
        return Hold.AT_FORECAST
    if not metrics:
        return Hold.NO_METRICS
    return Hold.WITHIN_TOLERANCE
