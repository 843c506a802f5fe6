"""The forecast's load history loaded with range queries from real Prometheus and Graphite servers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from autoscaler.core.forecast import LoadHistory
from autoscaler.core.policy import MetricSpec, Policy
from autoscaler.history import RangeSource, load_history
from autoscaler.http import RetryPolicy
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from tests import servers

pytestmark = pytest.mark.integration

RETRY = RetryPolicy(attempts=2, initial_backoff=0.05, max_backoff=0.1, request_timeout=10)
NOW = int(time.time()) // 60 * 60
DAY = 86400
DAYS = 3
HORIZON = timedelta(minutes=10)


def daily(epoch: int) -> float:
    """50 from 30 s to 30 min after NOW's time of day (on previous days), 10 otherwise."""
    offset = (epoch - NOW) % DAY
    return 50.0 if 30 <= offset < 1800 else 10.0


def minutes() -> range:
    return range(NOW - DAYS * DAY - 3 * 3600, NOW - 3600, 60)  # up to an hour ago, one point a minute


@pytest.fixture(scope="module")
def prometheus_backfill() -> str:
    lines = ["# TYPE hist_queue gauge"]
    lines += [f'hist_queue{{marathon_app="/jobs/alpha"}} {daily(t)} {t}' for t in minutes()]
    lines += [f'hist_queue{{marathon_app="/jobs/beta"}} 999 {t}' for t in minutes()]
    return "\n".join(lines) + "\n"


def policy(source: str, query: str, series: Any) -> Policy:
    return Policy(
        app="/jobs/alpha",
        min_instances=1,
        max_instances=100,
        metrics=(MetricSpec(name="depth", source=source, query=query, series=series, target_per_instance=1.0),),
    )


def check_forecast(history: LoadHistory) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    coming = history.forecast(metric="depth", target=1.0, now=now, horizon=HORIZON, margin=0.0)
    quiet = history.forecast(metric="depth", target=1.0, now=now + timedelta(hours=2), horizon=HORIZON, margin=0.0)
    assert coming is not None and quiet is not None
    assert coming.samples == (50.0,) * DAYS and coming.proposal == 50
    assert quiet.samples == (10.0,) * DAYS and quiet.proposal == 10


def test_history_from_backfilled_prometheus(prometheus_server: servers.RunningServer) -> None:
    provider = PrometheusProvider(url=prometheus_server.url, policy=RETRY)
    spec = policy("prometheus", "max by (marathon_app) (hist_queue)", {"marathon_app": "${app}"})
    now = datetime.fromtimestamp(NOW, UTC)
    histories, report = asyncio.run(
        load_history(spec, {"prometheus": cast(RangeSource, provider)}, now=now, lookback=timedelta(days=DAYS))
    )
    assert [(r.metric, r.status) for r in report] == [("depth", "loaded")]
    assert report[0].points >= DAYS * 1380  # one a minute, none of beta's 999
    check_forecast(histories["depth"])


def test_prometheus_without_the_series_is_no_forecast_not_an_error(prometheus_server: servers.RunningServer) -> None:
    provider = PrometheusProvider(url=prometheus_server.url, policy=RETRY)
    spec = policy("prometheus", "hist_nothing_here", None)
    histories, report = asyncio.run(
        load_history(spec, {"prometheus": cast(RangeSource, provider)}, now=datetime.now(UTC))
    )
    assert report[0].status == "empty"
    assert histories["depth"].forecast(metric="depth", target=1.0, now=datetime.now(UTC), horizon=HORIZON) is None
    broken = policy("prometheus", "sum(", None)
    _, report = asyncio.run(load_history(broken, {"prometheus": cast(RangeSource, provider)}, now=datetime.now(UTC)))
    assert report[0].status == "failed" and "sum(" in report[0].detail


def test_history_from_past_graphite_points(graphite_server: servers.RunningGraphite) -> None:
    graphite_server.send_points(("hist.queue.alpha.depth", daily(t), t) for t in minutes())
    graphite_server.send_points(("hist.queue.beta.depth", 999.0, t) for t in minutes())
    query = "aliasByNode(hist.queue.*.depth, 2)"
    graphite_server.wait_for(
        query,
        accept=lambda body: len(body) == 2 and sum(p[0] is not None for p in body[0]["datapoints"]) >= DAYS * 1380,
        params={"from": str(NOW - DAYS * DAY - 3 * 3600 - 60), "until": str(NOW)},
    )
    provider = GraphiteProvider(url=graphite_server.url, policy=RETRY)
    spec = policy("graphite", query, "${app_name}")
    now = datetime.fromtimestamp(NOW, UTC)
    histories, report = asyncio.run(
        load_history(spec, {"graphite": cast(RangeSource, provider)}, now=now, lookback=timedelta(days=DAYS))
    )
    assert report[0].status == "loaded"
    check_forecast(histories["depth"])
