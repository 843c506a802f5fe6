"""The built-in metrics endpoint answers the project's real Prometheus provider like Prometheus does."""

from __future__ import annotations

from datetime import UTC, datetime

from autoscaler.demo.metrics_server import MetricsServer
from autoscaler.http import RetryPolicy
from autoscaler.providers.prometheus import PrometheusProvider

QUERY = "avg by (app) (cpu)"


async def test_grouped_vector_at_the_requested_time_and_empty_for_unknown_queries() -> None:
    asked: list[tuple[str, float]] = []

    def series_for(query: str, at: float) -> list[tuple[dict[str, str], float]]:
        asked.append((query, at))
        return [({"app": "/a"}, 0.25), ({"app": "/b"}, 0.75)] if query == QUERY else []

    server = MetricsServer(series_for)
    url = await server.start()
    provider = PrometheusProvider(url=url, policy=RetryPolicy(attempts=1, request_timeout=2))
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    try:
        results = await provider.query([QUERY, "unknown_metric", QUERY], now=now)
    finally:
        await provider.aclose()
        await server.stop()

    grouped = results[QUERY]
    assert grouped.error is None
    assert {s.labels["app"]: s.value for s in grouped.samples} == {"/a": 0.25, "/b": 0.75}
    assert all(s.timestamp == now for s in grouped.samples)
    assert results["unknown_metric"].samples == () and results["unknown_metric"].error is None
    assert server.requests == 2  # the duplicate query was sent once
    assert (QUERY, now.timestamp()) in asked
