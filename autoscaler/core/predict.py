"""Per-app predictive state shared by the live loop, `simulate` and `backtest`: one LoadHistory per
metric, fed from each decision's own observations, and the Outlook handed to the next `decide`.

The caller owns one `Forecaster` per app (through `core.controller.AppController`, which drives it)
and calls, every tick:

    outlook = forecaster.outlook(policy, now, startup=learned_startup, tick=interval)
    decision = decide(policy, state, observations, history, now, outlook=outlook)
    forecaster.record(policy, decision, history)      # the History *before* this decision

Everything here is arithmetic on what it is given; the history is the only state, and its memory is
bounded (see `core.forecast`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from autoscaler.core.decide import Decision, History
from autoscaler.core.forecast import (
    DEFAULT_BUCKET,
    DEFAULT_LOOKBACK,
    LoadForecast,
    LoadHistory,
    Outlook,
    is_saturated,
    load_of,
)
from autoscaler.core.policy import Policy, Predictive

# `horizon: auto` before the app's start-up time has been measured.
FALLBACK_STARTUP = timedelta(minutes=2)


def horizon_of(predictive: Predictive, *, startup: timedelta | None, tick: timedelta) -> timedelta:
    """The forecast's horizon: the policy's, or the start-up time (learned, else the fallback) plus
    one tick."""
    if predictive.horizon is not None:
        return predictive.horizon
    return (startup if startup is not None else FALLBACK_STARTUP) + tick


def auto_lead(*, startup: timedelta | None, tick: timedelta) -> timedelta | None:
    """`lead: auto`: the learned start-up time plus one tick (None until one is measured)."""
    return None if startup is None else startup + tick


class Forecaster:
    """The load histories of one app's metrics and the forecasts made from them."""

    __slots__ = ("histories", "settings")

    def __init__(self, predictive: Predictive | None) -> None:
        self.settings = predictive
        self.histories: dict[str, LoadHistory] = {}

    def history(self, metric: str) -> LoadHistory:
        history = self.histories.get(metric)
        if history is None:
            settings = self.settings
            history = self.histories[metric] = LoadHistory(
                lookback=settings.lookback if settings else DEFAULT_LOOKBACK,
                bucket=settings.bucket if settings else DEFAULT_BUCKET,
            )
        return history

    def adopt(self, policy: Policy) -> Forecaster:
        """This forecaster for a reloaded `policy`: histories kept when their shape is unchanged."""
        settings = policy.predictive
        if settings is None:
            return Forecaster(None)
        if self.settings is not None and (self.settings.lookback, self.settings.bucket) == (
            settings.lookback,
            settings.bucket,
        ):
            kept = Forecaster(settings)
            names = {spec.name for spec in policy.metrics}
            kept.histories = {name: h for name, h in self.histories.items() if name in names}
            return kept
        return Forecaster(settings)

    def outlook(self, policy: Policy, now: datetime, *, startup: timedelta | None, tick: timedelta) -> Outlook:
        lead = auto_lead(startup=startup, tick=tick)
        settings = policy.predictive
        if settings is None:
            return Outlook(lead=lead)
        horizon = horizon_of(settings, startup=startup, tick=tick)
        forecasts: list[LoadForecast] = []
        for spec in policy.metrics:
            history = self.histories.get(spec.name)
            if history is None:
                continue
            result = history.forecast(
                metric=spec.name,
                target=spec.target,
                now=now,
                horizon=horizon,
                period=settings.period,
                lookback=settings.lookback,
                q=settings.quantile,
                margin=settings.margin,
                min_samples=settings.min_samples,
                max_spread=settings.max_spread,
            )
            if result is not None:
                forecasts.append(result)
        return Outlook(forecasts=tuple(forecasts), lead=lead)

    def record(self, policy: Policy, decision: Decision, history: History) -> None:
        """Add the load each of the decision's metrics measured (trusted measurements only). The ready
        count is the fewest within the metric window: an average still partly describes the fleet
        before a scale-up, and over the new one it would overstate the load."""
        settings = policy.predictive
        if settings is None or decision.ready is None:
            return
        fewest = decision.ready
        if history.ready:
            fewest, _ = history.ready_range(decision.at - policy.metric_window, decision.ready)
        for spec, metric in zip(policy.metrics, decision.metrics, strict=False):
            if metric.proposal is None:
                continue
            load = load_of(
                metric.value,
                kind=spec.kind,
                ready=fewest,
                target=spec.target,
                saturation=settings.saturation,
            )
            if load is not None:
                self.history(spec.name).add(decision.at, load)
            elif is_saturated(metric.value, kind=spec.kind, target=spec.target, saturation=settings.saturation):
                self.history(spec.name).mark_saturated(decision.at)
