"""The metric providers against a real Prometheus and a real Graphite.

Both servers are started once for the whole module and at its very start, so Prometheus' first
scrape (about 6 s after start) happens while the Graphite tests run.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.http import RetryPolicy
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from tests import servers

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(attempts=2, initial_backoff=0.05, max_backoff=0.1, request_timeout=5)

# Prometheus history: one point a minute for an hour, ending two hours ago.
HISTORY_START = (int(time.time()) - 3 * 3600) // 60 * 60
HISTORY_POINTS = 60


def history_value(minute: int) -> float:
    return minute * 0.5


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture(scope="module")
def prometheus_backfill() -> str:
    lines = ["# TYPE hist_load gauge"]
    lines += [
        f'hist_load{{app="/shop/api"}} {history_value(i)} {HISTORY_START + 60 * i}' for i in range(HISTORY_POINTS)
    ]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module", autouse=True)
def both_servers_started_first(
    prometheus_server: servers.RunningServer, graphite_server: servers.RunningGraphite
) -> None:
    """Start Prometheus before anything else, so its first scrape overlaps other work."""


@pytest.fixture
async def prometheus(prometheus_server: servers.RunningServer) -> AsyncIterator[PrometheusProvider]:
    provider = PrometheusProvider(url=prometheus_server.url, policy=POLICY)
    yield provider
    await provider.aclose()


@pytest.fixture
async def graphite(graphite_server: servers.RunningGraphite) -> AsyncIterator[GraphiteProvider]:
    provider = GraphiteProvider(url=graphite_server.url, policy=POLICY)
    yield provider
    await provider.aclose()


# ------------------------------------------------------------------------------------ Graphite


def non_null(series: list[dict[str, object]]) -> list[list[object]]:
    points: list[list[object]] = []
    for one in series:
        datapoints = one["datapoints"]
        assert isinstance(datapoints, list)
        points += [p for p in datapoints if p[0] is not None]
    return points


async def test_graphite_newest_points_wildcards_and_unknown_targets(
    graphite_server: servers.RunningGraphite, graphite: GraphiteProvider
) -> None:
    now = int(time.time())
    sent = {"apps.shop.api.cpu": 0.5, "apps.shop.web.cpu": 0.25, "apps.billing.worker.cpu": 0.75}
    graphite_server.send_points((path, value, now) for path, value in sent.items())
    graphite_server.wait_for("apps.*.*.cpu", accept=lambda body: len(non_null(body)) == len(sent))

    queries = [
        "apps.shop.api.cpu",
        "aliasByNode(apps.*.*.cpu, 2)",
        "sumSeries(apps.shop.*.cpu)",
        "apps.nosuch.metric",
        "apps.shop.api.cpu",
    ]
    results = await graphite.query(queries, now=datetime.now(UTC))

    assert list(results) == queries[:4]
    assert all(result.error is None for result in results.values())
    (single,) = results["apps.shop.api.cpu"].samples
    assert dict(single.labels) == {"name": "apps.shop.api.cpu"}
    assert single.value == 0.5
    assert single.timestamp == at(now // 10 * 10)
    per_app = {s.labels["name"]: s.value for s in results["aliasByNode(apps.*.*.cpu, 2)"].samples}
    assert per_app == {"api": 0.5, "web": 0.25, "worker": 0.75}
    assert [s.value for s in results["sumSeries(apps.shop.*.cpu)"].samples] == [0.75]
    assert results["apps.nosuch.metric"].samples == ()


async def test_graphite_range_query_over_past_points(
    graphite_server: servers.RunningGraphite, graphite: GraphiteProvider
) -> None:
    base = (int(time.time()) - 2 * 3600) // 60 * 60
    expected = [(at(base + 60 * i), float(i + 1)) for i in range(10)]
    graphite_server.send_points(("history.load", value, ts.timestamp()) for ts, value in expected)
    start, end = at(base - 60), at(base + 600)
    window = {"from": str(int(start.timestamp())), "until": str(int(end.timestamp()))}
    graphite_server.wait_for("history.load", accept=lambda body: len(non_null(body)) == len(expected), params=window)

    points = await graphite.range_query("history.load", start=start, end=end)

    assert [(ts, value) for ts, value in points if value is not None] == expected
    assert all(b[0] - a[0] == timedelta(seconds=10) for a, b in itertools.pairwise(points))


# ---------------------------------------------------------------------------------- Prometheus


async def test_prometheus_instant_queries(
    prometheus_server: servers.RunningServer, prometheus: PrometheusProvider
) -> None:
    servers.wait_for_targets_up(prometheus_server, 1)
    queries = [
        'queue_depth{queue="orders"}',
        'scalar(queue_depth{queue="orders"})',
        "sum by (app) (app_cpu_usage)",
        "no_such_metric",
        "sum(",
        "app_cpu_usage[1m]",
    ]
    now = datetime.now(UTC)
    results = await prometheus.query(queries, now=now)

    (vector,) = results['queue_depth{queue="orders"}'].samples
    assert vector.value == 123.0
    assert vector.labels["queue"] == "orders"
    assert vector.labels["job"] == "app"
    assert abs((vector.timestamp - now).total_seconds()) < 1
    (scalar,) = results['scalar(queue_depth{queue="orders"})'].samples
    assert (dict(scalar.labels), scalar.value) == ({}, 123.0)
    grouped = results["sum by (app) (app_cpu_usage)"]
    assert {s.labels["app"]: s.value for s in grouped.samples} == {
        "/shop/api": 0.8,
        "/shop/web": 0.3,
    }
    assert (results["no_such_metric"].samples, results["no_such_metric"].error) == ((), None)
    bad = results["sum("].error
    assert bad is not None
    assert bad.startswith("prometheus query 'sum(': HTTP 400 bad_data: ")
    assert "parse error" in bad
    assert "range vector" in (results["app_cpu_usage[1m]"].error or "")


async def test_prometheus_follows_the_exporter(
    prometheus_server: servers.RunningServer,
    exporter: servers.MetricsExporter,
    prometheus: PrometheusProvider,
) -> None:
    servers.wait_for_targets_up(prometheus_server, 1)
    exporter.text = exporter.text.replace('queue_depth{queue="orders"} 123', "queue_depth 7")
    query = "max(queue_depth)"
    deadline = time.monotonic() + 10
    while True:
        result = (await prometheus.query([query], now=datetime.now(UTC)))[query]
        if [s.value for s in result.samples] == [7.0]:
            break
        assert time.monotonic() < deadline, result
        await asyncio.sleep(0.2)


async def test_prometheus_range_query_over_backfilled_history(
    prometheus: PrometheusProvider,
) -> None:
    start = at(HISTORY_START)
    end = at(HISTORY_START + 60 * (HISTORY_POINTS - 1))

    points = await prometheus.range_query('hist_load{app="/shop/api"}', start=start, end=end, step=timedelta(minutes=5))

    assert points == [(at(HISTORY_START + 300 * k), history_value(5 * k)) for k in range(HISTORY_POINTS // 5)]
