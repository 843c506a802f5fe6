"""The one fake Prometheus answers the project's real Prometheus provider like Prometheus does."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from autoscaler.http import RetryPolicy
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.testing.prometheus import FakePrometheus

QUERY = "avg by (app) (cpu)"


async def test_grouped_vector_at_the_requested_time_and_empty_for_unknown_queries() -> None:
    asked: list[tuple[str, float]] = []

    def series_for(query: str, at: float) -> list[tuple[dict[str, str], float]]:
        asked.append((query, at))
        return [({"app": "/a"}, 0.25), ({"app": "/b"}, 0.75)] if query == QUERY else []

    server = FakePrometheus(series_for)
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


async def test_what_the_test_set_takes_precedence_and_bad_requests_answer_like_prometheus() -> None:
    async with FakePrometheus(lambda query, at: [({"app": "/computed"}, 1.0)], clock=lambda: 50.0) as fake:
        fake.raw["garbage"] = (200, "application/json", b"{not json")
        fake.data["set"] = {"resultType": "scalar", "result": [1, "2"]}
        fake.set_vector("vector", [({"app": "/a"}, "0.5", None), ({"app": "/b"}, "oops", 7.0)])
        async with httpx.AsyncClient(base_url=fake.url) as http:
            garbage = await http.get("/api/v1/query", params={"query": "garbage"})
            scalar = await http.post("/api/v1/query", data={"query": "set", "time": "9"})
            vector = await http.get("/api/v1/query", params={"query": "vector", "time": "12.5"})
            computed = await http.get("/api/v1/query", params={"query": "anything"})
            no_query = await http.get("/api/v1/query")
            bad_time = await http.get("/api/v1/query", params={"query": "vector", "time": "noon"})
            unknown = await http.get("/api/v1/series")

    assert garbage.content == b"{not json"
    assert scalar.json()["data"] == {"resultType": "scalar", "result": [1, "2"]}
    assert [s["value"] for s in vector.json()["data"]["result"]] == [[12.5, "0.5"], [7.0, "oops"]]
    assert computed.json()["data"]["result"] == [{"metric": {"app": "/computed"}, "value": [50.0, "1.0"]}]
    assert (no_query.status_code, no_query.json()["errorType"]) == (400, "bad_data")
    assert (bad_time.status_code, bad_time.json()["errorType"]) == (400, "bad_data")
    assert (unknown.status_code, unknown.text) == (404, "404 page not found\n")
    assert fake.asked == ["garbage", "set", "vector", "anything"]
