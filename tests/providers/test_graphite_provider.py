"""GraphiteProvider against recorded render-API answers (tests/fixtures/graphite), via respx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx

from autoscaler.errors import MetricSourceError
from autoscaler.http import RetryPolicy
from autoscaler.providers import build_provider
from autoscaler.providers.graphite import GraphiteProvider

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "graphite"
URL = "http://graphite.test"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5, request_timeout=2)


def fixture(name: str, status: int = 200) -> httpx.Response:
    path = FIXTURES / name
    kind = "text/html; charset=utf-8" if path.suffix == ".html" else "application/json"
    return httpx.Response(status, content=path.read_bytes(), headers={"Content-Type": kind})


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def provider() -> AsyncIterator[GraphiteProvider]:
    graphite = GraphiteProvider(url=URL, policy=FAST)
    yield graphite
    await graphite.aclose()


def route(mock: respx.MockRouter, target: str) -> respx.Route:
    return mock.get("/render", params={"target": target})


async def test_single_series_gives_its_newest_point(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    render = route(mock, "apps.shop.api.cpu").mock(return_value=fixture("single.json"))
    result = (await provider.query(["apps.shop.api.cpu"], now=NOW))["apps.shop.api.cpu"]
    assert result.error is None
    (sample,) = result.samples
    assert dict(sample.labels) == {"name": "apps.shop.api.cpu"}
    assert sample.value == 0.5
    assert sample.timestamp == at(1795732510)
    params = render.calls.last.request.url.params
    assert dict(params) == {
        "target": "apps.shop.api.cpu",
        "format": "json",
        "from": "-300s",
        "until": "now",
    }


async def test_window_is_configurable(mock: respx.MockRouter) -> None:
    render = route(mock, "x").mock(return_value=fixture("empty.json"))
    graphite = GraphiteProvider(url=URL, policy=FAST, window=timedelta(minutes=10))
    try:
        await graphite.query(["x"], now=NOW)
    finally:
        await graphite.aclose()
    assert render.calls.last.request.url.params["from"] == "-600s"


async def test_wildcard_gives_one_sample_per_series(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    query = "aliasByNode(apps.shop.*.cpu, 2)"
    route(mock, query).mock(return_value=fixture("wildcard.json"))
    result = (await provider.query([query], now=NOW))[query]
    assert result.error is None
    assert {s.labels["name"]: s.value for s in result.samples} == {"api": 0.5, "web": 0.25}


async def test_no_series_is_no_samples_and_no_error(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    route(mock, "nosuch.metric").mock(return_value=fixture("empty.json"))
    result = (await provider.query(["nosuch.metric"], now=NOW))["nosuch.metric"]
    assert (result.samples, result.error) == ((), None)


async def test_all_null_series_is_a_missing_value_at_the_last_bucket(
    mock: respx.MockRouter, provider: GraphiteProvider
) -> None:
    route(mock, "apps.shop.idle.cpu").mock(return_value=fixture("all_null.json"))
    result = (await provider.query(["apps.shop.idle.cpu"], now=NOW))["apps.shop.idle.cpu"]
    assert result.error is None
    (sample,) = result.samples
    assert sample.value is None
    assert sample.timestamp == at(1795732480)


async def test_trailing_nulls_are_skipped(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    query = "sumSeries(apps.shop.*.requests)"
    route(mock, query).mock(return_value=fixture("nulls_at_end.json"))
    (sample,) = (await provider.query([query], now=NOW))[query].samples
    assert (sample.value, sample.timestamp) == (17.0, at(1795732480))


async def test_garbage_values_are_missing_or_dropped_with_reasons(
    mock: respx.MockRouter, provider: GraphiteProvider
) -> None:
    route(mock, "apps.*").mock(return_value=fixture("garbage.json"))
    result = (await provider.query(["apps.*"], now=NOW))["apps.*"]
    assert {s.labels["name"]: s.value for s in result.samples} == {
        "apps.text": None,
        "apps.bool": None,
        "apps.ok": 3.0,
    }
    error = result.error
    assert error is not None
    assert error.startswith("graphite query 'apps.*': ")
    assert "series 'apps.text': value 'abc' is not a number" in error
    assert "series 'apps.bool': value True is not a number" in error
    assert "series without a string 'target'" in error
    assert "series 'apps.flat': 'datapoints' is not a list of [value, time]" in error
    assert "series 'apps.badtime': timestamp 'yesterday' is not a number" in error
    assert "series is not an object: 'apps.not_an_object'" in error
    assert "\n" not in error


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            httpx.Response(200, text="<html><body>Sign in</body></html>"),
            "answer is not JSON: 'Sign in'",
        ),
        (httpx.Response(200, text="garbage"), "answer is not JSON: 'garbage'"),
        (fixture("wrong_type.json"), "answer is a JSON dict, not a list of series"),
        (httpx.Response(400, text="Bad target"), "HTTP 400: Bad target"),
    ],
)
async def test_unusable_answers_are_errors_not_retried(
    mock: respx.MockRouter, provider: GraphiteProvider, reply: httpx.Response, expected: str
) -> None:
    render = route(mock, "q").mock(return_value=reply)
    result = (await provider.query(["q"], now=NOW))["q"]
    assert result.samples == ()
    assert result.error == f"graphite query 'q': {expected}"
    assert render.call_count == 1


async def test_html_error_page_is_retried_then_reported_in_one_line(
    mock: respx.MockRouter, provider: GraphiteProvider
) -> None:
    render = route(mock, "q").mock(return_value=fixture("server_error.html", status=500))
    result = (await provider.query(["q"], now=NOW))["q"]
    assert result.error == ("graphite query 'q': HTTP 500: Server Error (500) Server Error (500)")
    assert render.call_count == FAST.attempts


async def test_503_then_success_is_retried(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    render = route(mock, "apps.shop.api.cpu").mock(side_effect=[httpx.Response(503), fixture("single.json")])
    result = (await provider.query(["apps.shop.api.cpu"], now=NOW))["apps.shop.api.cpu"]
    assert result.error is None
    assert [s.value for s in result.samples] == [0.5]
    assert render.call_count == 2


async def test_connection_errors_are_retried_then_reported(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    render = route(mock, "q").mock(side_effect=httpx.ConnectError("Connection refused"))
    result = (await provider.query(["q"], now=NOW))["q"]
    assert result.error == (
        f"graphite query 'q': cannot connect: ConnectError: Connection refused (after {FAST.attempts} attempt(s))"
    )
    assert render.call_count == FAST.attempts


async def test_identical_queries_are_sent_once(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    a = route(mock, "a").mock(return_value=fixture("single.json"))
    b = route(mock, "b").mock(return_value=fixture("empty.json"))
    results = await provider.query(["a", "b", "a"], now=NOW)
    assert list(results) == ["a", "b"]
    assert (a.call_count, b.call_count) == (1, 1)


async def test_credentials_are_sent(mock: respx.MockRouter) -> None:
    render = route(mock, "q").mock(return_value=fixture("empty.json"))
    basic = GraphiteProvider(url=URL, policy=FAST, basic_auth=("ops", "s3cret"))
    bearer = GraphiteProvider(url=URL, policy=FAST, bearer_token="t0ken")
    try:
        await basic.query(["q"], now=NOW)
        await bearer.query(["q"], now=NOW)
    finally:
        await basic.aclose()
        await bearer.aclose()
    assert [c.request.headers["Authorization"] for c in render.calls] == [
        "Basic b3BzOnMzY3JldA==",
        "Bearer t0ken",
    ]


async def test_range_query_returns_every_bucket(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    render = route(mock, "apps.history.load").mock(return_value=fixture("range.json"))
    start = at(1795725240)
    points = await provider.range_query("apps.history.load", start=start, end=start + timedelta(minutes=4))
    assert points == [
        (at(1795725300), 1.0),
        (at(1795725360), None),
        (at(1795725420), 3.0),
        (at(1795725480), 4.5),
    ]
    params = render.calls.last.request.url.params
    assert (params["from"], params["until"]) == ("1795725240", "1795725480")


async def test_range_query_edge_cases(mock: respx.MockRouter, provider: GraphiteProvider) -> None:
    route(mock, "none").mock(return_value=fixture("empty.json"))
    route(mock, "two").mock(return_value=fixture("range_two.json"))
    route(mock, "broken").mock(return_value=httpx.Response(200, text="<html>"))
    window = {"start": NOW - timedelta(hours=1), "end": NOW}
    assert await provider.range_query("none", **window) == []
    with pytest.raises(MetricSourceError, match="matched 2 series"):
        await provider.range_query("two", **window)
    with pytest.raises(MetricSourceError, match="not JSON"):
        await provider.range_query("broken", **window)


async def test_build_provider_by_name() -> None:
    graphite = build_provider("graphite", url=URL, window=timedelta(minutes=2))
    assert isinstance(graphite, GraphiteProvider)
    assert graphite.name == "graphite"
    await graphite.aclose()
