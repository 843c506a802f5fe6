"""`autoscaler explain APP`: why would the service scale this app (or not), right now, in plain words?

An operator asking "why did it (not) scale?" needs every number behind the answer, not a log line.
This reads the app's policy, asks Marathon for the app list (the one `GET /v2/apps` a tick sends),
sends the app's metric queries once per source, runs the same pure engine the loop runs, and writes
the whole decision out: each metric's value and proposal, each clamp in order, the schedule windows
in force and coming, the outcome, and a last sentence answering the question.

It only reads: it never scales, whatever the decision. This is the offline answer: it has no access
to the running service's memory, so it assumes the app has been watched for a full stabilisation
window with steady recommendations, and says so, with everything else it cannot know, in its output.
`autoscaler.preview` asks the running service instead when told where it is.

For a policy with `predictive`, the forecast is computed as the service computes it: each metric's
load history is loaded from its source with range queries (`history.load_history`, over the policy's
lookback), then the same `Forecaster` gives the forecast over the next start-up time plus one tick.
The start-up time is learned by the running service from Marathon's scale-ups (its status API shows
it); explain sees a single snapshot, so it uses the one it is given, else the fallback, and says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from autoscaler.core.codes import Outcome
from autoscaler.core.controller import AppController, learns
from autoscaler.core.decide import Decision, History
from autoscaler.core.forecast import Outlook
from autoscaler.core.model import AppState, Observation, QueryResult
from autoscaler.core.pause import PauseIndex
from autoscaler.core.policy import Policy, ScaleRule, substitute
from autoscaler.core.predict import FALLBACK_STARTUP, Forecaster, horizon_of
from autoscaler.core.render import clamp_lines, metric_text, proposal_text, summary, why
from autoscaler.core.rules import observe
from autoscaler.core.schedule import Window, active_windows, next_windows
from autoscaler.core.startup import StartupEstimate
from autoscaler.core.units import format_duration
from autoscaler.errors import AutoscalerError
from autoscaler.history import LoadedHistory, RangeSource, load_into
from autoscaler.ports import MetricsProvider, Target

__all__ = ["ExplainError", "Explanation", "explain_app", "explain_offline", "offline_unknowns"]


class ExplainError(AutoscalerError):
    """The app cannot be explained: no policy manages it."""


@dataclass(frozen=True)
class Explanation:
    """What an offline `explain` found: the text, and the values behind it (for `--json`).

    `outcome`: the decision's code, or `app_not_found` / `invalid_app_state` without a decision."""

    text: str
    outcome: str
    detail: str = ""
    decision: Decision | None = None
    windows: tuple[tuple[Window, ...], tuple[Window, ...]] = ((), ())  # in force, next
    startup: StartupEstimate | None = None
    unknown: tuple[str, ...] = ()


def offline_unknowns(policy: Policy, *, startup: StartupEstimate | None) -> tuple[str, ...]:
    """What a process that has not watched the app cannot know, in the words explain prints."""
    window = format_duration(policy.stabilization_window())
    unknown = [
        f"no stabilisation history: it assumes the app was watched for a full window ({window}) of steady "
        "recommendations, so it may show a scale-down (or a cooldown) where the service holds it as stabilizing",
        "no ready counts of the metric window: it cannot see a metric_window hold after instances started",
        "no operator pauses: they are kept by the service (a pause in the app's labels is shown)",
    ]
    if learns(policy) and startup is None:
        unknown.append(
            f"no learned start-up time: the fallback {format_duration(FALLBACK_STARTUP)} is used (--startup sets one)"
        )
    if policy.fallback is not None:
        unknown.append(
            "since when the metrics have been missing: a fallback counts its `after` from now (the service's "
            "status shows the one in force)"
        )
    if any(schedule.ramp_up or schedule.ramp_down for schedule in policy.schedules):
        unknown.append("the count a ramp in force started from: it takes the current count (or recommendation)")
    return tuple(unknown)


async def explain_app(
    app_id: str,
    *,
    policies: Mapping[str, Policy],
    target: Target,
    providers: Mapping[str, MetricsProvider],
    now: datetime,
    interval: timedelta = timedelta(seconds=15),
    startup: StartupEstimate | None = None,
) -> str:
    """The decision the engine makes for `app_id` at `now`, in plain words. Never writes.

    `interval` is the service's tick (the forecast's horizon and `lead: auto` add one); `startup` the
    app's start-up time as the running service learned it, if known.
    Raises ExplainError when no policy manages the app; Marathon errors (TargetError) propagate.
    """
    found = await explain_offline(
        app_id, policies=policies, target=target, providers=providers, now=now, interval=interval, startup=startup
    )
    return found.text


async def explain_offline(
    app_id: str,
    *,
    policies: Mapping[str, Policy],
    target: Target,
    providers: Mapping[str, MetricsProvider],
    now: datetime,
    interval: timedelta = timedelta(seconds=15),
    startup: StartupEstimate | None = None,
) -> Explanation:
    """`explain_app`, with the values behind the text."""
    policy = policies.get(app_id)
    if policy is None:
        managed = ", ".join(sorted(policies)) or "none"
        raise ExplainError(f"no policy manages {app_id}; the managed apps are: {managed}")

    snapshot = await target.list_apps()
    state = snapshot.apps.get(app_id)
    if state is None:
        reason = snapshot.invalid.get(app_id)
        outcome = Outcome.APP_NOT_FOUND if reason is None else Outcome.INVALID_APP_STATE
        lines = [f"{app_id}: not decided"]
        lines += _policy_lines(policy)
        if reason is not None:
            lines.append(f"Marathon: the app's data is unusable ({reason}).")
            lines.append("Outcome: invalid_app_state.")
            lines.append(f"Why: it does not scale because Marathon's JSON for {app_id} cannot be read: {reason}.")
        else:
            lines.append(f"Marathon: no app with the id {app_id} (GET /v2/apps listed {len(snapshot.apps)} apps).")
            lines.append("Outcome: app_not_found.")
            lines.append(
                f"Why: it does not scale because Marathon has no app {app_id}; the autoscaler never creates apps. "
                "Check the policy's `app` against Marathon's app ids."
            )
        detail = reason if reason is not None else f"Marathon has no app {app_id}"
        return Explanation(text="\n".join(lines), outcome=outcome, detail=detail)

    results = await _query_metrics(policy, providers, now=now)
    observations: dict[str, Observation] = {}
    for spec in policy.metrics:
        query = substitute(spec.query, policy.app)
        observations[spec.name] = observe(results.get((spec.source, query)), spec=spec, app_id=policy.app)
    forecaster: Forecaster | None = None
    loaded: tuple[LoadedHistory, ...] = ()
    if learns(policy):
        forecaster, loaded = await _load_forecaster(policy, providers, now=now)
    controller = AppController(
        policy,
        tick=interval,
        startup=startup.duration if startup else None,
        # A full window already observed, with no earlier recommendation that differs from this one.
        history=History(observing_since=now - policy.stabilization_window()),
        forecaster=forecaster,
    )
    # the app's labels may pause it; an operator's pause is known only to the service (explain --url)
    label = PauseIndex((), now=now).find(policy.app, label_until=state.paused_until, label_reason=state.paused_reason)
    decision = controller.step(state, observations, now, pause=label)
    outlook = controller.last_outlook
    unknown = offline_unknowns(policy, startup=startup)
    lines = _render(policy, state, observations, decision, now=now, unknown=unknown, outlook=outlook)
    if learns(policy):
        # the forecast and start-up time go before the outcome, beside the metrics they stand with
        at = next(i for i, line in enumerate(lines) if line.startswith("Clamps,"))
        lines[at:at] = _forecast_lines(policy, decision, loaded, startup=startup, interval=interval)
    auto_lead = outlook.lead if outlook is not None else None
    windows = (
        tuple(active_windows(policy.schedules, now, auto_lead=auto_lead)),
        tuple(next_windows(policy.schedules, now, auto_lead=auto_lead)),
    )
    return Explanation(
        text="\n".join(lines),
        outcome=decision.code,
        decision=decision,
        windows=windows,
        startup=startup,
        unknown=unknown,
    )


async def _load_forecaster(
    policy: Policy, providers: Mapping[str, MetricsProvider], *, now: datetime
) -> tuple[Forecaster, tuple[LoadedHistory, ...]]:
    """The app's Forecaster with each metric's load history loaded from its source, as the service
    loads it at start. Never raises: a source without history means no forecast yet."""
    forecaster = Forecaster(policy.predictive)
    # Both providers answer range queries; the port the loop uses does not name them.
    sources = {name: cast(RangeSource, p) for name, p in providers.items() if hasattr(p, "range_query")}
    report = await load_into(forecaster, policy, sources, now=now)
    return forecaster, report


def _forecast_lines(
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


async def _query_metrics(
    policy: Policy, providers: Mapping[str, MetricsProvider], *, now: datetime
) -> dict[tuple[str, str], QueryResult]:
    wanted: dict[str, list[str]] = {}
    for spec in policy.metrics:
        query = substitute(spec.query, policy.app)
        queries = wanted.setdefault(spec.source, [])
        if query not in queries:
            queries.append(query)
    results: dict[tuple[str, str], QueryResult] = {}
    for source, queries in wanted.items():
        provider = providers.get(source)
        if provider is None:
            message = f"no {source} source is configured (AUTOSCALER_{source.upper()}_URL)"
            results.update({(source, q): QueryResult(query=q, error=message) for q in queries})
            continue
        try:
            answers = await provider.query(queries, now=now)
        except AutoscalerError as exc:
            results.update({(source, q): QueryResult(query=q, error=f"{source} failed: {exc}") for q in queries})
            continue
        results.update({(source, q): answers.get(q, QueryResult(query=q, error="no answer")) for q in queries})
    return results


def _rule_text(rule: ScaleRule) -> str:
    steps = ", ".join(str(step) for step in rule.max_step)
    return (
        f"cooldown {format_duration(rule.cooldown)}, max_step {steps}, "
        f"stabilization {format_duration(rule.stabilization)}"
    )


def _policy_lines(policy: Policy) -> list[str]:
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


def _render(
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
    lines += _policy_lines(policy)
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

    if decision.scaled:
        lines.append(
            f"Outcome: {decision.code}, desired {decision.desired} (cause: {decision.cause}). A running service "
            f'would send PATCH /v2/apps{decision.app_id} {{"instances": {decision.desired}}}; explain sent nothing.'
        )
    else:
        lines.append(f"Outcome: {decision.code}, stays at {decision.current}.")
    lines.append("Offline, this process cannot know what the running service remembers:")
    lines.extend(f"  {item}" for item in unknown)
    lines.append(f"Why: {why(decision)}")
    return lines
