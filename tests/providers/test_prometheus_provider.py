"""PrometheusProvider against recorded Prometheus HTTP API answers, every odd shape included.

The client library speaks `requests`, which respx cannot intercept, so the fake Prometheus on
127.0.0.1 replays the JSON recorded from a real Prometheus (tests/fixtures/prometheus) and counts
what it was asked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.errors import ConfigurationError, MetricSourceError
from autoscaler.http import RetryPolicy
from autoscaler.providers import build_provider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.testing.prometheus import FakePrometheus, Raw
from autoscaler.wire import decode_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "prometheus"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5, request_timeout=2)


def reply(status: int, body: bytes, content_type: str = "application/json") -> Raw:
    return (status, content_type, body)


def fixture(name: str, status: int = 200) -> Raw:
    path = FIXTURES / name
    kind = "text/html" if path.suffix == ".html" else "application/json"
    return reply(status, path.read_bytes(), kind)


@pytest.fixture
async def replay() -> AsyncIterator[FakePrometheus]:
    async with FakePrometheus() as fake:
        yield fake


@pytest.fixture
async def provider(replay: FakePrometheus) -> Any:
    prom = PrometheusProvider(url=replay.url, policy=FAST)
    yield prom
    await prom.aclose()


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


async def test_scalar_is_one_sample_without_labels(replay: FakePrometheus, provider: Any) -> None:
    replay.script("scalar(queue_depth)", fixture("scalar.json"))
    result = (await provider.query(["scalar(queue_depth)"], now=NOW))["scalar(queue_depth)"]
    assert result.error is None
    assert len(result.samples) == 1
    sample = result.samples[0]
    assert (dict(sample.labels), sample.value) == ({}, 123.0)
    assert sample.timestamp == at(1795732516.515)


async def test_vector_of_one_keeps_series_labels_and_time(replay: FakePrometheus, provider: Any) -> None:
    query = 'queue_depth{queue="orders"}'
    replay.script(query, fixture("vector_one.json"))
    result = (await provider.query([query], now=NOW))[query]
    assert result.error is None
    (sample,) = result.samples
    assert dict(sample.labels) == {
        "__name__": "queue_depth",
        "instance": "127.0.0.1:38669",
        "job": "app",
        "queue": "orders",
    }
    assert sample.value == 123.0
    assert sample.timestamp == at(1795732516.513)


async def test_instant_query_is_evaluated_at_now(replay: FakePrometheus, provider: Any) -> None:
    replay.script("up", fixture("vector_one.json"))
    await provider.query(["up"], now=NOW)
    (request,) = replay.received
    assert request.path == "/api/v1/query"
    assert float(request.params["time"]) == NOW.timestamp()


async def test_vector_of_many_gives_a_sample_per_series(replay: FakePrometheus, provider: Any) -> None:
    query = "sum by (app) (app_cpu_usage)"
    replay.script(query, fixture("vector_many.json"))
    result = (await provider.query([query], now=NOW))[query]
    assert result.error is None
    assert {s.labels["app"]: s.value for s in result.samples} == {
        "/shop/api": 0.8,
        "/shop/web": 0.3,
    }


async def test_empty_vector_is_no_samples_and_no_error(replay: FakePrometheus, provider: Any) -> None:
    replay.script("nothing", fixture("empty.json"))
    result = (await provider.query(["nothing"], now=NOW))["nothing"]
    assert result.samples == ()
    assert result.error is None


async def test_nan_and_infinities_are_missing_values(replay: FakePrometheus, provider: Any) -> None:
    replay.script("weird", fixture("nan.json"))
    replay.script("big", fixture("inf.json"))
    results = await provider.query(["weird", "big"], now=NOW)
    assert [s.value for s in results["weird"].samples] == [None]
    assert [s.value for s in results["big"].samples] == [None, None]
    assert results["weird"].error is None
    assert results["big"].error is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("matrix.json", "range vector"), ("string.json", "string")],
)
async def test_matrix_and_string_results_are_errors(
    replay: FakePrometheus, provider: Any, name: str, expected: str
) -> None:
    replay.script("q", fixture(name))
    result = (await provider.query(["q"], now=NOW))["q"]
    assert result.samples == ()
    assert result.error is not None
    assert "'q'" in result.error
    assert expected in result.error


async def test_bad_promql_surfaces_prometheus_message_without_retry(replay: FakePrometheus, provider: Any) -> None:
    replay.script("sum(", fixture("bad_query.json", status=400))
    result = (await provider.query(["sum("], now=NOW))["sum("]
    assert result.error == (
        "prometheus query 'sum(': HTTP 400 bad_data: invalid parameter \"query\": "
        "1:5: parse error: unclosed left parenthesis"
    )
    assert replay.count("sum(") == 1


async def test_503_then_success_is_retried(replay: FakePrometheus, provider: Any) -> None:
    replay.script("up", fixture("unavailable.json", status=503), fixture("vector_one.json"))
    result = (await provider.query(["up"], now=NOW))["up"]
    assert result.error is None
    assert [s.value for s in result.samples] == [123.0]
    assert replay.count("up") == 2


async def test_429_is_retried(replay: FakePrometheus, provider: Any) -> None:
    replay.script("up", reply(429, b"slow down", "text/plain"), fixture("scalar.json"))
    result = (await provider.query(["up"], now=NOW))["up"]
    assert result.error is None
    assert replay.count("up") == 2


async def test_persistent_5xx_gives_up_after_the_policy_attempts(replay: FakePrometheus, provider: Any) -> None:
    replay.script("up", fixture("unavailable.json", status=503))
    result = (await provider.query(["up"], now=NOW))["up"]
    assert result.error == ("prometheus query 'up': HTTP 503 timeout: query timed out in expression evaluation")
    assert replay.count("up") == FAST.attempts


async def test_html_error_page_is_one_line_without_markup(replay: FakePrometheus, provider: Any) -> None:
    replay.script("up", fixture("bad_gateway.html", status=502))
    result = (await provider.query(["up"], now=NOW))["up"]
    assert result.error is not None
    assert result.error.startswith("prometheus query 'up': HTTP 502: ")
    assert "502 Bad Gateway" in result.error
    assert "<" not in result.error
    assert "\n" not in result.error


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (fixture("login_page.html"), "answer is not JSON"),
        (reply(200, b"ok", "text/plain"), "answer is not JSON"),
        (fixture("not_a_response.json"), "not a Prometheus API response"),
    ],
)
async def test_unusable_200_answers_are_errors_not_retried(
    replay: FakePrometheus, provider: Any, reply: Raw, expected: str
) -> None:
    replay.script("up", reply)
    result = (await provider.query(["up"], now=NOW))["up"]
    assert result.samples == ()
    assert result.error is not None
    assert expected in result.error
    assert replay.count("up") == 1


async def test_garbage_values_become_missing_with_the_reason(replay: FakePrometheus, provider: Any) -> None:
    replay.script("load", fixture("garbage.json"))
    result = (await provider.query(["load"], now=NOW))["load"]
    values = {s.labels.get("app"): s.value for s in result.samples}
    assert values == {"/shop/text": None, "/shop/bool": None, "/shop/ok": 2.5}
    assert result.error is not None
    assert "non-numeric value 'abc'" in result.error
    assert "True is not a number" in result.error
    assert result.error.count("unreadable series") == 2


async def test_identical_queries_are_sent_once(replay: FakePrometheus, provider: Any) -> None:
    replay.script("a", fixture("scalar.json"))
    replay.script("b", fixture("empty.json"))
    results = await provider.query(["a", "b", "a", "a"], now=NOW)
    assert list(results) == ["a", "b"]
    assert replay.count("a") == 1
    assert replay.count("b") == 1


async def test_one_failing_query_does_not_spoil_the_others(replay: FakePrometheus, provider: Any) -> None:
    replay.script("good", fixture("scalar.json"))
    replay.script("sum(", fixture("bad_query.json", status=400))
    results = await provider.query(["good", "sum("], now=NOW)
    assert results["good"].error is None
    assert results["sum("].error is not None


async def test_concurrency_is_bounded(replay: FakePrometheus) -> None:
    replay.delay = 0.05
    queries = [f"q{i}" for i in range(6)]
    for query in queries:
        replay.script(query, fixture("scalar.json"))
    prom = PrometheusProvider(url=replay.url, policy=FAST, max_concurrency=2)
    try:
        results = await prom.query(queries, now=NOW)
    finally:
        await prom.aclose()
    assert all(r.error is None for r in results.values())
    assert replay.max_in_flight == 2


async def test_unreachable_server_is_a_one_line_error_per_query() -> None:
    prom = PrometheusProvider(url="http://127.0.0.1:9", policy=FAST)
    try:
        result = (await prom.query(["up"], now=NOW))["up"]
    finally:
        await prom.aclose()
    assert result.samples == ()
    assert result.error is not None
    assert result.error.startswith("prometheus query 'up': cannot connect: ConnectionError")
    assert "\n" not in result.error
    assert "Traceback" not in result.error


async def test_credentials_are_sent_and_never_shown(replay: FakePrometheus) -> None:
    replay.script("up", fixture("scalar.json"))
    basic = PrometheusProvider(url=replay.url, policy=FAST, basic_auth=("ops", "s3cret"))
    bearer = PrometheusProvider(url=replay.url, policy=FAST, bearer_token="t0ken")
    try:
        await basic.query(["up"], now=NOW)
        await bearer.query(["up"], now=NOW)
    finally:
        await basic.aclose()
        await bearer.aclose()
    assert [r.headers["authorization"] for r in replay.received] == [
        "Basic b3BzOnMzY3JldA==",
        "Bearer t0ken",
    ]

    offline = PrometheusProvider(url="http://ops:s3cret@127.0.0.1:9", policy=FAST)
    try:
        result = (await offline.query(["up"], now=NOW))["up"]
    finally:
        await offline.aclose()
    assert result.error is not None
    assert "s3cret" not in result.error


def test_basic_auth_and_bearer_token_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        PrometheusProvider(url="http://127.0.0.1:9", basic_auth=("a", "b"), bearer_token="t")


async def test_range_query_returns_the_points_of_one_series(replay: FakePrometheus, provider: Any) -> None:
    replay.script("hist_load", fixture("range_one.json"))
    start = at(1795725310)
    points = await provider.range_query(
        "hist_load", start=start, end=start + timedelta(minutes=6), step=timedelta(minutes=2)
    )
    assert points == [
        (at(1795725310), 0.0),
        (at(1795725430), 2.0),
        (at(1795725550), None),
        (at(1795725670), 6.0),
    ]
    (request,) = replay.received
    assert request.path == "/api/v1/query_range"
    assert request.params["step"] == "120"
    assert request.params["start"] == "1795725310"


async def test_range_query_edge_cases(replay: FakePrometheus, provider: Any) -> None:
    replay.script("none", fixture("range_empty.json"))
    replay.script("two", fixture("range_two.json"))
    replay.script("sum(", fixture("bad_query.json", status=400))
    window = {"start": NOW - timedelta(hours=1), "end": NOW, "step": timedelta(minutes=1)}
    assert await provider.range_query("none", **window) == []
    with pytest.raises(MetricSourceError, match="returned 2 series"):
        await provider.range_query("two", **window)
    with pytest.raises(MetricSourceError, match="unclosed left parenthesis"):
        await provider.range_query("sum(", **window)


async def test_build_provider_by_name() -> None:
    prom = build_provider("prometheus", url="http://127.0.0.1:9", max_concurrency=3)
    assert isinstance(prom, PrometheusProvider)
    assert prom.name == "prometheus"
    await prom.aclose()
    with pytest.raises(ConfigurationError, match="unknown metric source 'influx'"):
        build_provider("influx", url="http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="prometheus"):
        build_provider("prometheus", url="http://127.0.0.1:9", colour="blue")


def test_a_non_200_answer_reaches_the_retry_policy_as_received_not_as_the_librarys_text() -> None:
    """The library's exception for a non-200 answer is only text; what the retry policy reads is the
    answer our adapter received, headers (Retry-After) included, whatever that text says."""
    import requests
    from prometheus_api_client.exceptions import PrometheusApiClientException

    from autoscaler.providers.prometheus import _answer_or_raise, _QueryFailed

    received = requests.Response()
    received.status_code = 503
    received.headers["Retry-After"] = "2"
    received._content = b'{"status":"error","errorType":"unavailable","error":"overloaded"}'
    misleading = PrometheusApiClientException("HTTP Status Code 200 (b'fine')")
    assert _answer_or_raise(misleading, received) is received
    assert _answer_or_raise(None, received) is received
    with pytest.raises(_QueryFailed, match="HTTP Status Code 200"):
        _answer_or_raise(misleading, None)  # nothing was received: the library's words, as they are


_TEXT = st.text(max_size=4)
_SERIES = st.fixed_dictionaries(
    {
        "metric": st.one_of(st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers()), max_size=2), st.none(), _TEXT),
        "value": st.one_of(
            st.lists(
                st.one_of(
                    st.floats(allow_nan=True), st.integers(), st.booleans(), st.sampled_from(["1.5", "NaN", "x"])
                ),
                max_size=3,
            ),
            _TEXT,
        ),
    },
    optional={"values": st.lists(st.integers(), max_size=1)},
)


@given(series=_SERIES)
def test_the_quick_reading_of_a_usual_series_agrees_with_the_checked_one(series: dict[str, Any]) -> None:
    """The shortcut for the usual shape of a series gives what the full checks give, or leaves it to them."""
    from autoscaler.providers.prometheus import _checked_sample, _plain_sample, _QueryFailed

    quick = _plain_sample(series, {})
    problems: list[str] = []
    try:
        checked = _checked_sample(series, {}, problems, [series])
    except _QueryFailed:
        checked = None
    if quick is not None:
        assert (quick, problems) == (checked, [])


@given(series=st.lists(_SERIES, max_size=4), status=st.sampled_from(["success", "error"]))
def test_an_answer_read_straight_into_the_usual_shape_gives_what_the_json_reading_gives(
    series: list[dict[str, Any]], status: str
) -> None:
    """Decoded by msgspec when it has the usual shape, else as JSON: the samples and problems agree."""
    from autoscaler.providers.prometheus import _instant_samples, _QueryFailed, _usual_vector

    try:
        body = json.dumps({"status": status, "data": {"resultType": "vector", "result": series}}, allow_nan=False)
    except ValueError:
        return  # not JSON: no server sends it
    data = body.encode()

    def read(answer: Any) -> Any:
        try:
            return _instant_samples(answer["data"]["result"])
        except _QueryFailed as exc:
            return str(exc)

    usual = _usual_vector(data, what="answer", max_bytes=len(data), setting="S")
    if usual is not None:
        assert read(usual) == read(decode_json(data, what="answer", max_bytes=len(data)))


def test_a_grouped_answer_of_the_usual_shape_is_read_straight_from_its_bytes() -> None:
    from autoscaler.providers.prometheus import _instant_samples, _usual_vector

    series = [{"metric": {"app": f"/a{i}"}, "value": [1_700_000_000.5, "0.5" if i else "x"]} for i in range(3)]
    data = json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}}).encode()
    usual = _usual_vector(data, what="answer", max_bytes=len(data), setting="S")
    assert usual is not None
    samples, problems = _instant_samples(usual["data"]["result"])
    assert [(s.labels, s.value) for s in samples] == [
        ({"app": "/a0"}, None),
        ({"app": "/a1"}, 0.5),
        ({"app": "/a2"}, 0.5),
    ]
    assert problems == ["series {app=\"/a0\"}: non-numeric value 'x'"]
    matrix = data.replace(b'"vector"', b'"matrix"')
    assert _usual_vector(matrix, what="answer", max_bytes=len(data), setting="S") is None
