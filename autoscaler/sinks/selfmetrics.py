"""The service's own Prometheus metrics: what an operator alerts on and graphs about the autoscaler.

Everything lives in one `SelfMetrics` object with its own CollectorRegistry, so two instances (a
test next to another test, or two services in one process) never share or collide on series, and
nothing of the process-global registry is exposed. Two feeds keep it current:

- `observe_tick(metrics, report)`: called by the loop's owner once per tick with the TickReport
  (instances, decisions, scale actions, tick duration, metric sources, Marathon errors);
- `observe_status(metrics, status)`: called by the status server before it renders a scrape, for
  what ServiceStatus holds rather than a tick (policy load errors, leader role, last successful tick).

The two feeds run on different threads (the loop's, the status server's): both hold `lock`, and
`generation` counts the ticks folded in, so the server renders (outside the lock) once per change.

Per-app series disappear when an app leaves the policy set, so label sets do not grow with uptime.
The two per-app gauges every app has (instances, desired) are not set app by app each tick, which at
10,000 apps was 20,000 calls a tick for a scrape that may never come: `AppCounts` is a collector that
reads them from the last tick's outcomes when the registry is rendered.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from autoscaler.core.decide import Decision
from autoscaler.core.startup import StartupEstimate
from autoscaler.policyfiles import Problem
from autoscaler.reports import AppOutcome, TickReport

__all__ = ["CONTENT_TYPE", "SelfMetrics", "marathon_error_status", "observe_status", "observe_tick"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
_QUERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# How a refused or failed write is reported: the HTTP status Marathon answered where the outcome
# implies one, otherwise the kind of failure (`rejected`: another 4xx; `unavailable`: 5xx, 429 or no
# answer after the retries).
_WRITE_STATUS = {
    "deployment_in_progress": "409",
    "deployment_cap": "403",
    "not_found": "404",
    "rejected": "rejected",
    "unavailable": "unavailable",
}


class AppCounts(Collector):
    """`autoscaler_app_instances` and `autoscaler_app_desired_instances` of every app shown, read
    from the outcomes of the last tick that reached Marathon when the registry is rendered.

    `show` replaces what is shown (the loop's thread); `collect` reads it (the server's thread) from
    the references it finds at its start, none of which is changed afterwards: a tick's outcomes are
    never changed, and the set of apps shown is replaced, or loses an app that is gone either way.
    """

    _INSTANCES = ("autoscaler_app_instances", "Instances Marathon reported for the app at the last tick")
    _DESIRED = ("autoscaler_app_desired_instances", "Instances the last decision asked for")

    def __init__(self) -> None:
        self._outcomes: Mapping[str, AppOutcome] = {}
        self.apps: set[str] = set()  # the apps shown: those with a decision, still managed

    def show(self, outcomes: Mapping[str, AppOutcome], apps: set[str]) -> None:
        self._outcomes, self.apps = outcomes, apps

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(*self._INSTANCES, labels=["app"])
        yield GaugeMetricFamily(*self._DESIRED, labels=["app"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outcomes, apps = self._outcomes, self.apps
        instances = GaugeMetricFamily(*self._INSTANCES, labels=["app"])
        desired = GaugeMetricFamily(*self._DESIRED, labels=["app"])
        for app_id, outcome in outcomes.items():
            decision = outcome.decision
            if decision is not None and app_id in apps:
                instances.add_metric([app_id], float(decision.current))
                desired.add_metric([app_id], float(decision.desired))
        yield instances
        yield desired


class SelfMetrics:
    """Metric definitions of the service, registered in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.lock = threading.Lock()
        self.generation = 0  # ticks folded in
        r = self.registry
        self.app_counts = AppCounts()  # the instances and desired gauges of every app
        r.register(self.app_counts)
        self.scale_actions = Counter(
            "autoscaler_scale_actions",
            "Scale requests Marathon accepted, by app and direction (up, down)",
            ["app", "direction"],
            registry=r,
        )
        self.decisions = Counter(
            "autoscaler_decisions", "Per-app outcomes of every tick, by outcome code", ["code"], registry=r
        )
        self.ticks = Counter("autoscaler_ticks", "Ticks run, by result (ok, failed)", ["result"], registry=r)
        self.tick_errors = Counter(
            "autoscaler_tick_errors",
            "Ticks that failed, by kind (marathon, deadline: out of time, internal: an unexpected exception)",
            ["kind"],
            registry=r,
        )
        self.deadlines = Counter(
            "autoscaler_deadlines_exceeded",
            "Deadlines hit in a tick, by what was slow (a metric source, or the phase a tick was cut short in)",
            ["what"],
            registry=r,
        )
        self.tick_duration = Histogram(
            "autoscaler_tick_duration_seconds", "Wall time of one tick", buckets=_TICK_BUCKETS, registry=r
        )
        self.metric_queries = Counter(
            "autoscaler_metric_queries", "Distinct queries sent, by metric source", ["source"], registry=r
        )
        self.query_duration = Histogram(
            "autoscaler_metric_query_duration_seconds",
            "Wall time of one tick's batch of queries to a metric source",
            ["source"],
            buckets=_QUERY_BUCKETS,
            registry=r,
        )
        self.query_errors = Counter(
            "autoscaler_metric_query_errors",
            "Queries that failed (source down, query error, no answer), by metric source",
            ["source"],
            registry=r,
        )
        self.missing_metrics = Counter(
            "autoscaler_missing_metrics",
            "App metrics that had no usable value in a decision (failed, empty, stale, implausible), by source",
            ["source"],
            registry=r,
        )
        self.marathon_errors = Counter(
            "autoscaler_marathon_errors",
            "Failed Marathon requests, by request (list, scale) and status (HTTP status or rejected/unavailable)",
            ["request", "status"],
            registry=r,
        )
        self.policies = Gauge("autoscaler_policies", "Valid policies loaded", registry=r)
        self.policy_errors = Gauge(
            "autoscaler_policy_load_errors", "Errors found when the policies were last loaded", registry=r
        )
        self.last_success = Gauge(
            "autoscaler_last_successful_tick_timestamp_seconds",
            "Unix time of the last tick that reached Marathon (0: none yet)",
            registry=r,
        )
        self.leader = Gauge(
            "autoscaler_leader", "1 when this instance may write (leader or single), 0 for a follower", registry=r
        )
        # predictive: the forecast of apps with `predictive` (also in forecast_only, where it never acts)
        # and the start-up time learned from Marathon
        self.forecast_instances = Gauge(
            "autoscaler_forecast_instances",
            "Instances the seasonal forecast proposes for the app (mode forecast_only: shown, never acted on)",
            ["app"],
            registry=r,
        )
        self.forecast_load = Gauge(
            "autoscaler_forecast_load",
            "Load the forecast expects over the next start-up time plus one tick, in the units the metric's "
            "target divides (instance units for target_average)",
            ["app", "metric"],
            registry=r,
        )
        self.forecast_acts = Gauge(
            "autoscaler_forecast_acts",
            "1 when the app's forecast may act (mode on, and the previous periods agree), else 0",
            ["app"],
            registry=r,
        )
        self.forecast_won = Gauge(
            "autoscaler_forecast_won",
            "1 when the forecast set the count at the last tick, else 0",
            ["app"],
            registry=r,
        )
        self.startup_seconds = Gauge(
            "autoscaler_startup_seconds",
            "Start-up time learned from Marathon: median of the app's recent scale-ups",
            ["app"],
            registry=r,
        )
        self.paused = Gauge(
            "autoscaler_paused",
            "1 while the app is paused (an operator's pause or its labels): decided, never written",
            ["app"],
            registry=r,
        )
        self.pause_until = Gauge(
            "autoscaler_pause_until_timestamp_seconds",
            "When the pause in force ends by itself (Unix time), for paused apps",
            ["app"],
            registry=r,
        )
        self.paused_labels: set[str] = set()
        self.forecast_labels: dict[str, str | None] = {}  # app -> metric of its forecast series (None: no forecast)
        self.startup_labels: set[str] = set()

    @property
    def app_labels(self) -> set[str]:
        """The apps that have per-app gauges."""
        return self.app_counts.apps

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def forget_app(self, app_id: str) -> None:
        """Drop the per-app gauges of an app that is no longer known (counters keep their history)."""
        self.app_counts.apps.discard(app_id)
        self.forget_forecast(app_id)
        self.forget_pause(app_id)

    def observe_pause(self, app_id: str, decision: Decision) -> None:
        """The app's pause series: present while its decision is paused, gone once it is not."""
        pause = decision.pause
        if pause is not None:
            self.paused.labels(app=app_id).set(1)
            self.pause_until.labels(app=app_id).set(pause.until.timestamp())
            self.paused_labels.add(app_id)
        elif app_id in self.paused_labels:
            self.forget_pause(app_id)

    def forget_pause(self, app_id: str) -> None:
        if app_id in self.paused_labels:
            self.paused_labels.discard(app_id)
            self.paused.remove(app_id)
            self.pause_until.remove(app_id)

    def forget_forecast(self, app_id: str) -> None:
        """Drop the app's forecast series (app gone, prediction turned off, or no forecast yet)."""
        if app_id not in self.forecast_labels:
            return
        metric = self.forecast_labels.pop(app_id)
        self.forecast_acts.remove(app_id)
        self.forecast_won.remove(app_id)
        if metric is not None:
            self.forecast_instances.remove(app_id)
            self.forecast_load.remove(app_id, metric)

    def observe_forecast(self, app_id: str, decision: Decision) -> None:
        """The forecast of one decision (call it for decisions of apps with `predictive`)."""
        forecast = decision.forecast
        metric = forecast.metric if forecast is not None else None
        if app_id in self.forecast_labels and self.forecast_labels[app_id] != metric:
            self.forget_forecast(app_id)  # another metric's forecast, or none any more
        self.forecast_labels[app_id] = metric
        agreed = forecast is None or forecast.agreed
        self.forecast_acts.labels(app=app_id).set(1 if decision.forecast_mode == "on" and agreed else 0)
        self.forecast_won.labels(app=app_id).set(1 if decision.proposed_by == "forecast" else 0)
        if forecast is not None:
            self.forecast_instances.labels(app=app_id).set(forecast.proposal)
            self.forecast_load.labels(app=app_id, metric=forecast.metric).set(forecast.load)


def marathon_error_status(outcome: str) -> str:
    """The `status` label of a failed write, from the ScaleResult outcome."""
    return _WRITE_STATUS.get(outcome, "unavailable")


def _mapping_field(report: TickReport, name: str) -> Mapping[str, Any]:
    # Per-source timings and error counts are optional fields of the report: read them when present.
    value = getattr(report, name, None)
    return value if isinstance(value, Mapping) else {}


def observe_tick(metrics: SelfMetrics, report: TickReport) -> None:
    """Fold one tick's report into the metrics. Call it exactly once per tick."""
    with metrics.lock:
        _observe_tick(metrics, report)
        metrics.generation += 1


def _observe_tick(metrics: SelfMetrics, report: TickReport) -> None:  # noqa: PLR0912  one branch per part of the tick report that is counted
    metrics.tick_duration.observe(report.duration_seconds)
    for source, seconds in _mapping_field(report, "query_seconds").items():
        metrics.query_duration.labels(source=source).observe(float(seconds))
    for source, count in _mapping_field(report, "query_errors").items():
        metrics.query_errors.labels(source=source).inc(int(count))
    for source, count in report.queries.items():
        metrics.metric_queries.labels(source=source).inc(count)

    for what in getattr(report, "slow", ()):
        metrics.deadlines.labels(what=what).inc()
    if not report.reached_marathon:
        kind = getattr(report, "error_kind", None) or "marathon"
        metrics.ticks.labels(result="failed").inc()
        metrics.tick_errors.labels(kind=kind).inc()
        if kind == "marathon":
            metrics.marathon_errors.labels(request="list", status="401" if report.auth_error else "unavailable").inc()
        return  # the last known counts stay; the last-success timestamp shows how old they are
    metrics.ticks.labels(result="ok").inc()
    metrics.last_success.set(report.at.timestamp())

    outcomes = report.outcomes
    codes = Tally(outcome.code for outcome in outcomes.values())
    seen: set[str] = set()
    missing: Tally[str] = Tally()
    paused, forecasts = metrics.paused_labels, metrics.forecast_labels
    for app_id, outcome in outcomes.items():
        decision = outcome.decision
        if decision is None:
            continue  # not in Marathon or unusable there: no count to show
        seen.add(app_id)
        if decision.pause is not None or app_id in paused:
            metrics.observe_pause(app_id, decision)
        if decision.forecast_mode is not None:
            metrics.observe_forecast(app_id, decision)
        elif app_id in forecasts:
            metrics.forget_forecast(app_id)  # prediction turned off by a reload
        for evaluation in decision.metrics:
            if evaluation.proposal is None:  # missing
                missing[evaluation.source] += 1
        write = outcome.write
        if write is None:
            continue
        if write.ok:
            metrics.scale_actions.labels(app=app_id, direction=decision.action).inc()
        else:
            metrics.marathon_errors.labels(request="scale", status=marathon_error_status(write.outcome)).inc()
    for code, count in codes.items():
        metrics.decisions.labels(code=code).inc(count)
    for source, count in missing.items():
        metrics.missing_metrics.labels(source=source).inc(count)
    for app_id in metrics.app_labels - seen:
        metrics.forget_app(app_id)
    metrics.app_counts.show(outcomes, seen)


class StatusFacts(Protocol):
    """What observe_status reads: a ServiceStatus or one of its snapshots."""

    @property
    def policies(self) -> Mapping[str, object]: ...
    @property
    def policy_problems(self) -> Sequence[Problem]: ...
    @property
    def role(self) -> str: ...
    @property
    def last_success_at(self) -> datetime | None: ...
    @property
    def startup(self) -> Mapping[str, StartupEstimate]: ...


def observe_status(metrics: SelfMetrics, status: StatusFacts) -> None:
    """Copy what the service status holds (not per tick) into the gauges; the server calls this per scrape."""
    with metrics.lock:
        metrics.policies.set(len(status.policies))
        metrics.policy_errors.set(sum(1 for problem in status.policy_problems if problem.severity == "error"))
        metrics.leader.set(0 if status.role == "follower" else 1)
        if status.last_success_at is not None:
            metrics.last_success.set(status.last_success_at.timestamp())
        for app_id in metrics.app_labels - set(status.policies):
            metrics.forget_app(app_id)
        for app_id, estimate in status.startup.items():
            metrics.startup_seconds.labels(app=app_id).set(estimate.seconds)
        for app_id in metrics.startup_labels - set(status.startup):
            metrics.startup_seconds.remove(app_id)
        metrics.startup_labels = set(status.startup)
