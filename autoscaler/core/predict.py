"""Per-app predictive state shared by the live loop, `simulate` and `backtest`: one LoadHistory per
metric, fed from each decision's own observations, and the Outlook handed to the next `decide`.

The caller owns one `Forecaster` per app (through `core.controller.AppController`, which drives it)
and calls, every tick:

    outlook = forecaster.outlook(policy, now, startup=learned_startup, tick=interval)
    decision = decide(policy, state, observations, history, now, outlook=outlook)
    forecaster.record(policy, decision, history)      # the History *before* this decision

Every forecast is checked against the load then measured (`core.selfcheck`), and the Outlook carries
it at the level that check allows: a forecast acts only where it has proven itself.

Everything here is arithmetic on what it is given; the histories and the checks are the only state,
and their memory is bounded (see `core.forecast`, `core.selfcheck`).
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
    seconds_of,
)
from autoscaler.core.policy import Policy, Predictive
from autoscaler.core.selfcheck import ForecastCheck, backfill, checked

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

    __slots__ = ("_shown", "checks", "histories", "settings")

    def __init__(self, predictive: Predictive | None) -> None:
        self.settings = predictive
        self.histories: dict[str, LoadHistory] = {}
        self.checks: dict[str, ForecastCheck] = {}
        # per metric: the last forecast, the check it was given and the checked forecast made of them
        self._shown: dict[str, tuple[LoadForecast, tuple[float, int], LoadForecast]] = {}

    def history(self, metric: str) -> LoadHistory:
        history = self.histories.get(metric)
        if history is None:
            settings = self.settings
            history = self.histories[metric] = LoadHistory(
                lookback=settings.lookback if settings else DEFAULT_LOOKBACK,
                bucket=settings.bucket if settings else DEFAULT_BUCKET,
            )
        return history

    def check(self, metric: str) -> ForecastCheck:
        found = self.checks.get(metric)
        if found is None:
            settings = self.settings
            found = self.checks[metric] = ForecastCheck(
                lookback=settings.lookback if settings else DEFAULT_LOOKBACK,
                bucket=settings.bucket if settings else DEFAULT_BUCKET,
            )
        return found

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
            kept.checks = {name: c for name, c in self.checks.items() if name in names}
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
                check = self.check(spec.name)
                if check.loads != history.loads:
                    check.loads = history.loads
                    backfill(
                        check,
                        history,
                        target=spec.target,
                        horizon=horizon,
                        period=settings.period,
                        lookback=settings.lookback,
                        q=settings.quantile,
                        margin=settings.margin,
                        max_spread=settings.max_spread,
                    )
                forecasts.append(self._checked(check, spec.name, result, now=now))
        return Outlook(forecasts=tuple(forecasts), lead=lead)

    def _checked(self, check: ForecastCheck, metric: str, forecast: LoadForecast, *, now: datetime) -> LoadForecast:
        """`forecast` at the level its self-check allows; an agreed one is taken for checking."""
        if forecast.agreed:
            check.forecast_made(at=seconds_of(now), horizon=forecast.horizon.total_seconds(), load=forecast.base)
        factor = check.factor()
        shown = self._shown.get(metric)
        if shown is not None and shown[0] is forecast and shown[1] == factor:
            return shown[2]
        result = checked(forecast, factor=factor[0], windows=factor[1])
        self._shown[metric] = (forecast, factor, result)
        return result

    def record(self, policy: Policy, decision: Decision, history: History) -> None:
        """Add the load each of the decision's metrics measured (trusted measurements only). The ready
        count is the fewest within the metric window: an average still partly describes the fleet
        before a scale-up, and over the new one it would overstate the load."""
        settings = policy.predictive
        if settings is None:
            return
        at = seconds_of(decision.at)
        if decision.ready is None:
            for every in self.checks.values():
                every.measured(at=at, load=None)
            return
        fewest = decision.ready
        if history.ready:
            fewest, _ = history.ready_range(decision.at - policy.metric_window, decision.ready)
        for spec, metric in zip(policy.metrics, decision.metrics, strict=False):
            check = self.checks.get(spec.name)
            if metric.proposal is None:
                if check is not None:
                    check.measured(at=at, load=None)
                continue
            saturated = is_saturated(metric.value, kind=spec.kind, target=spec.target, saturation=settings.saturation)
            load = load_of(
                metric.value,
                kind=spec.kind,
                ready=fewest,
                target=spec.target,
                saturation=settings.saturation,
            )
            if check is not None:
                # a saturated average shows a load the true one was at least
                shown = metric.value * fewest if saturated and metric.value is not None else load
                check.measured(at=at, load=shown)
            if load is not None:
                self.history(spec.name).add(decision.at, load)
            elif saturated:
                self.history(spec.name).mark_saturated(decision.at)
