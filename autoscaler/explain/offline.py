"""What an offline `explain` finds: Marathon's view of the app, its metrics, and the engine's decision.

The metrics are gathered by the loop's own code (`MetricGatherer` over the plans of `autoscaler.series`)
and decided by the loop's per-app step (`AppController`), so the answer cannot drift from what a tick
does; only what a single process cannot know (the history a running service keeps) differs, and the
text (`autoscaler.explain.text`) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from autoscaler.core.codes import Outcome
from autoscaler.core.controller import AppController, learns
from autoscaler.core.decide import Decision, History
from autoscaler.core.model import Observation
from autoscaler.core.pause import PauseIndex
from autoscaler.core.policy import Policy
from autoscaler.core.predict import FALLBACK_STARTUP, Forecaster
from autoscaler.core.schedule import Window, active_windows, next_windows
from autoscaler.core.startup import StartupEstimate
from autoscaler.core.units import format_duration
from autoscaler.errors import AutoscalerError
from autoscaler.explain.text import decision_lines, forecast_lines, not_decided_lines
from autoscaler.gather import MetricGatherer
from autoscaler.history import LoadedHistory, RangeSource, load_into
from autoscaler.ports import MetricsProvider, Target
from autoscaler.series import SeriesIndex, plan_metrics, queries_by_source

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
    if policy.scale_down.steady is not None:
        unknown.append(
            "no load history: it cannot tell a steady fall, so a scale-down is shown with the careful "
            "scale_down settings, where the service may go by scale_down.steady"
        )
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


async def explain_app(  # noqa: PLR0913  keyword-only: the service's collaborators and the tick's settings
    app_id: str,
    *,
    policies: Mapping[str, Policy],
    target: Target,
    providers: Mapping[str, MetricsProvider],
    now: datetime,
    interval: timedelta = timedelta(seconds=15),
    startup: StartupEstimate | None = None,
    source_timeout: float | None = None,
    logger: logging.Logger | None = None,
) -> str:
    """The decision the engine makes for `app_id` at `now`, in plain words. Never writes.

    `interval` is the service's tick (the forecast's horizon and `lead: auto` add one); `startup` the
    app's start-up time as the running service learned it, if known; `source_timeout` each metric
    source's deadline in seconds (default: 40 % of `interval`, as the service's); `logger` takes what a
    failing source logs. Raises ExplainError when no policy manages the app; Marathon errors (TargetError) propagate.
    """
    found = await explain_offline(
        app_id,
        policies=policies,
        target=target,
        providers=providers,
        now=now,
        interval=interval,
        startup=startup,
        source_timeout=source_timeout,
        logger=logger,
    )
    return found.text


async def explain_offline(  # noqa: PLR0913  keyword-only: the service's collaborators and the tick's settings
    app_id: str,
    *,
    policies: Mapping[str, Policy],
    target: Target,
    providers: Mapping[str, MetricsProvider],
    now: datetime,
    interval: timedelta = timedelta(seconds=15),
    startup: StartupEstimate | None = None,
    source_timeout: float | None = None,
    logger: logging.Logger | None = None,
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
        lines = not_decided_lines(policy, reason=reason, listed=len(snapshot.apps))
        return Explanation(
            text="\n".join(lines),
            outcome=Outcome.APP_NOT_FOUND if reason is None else Outcome.INVALID_APP_STATE,
            detail=reason if reason is not None else f"Marathon has no app {app_id}",
        )

    seconds = source_timeout if source_timeout is not None else 0.4 * interval.total_seconds()
    observations = await _observe(policy, providers, now=now, source_timeout=seconds, logger=logger)
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
    lines = decision_lines(policy, state, observations, decision, now=now, unknown=unknown, outlook=outlook)
    if learns(policy):
        # the forecast and start-up time go before the outcome, beside the metrics they stand with
        at = next(i for i, line in enumerate(lines) if line.startswith("Clamps,"))
        lines[at:at] = forecast_lines(policy, decision, loaded, startup=startup, interval=interval)
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


async def _observe(
    policy: Policy,
    providers: Mapping[str, MetricsProvider],
    *,
    now: datetime,
    source_timeout: float,
    logger: logging.Logger | None,
) -> dict[str, Observation]:
    """The app's observations as a tick makes them: its plans' queries sent once per source, every
    source at once within its deadline, and the app's series picked out of each answer."""
    plans = plan_metrics({policy.app: policy})
    gatherer = MetricGatherer(
        providers=providers, source_timeout=source_timeout, logger=logger or logging.getLogger(__name__)
    )
    gathered = await gatherer.gather(queries_by_source(plans), now=now, slow=[], readers=lambda _source: 1)
    series = SeriesIndex(gathered.results)
    return {plan.spec.name: series.observe(plan, policy.app) for plan in plans[policy.app]}
