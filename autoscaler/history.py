"""Metric history from the metric sources themselves: range queries to Prometheus and Graphite.

Two users, one fetch: `autoscaler backtest` replays a period (`fetch_history`), and the predictive
forecast fills each app's load history when the service starts and when its policy is reloaded
(`load_history`); after that the loop keeps it up to date from each tick's own observations.

Loading never fails the service: a source that is not configured, does not answer, or has no (or too
little) history leaves that metric's history empty or short, which the forecast reads as "no forecast
yet". What happened is returned per metric, to log and to show.

Which series is the load:
- a `target_per_instance` metric's own query is the load (a total for the app);
- a `target_average` metric's query is an average over whatever fleet ran then, which says nothing
  about load without the instance count of that time. Its history is loaded only when the policy's
  `predictive.load_queries` gives a query for the load itself, in instance units (for example
  `sum(rate(cpu[1m])) / 0.5` where the metric is `avg(rate(cpu[1m])) / 0.5`); otherwise it is learnt
  from the ticks alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from autoscaler.core.forecast import DEFAULT_BUCKET, DEFAULT_LOOKBACK, LoadHistory
from autoscaler.core.policy import MetricSpec, Policy, substitute
from autoscaler.core.predict import Forecaster
from autoscaler.errors import MetricSourceError
from autoscaler.logs import short_id

Points = list[tuple[datetime, float | None]]

# Prometheus answers at most 11,000 points per series; longer ranges are asked in pieces.
MAX_POINTS_PER_REQUEST = 10_000
# The step of range queries for the forecast history: finer than a bucket, so that a bucket's highest
# load is seen (a step of one bucket would sample one instant of it).
HISTORY_STEP = timedelta(minutes=1)


class RangeSource(Protocol):
    async def range_query(self, query: str, **kwargs: Any) -> list[tuple[datetime, float | None]]: ...


async def fetch_series(
    spec: MetricSpec,
    app_id: str,
    source: RangeSource,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    query: str | None = None,
) -> Points:
    """The points of one metric of one app over [start, end] (`query` instead of the metric's own),
    its `series` selector applied; Prometheus ranges longer than MAX_POINTS_PER_REQUEST steps are
    asked in pieces. Raises MetricSourceError as the provider does."""
    text = substitute(query if query is not None else spec.query, app_id)
    window: dict[str, Any] = {}
    if spec.source == "prometheus":
        window["step"] = step
        if isinstance(spec.series, dict):
            window["select"] = {k: substitute(v, app_id) for k, v in spec.series.items()}
    elif isinstance(spec.series, str):
        window["select"] = substitute(spec.series, app_id)
    if spec.source != "prometheus" or step <= timedelta(0):
        return await source.range_query(text, start=start, end=end, **window)
    points: Points = []
    piece = step * MAX_POINTS_PER_REQUEST
    begin = start
    while True:
        until = min(end, begin + piece)
        part = await source.range_query(text, start=begin, end=until, **window)
        points.extend(p for p in part if not points or p[0] > points[-1][0])
        if until >= end:
            break
        begin = until + step
    return points


async def fetch_history(
    policy: Policy,
    sources: Mapping[str, RangeSource],
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> dict[str, list[tuple[datetime, float | None]]]:
    """Each metric's points over [start - max age, end], by metric name; [] when the source has none."""
    history: dict[str, list[tuple[datetime, float | None]]] = {}
    for spec in policy.metrics:
        source = sources.get(spec.source)
        if source is None:
            raise MetricSourceError(f"metric {spec.name}: no {spec.source} source is configured")
        max_age = spec.max_age if spec.max_age is not None else policy.max_metric_age
        history[spec.name] = await fetch_series(spec, policy.app, source, start=start - max_age, end=end, step=step)
    return history


@dataclass(frozen=True)
class LoadedHistory:
    """The load history of one metric of one app as loaded, and how it went.

    `status`: loaded | empty (the source has no points) | skipped (nothing says what the load was) |
    failed (the source did not answer; `detail` says why).
    """

    metric: str
    status: str
    points: int = 0
    detail: str = ""


async def load_history(
    policy: Policy,
    sources: Mapping[str, RangeSource],
    *,
    now: datetime,
    lookback: timedelta = DEFAULT_LOOKBACK,
    bucket: timedelta = DEFAULT_BUCKET,
    load_queries: Mapping[str, str] | None = None,
    histories: Mapping[str, LoadHistory] | None = None,
    step: timedelta = HISTORY_STEP,
) -> tuple[dict[str, LoadHistory], tuple[LoadedHistory, ...]]:
    """Each metric's load over [now - lookback, now] into a LoadHistory (the ones given, or new ones),
    by metric name, and a report per metric. Never raises for a source's failure."""
    out: dict[str, LoadHistory] = {}
    report: list[LoadedHistory] = []
    queries = load_queries or {}
    for spec in policy.metrics:
        history = (histories or {}).get(spec.name)
        if history is None:  # (an empty history is falsy: it has a length)
            history = LoadHistory(lookback=lookback, bucket=bucket)
        out[spec.name] = history
        query = queries.get(spec.name)
        if query is None and spec.kind == "average":
            report.append(
                LoadedHistory(
                    spec.name,
                    "skipped",
                    detail="an average says nothing about load without the instance count of its time; "
                    "give predictive.load_queries to load it, else it is learnt from the ticks",
                )
            )
            continue
        source = sources.get(spec.source)
        if source is None:
            report.append(LoadedHistory(spec.name, "failed", detail=f"no {spec.source} source is configured"))
            continue
        try:
            points = await fetch_series(spec, policy.app, source, start=now - lookback, end=now, step=step, query=query)
        except MetricSourceError as exc:
            report.append(LoadedHistory(spec.name, "failed", detail=str(exc)))
            continue
        usable = [(at, value) for at, value in points if value is not None and math.isfinite(value) and value >= 0]
        history.load(usable)
        report.append(LoadedHistory(spec.name, "loaded" if usable else "empty", points=len(usable)))
    return out, tuple(report)


async def load_into(
    forecaster: Forecaster, policy: Policy, sources: Mapping[str, RangeSource], *, now: datetime
) -> tuple[LoadedHistory, ...]:
    """Load each metric's history of a predictive policy into its forecaster, as the service does at
    start and on reload. Never raises: a source without history, or failing, means no forecast yet."""
    settings = policy.predictive
    if settings is None:
        return ()
    try:
        _, report = await load_history(
            policy,
            sources,
            now=now,
            lookback=settings.lookback,
            bucket=settings.bucket,
            load_queries=settings.load_queries,
            histories={spec.name: forecaster.history(spec.name) for spec in policy.metrics},
        )
    except Exception as exc:  # a source's surprise is reported, never raised
        report = (LoadedHistory("*", "failed", detail=f"{type(exc).__name__}: {exc}"),)
    return report


def log_loaded(log: logging.Logger, app: str, report: tuple[LoadedHistory, ...]) -> None:
    """One line per metric whose history was loaded (a warning when it failed), as the service logs it."""
    for item in report:
        log.log(
            logging.WARNING if item.status == "failed" else logging.INFO,
            "%s: history of %s %s (%d points)%s",
            short_id(app),
            item.metric,
            item.status,
            item.points,
            f": {item.detail}" if item.detail else "",
            extra={"fields": {"event": "history", "app": app, "metric": item.metric, "status": item.status}},
        )
