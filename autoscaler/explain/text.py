"""The words of `autoscaler explain`: the policy, Marathon's view of the app, the schedules, the forecast.

What explain found (`autoscaler.explain.offline`) is written out here as lines of plain text. The
decision itself (its summary, metrics, clamps and the last sentence answering "why") is
`autoscaler.core.render`'s, as in the logs; this module adds what only explain shows: the policy's
rules, the app's tasks, each metric's query and newest sample, every window in force and coming, and
what an offline process cannot know. Pure text from values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from autoscaler.core.codes import Outcome
from autoscaler.core.decide import Decision
from autoscaler.core.forecast import Outlook
from autoscaler.core.model import AppState, Observation
from autoscaler.core.policy import Policy, ScaleRule, substitute
from autoscaler.core.predict import FALLBACK_STARTUP, horizon_of
from autoscaler.core.render import clamp_lines, metric_text, outcome_text, proposal_text, summary, why
from autoscaler.core.schedule import Window, active_windows, next_windows
from autoscaler.core.startup import StartupEstimate
from autoscaler.core.units import format_duration
from autoscaler.history import LoadedHistory

__all__ = ["decision_lines", "forecast_lines", "not_decided_lines", "policy_lines"]


def not_decided_lines(policy: Policy, *, reason: str | None, listed: int) -> list[str]:
    """An app Marathon does not list (`reason` None; `listed` apps it does) or lists with unusable data."""
    app_id = policy.app
    lines = [f"{app_id}: not decided", *policy_lines(policy)]
    if reason is not None:
        lines.append(f"Marathon: the app's data is unusable ({reason}).")
        lines.append(f"Outcome: {Outcome.INVALID_APP_STATE}.")
        lines.append(f"Why: it does not scale because Marathon's JSON for {app_id} cannot be read: {reason}.")
    else:
        lines.append(f"Marathon: no app with the id {app_id} (GET /v2/apps listed {listed} apps).")
        lines.append(f"Outcome: {Outcome.APP_NOT_FOUND}.")
        lines.append(
            f"Why: it does not scale because Marathon has no app {app_id}; the autoscaler never creates apps. "
            "Check the policy's `app` against Marathon's app ids."
        )
    return lines


def forecast_lines(
    policy: Policy,
    decision: Decision,
    loaded: tuple[LoadedHistory, ...],
    *,
    startup: StartupEstimate | None,
    interval: timedelta,
) -> list[str]:
    lines: list[str] = []
    if startup is not None and not startup.samples:
        lines.append(f"Start-up time: {format_duration(startup.duration)}, as given.")
    elif startup is not None:
        samples = ", ".join(f"{s:g}s" for s in startup.samples)
        lines.append(
            f"Start-up time: {format_duration(startup.duration)}, learned from Marathon "
            f"(median of {len(startup.samples)} measured scale-ups: {samples})."
        )
    else:
        lines.append(
            f"Start-up time: not known to explain (the running service learns it from Marathon's scale-ups and "
            f"shows it in /api/v1/apps{policy.app}); the fallback {format_duration(FALLBACK_STARTUP)} is used."
        )
    settings = policy.predictive
    if settings is None:
        return lines
    learned = startup.duration if startup is not None else None
    horizon = horizon_of(settings, startup=learned, tick=interval)
    lines.append(
        f"Forecast (predictive, mode {settings.mode}): the load over the next {format_duration(horizon)} "
        f"({'set by the policy' if settings.horizon is not None else 'start-up time plus one tick'}) on each "
        f"previous {format_duration(settings.period)} within {format_duration(settings.lookback)}, its "
        f"q{settings.quantile:g} plus {settings.margin * 100:g}% margin; at least {settings.min_samples} "
        f"periods with data; acts only when they agree within a spread of {settings.max_spread * 100:g}%."
    )
    for item in loaded:
        detail = f": {item.detail}" if item.detail else ""
        lines.append(f"  history of {item.metric}: {item.status} ({item.points} points){detail}")
    forecast = decision.forecast
    if forecast is None:
        lines.append("  no forecast yet: not enough history (the running service also learns it from its own ticks)")
        return lines
    samples = ", ".join(f"{sample:.2f}" for sample in forecast.samples)
    lines.append(f"  {forecast.describe()}")
    lines.append(f"  samples, newest period first: {samples}")
    reactive = "none" if decision.proposed is None else str(decision.proposed)
    if settings.mode == "forecast_only":
        would = (
            "mode on would not act on it: the previous periods disagree"
            if not forecast.agreed
            else f"mode on would raise the count to at least {forecast.proposal}"
            if decision.proposed is None or forecast.proposal > decision.proposed
            else "mode on would not change the count"
        )
        lines.append(
            f"  forecast_only: shown, never acted on; the metrics propose {reactive}, the forecast "
            f"{forecast.proposal}: {would}"
        )
    elif decision.proposed_by == "forecast":
        lines.append(f"  the forecast won: {forecast.proposal} over the metrics' {reactive}")
    elif not forecast.agreed:
        lines.append(f"  the forecast does not act (the previous periods disagree); the metrics propose {reactive}")
    else:
        lines.append(f"  the metrics won: {reactive}, the forecast {forecast.proposal}")
    return lines


def _rule_text(rule: ScaleRule) -> str:
    steps = ", ".join(str(step) for step in rule.max_step)
    return (
        f"cooldown {format_duration(rule.cooldown)}, max_step {steps}, "
        f"stabilization {format_duration(rule.stabilization)}"
    )


def policy_lines(policy: Policy) -> list[str]:
    return [
        f"Policy: min_instances {policy.min_instances}, max_instances {policy.max_instances}, "
        f"tolerance {policy.tolerance:g}, max_metric_age {format_duration(policy.max_metric_age)}"
        + (", force: true" if policy.force else ""),
        f"  scale_up: {_rule_text(policy.scale_up)}",
        f"  scale_down: {_rule_text(policy.scale_down)}",
    ] + (
        [
            f"  fallback: at least {policy.fallback.instances} once every metric has been missing for "
            f"{format_duration(policy.fallback.after)}"
        ]
        if policy.fallback is not None
        else []
    )


def _ago(moment: datetime, now: datetime) -> str:
    delta = now - moment
    if delta >= timedelta(0):
        return f"{format_duration(delta)} ago"
    return f"in {format_duration(-delta)}"


def _window_text(window: Window, now: datetime) -> str:
    bounds = []
    if window.min_instances is not None:
        bounds.append(f"floor {window.min_instances}")
    if window.max_instances is not None:
        bounds.append(f"ceiling {window.max_instances}")
    lead = f", lead {format_duration(window.lead)}" if window.lead else ""

    def at(moment: datetime) -> str:  # on the schedule's own wall clock, with its zone's name
        return f"{window.local(moment).isoformat()} {window.timezone}"

    ramps = ""
    if window.ramp_up:
        begins = window.applies_from - window.ramp_up
        ramps += f"; ramps up over {format_duration(window.ramp_up)} from {at(begins)} ({_ago(begins, now)})"
    if window.ramp_down:
        over = window.end + window.ramp_down
        ramps += f"; ramps down over {format_duration(window.ramp_down)} until {at(over)}"
    return (
        f"{window.name} ({', '.join(bounds)}): {at(window.start)} to {at(window.end)}{lead}; "
        f"applies from {at(window.applies_from)} ({_ago(window.applies_from, now)}){ramps}"
    )


def _state_text(state: AppState, now: datetime) -> str:
    parts = [
        f"{state.instances} instances",
        f"{state.tasks_running} running",
        f"{state.tasks_healthy} healthy" if state.has_health_checks else "no health checks",
        f"{state.tasks_staged} staged",
    ]
    if state.tasks_unhealthy:
        parts.append(f"{state.tasks_unhealthy} unhealthy")
    parts.append(f"{state.ready_instances} ready")
    deployments = (
        f"deployment {', '.join(state.deployment_ids)} in progress" if state.deployment_ids else "no deployment"
    )
    scaled = (
        f"last scaled {_ago(state.last_scaled_at, now)} ({state.last_scaled_at.isoformat()})"
        if state.last_scaled_at is not None
        else "last scale time unknown"
    )
    return f"Marathon: {', '.join(parts)}; {deployments}; {scaled}"


def decision_lines(
    policy: Policy,
    state: AppState,
    observations: Mapping[str, Observation],
    decision: Decision,
    *,
    now: datetime,
    unknown: tuple[str, ...],
    outlook: Outlook | None = None,
) -> list[str]:
    lines = [
        summary(decision),
        f"At {now.isoformat()}. Source: this process, offline (the engine run here, not the running service's "
        "decision; --url or AUTOSCALER_STATUS_URL asks the service).",
    ]
    auto_lead = outlook.lead if outlook is not None else None
    lines += policy_lines(policy)
    lines.append(_state_text(state, now))

    lines.append("Metrics (the highest proposal wins; a missing metric may not drive a scale-down):")
    if not decision.metrics:
        lines.append(
            f"  none: outside schedule windows the policy wants its baseline, min_instances {policy.min_instances}; "
            "after a window the count returns to it through stabilisation and step limits"
        )
    specs = {spec.name: spec for spec in policy.metrics}
    for evaluation in decision.metrics:
        spec = specs[evaluation.name]
        observation = observations.get(evaluation.name)
        lines.append(f"  {metric_text(evaluation)}")
        lines.append(f"    query: {substitute(spec.query, policy.app)}")
        if observation is not None and observation.timestamp is not None:
            lines.append(f"    newest sample: {observation.timestamp.isoformat()} ({_ago(observation.timestamp, now)})")
    if decision.proposed is not None:
        remembered = (
            f" (remembered as {decision.recommendation}, the schedule floor)"
            if decision.recommendation is not None and decision.recommendation != decision.proposed
            else ""
        )
        lines.append(f"  {proposal_text(decision)}{remembered}")
    lines.extend(f"  {note}" for note in decision.notes)

    lines += clamp_lines(decision)

    lines.append("Schedules:")
    if not policy.schedules:
        lines.append("  none in this policy")
    else:
        active = active_windows(policy.schedules, now, auto_lead=auto_lead)
        upcoming = next_windows(policy.schedules, now, auto_lead=auto_lead)
        lines.extend(f"  in force: {_window_text(w, now)}" for w in active)
        if not active:
            lines.append("  none in force now")
        lines.extend(f"  next: {_window_text(w, now)}" for w in upcoming)
        if not upcoming:
            lines.append("  no upcoming window")

    outcome = f"Outcome: {outcome_text(decision)}."
    if decision.scaled:
        outcome += (
            f' A running service would send PATCH /v2/apps{decision.app_id} {{"instances": {decision.desired}}}; '
            "explain sent nothing."
        )
    lines.append(outcome)
    lines.append("Offline, this process cannot know what the running service remembers:")
    lines.extend(f"  {item}" for item in unknown)
    lines.append(f"Why: {why(decision)}")
    return lines
