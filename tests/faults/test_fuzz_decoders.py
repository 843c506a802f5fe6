"""Fuzzing every decoder of outside data: arbitrary, deeply nested, huge and type-confused bodies.

Whatever Marathon, Prometheus or Graphite answer, the client returns a value or the project's own
error for that request; per-app and per-series confusion (a list where an object belongs, a string
where a number does, numbers beyond any range) fails only the app or series that holds it. No
other exception may leave a client: in the service it would end the tick or the process.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.core.model import QueryResult
from autoscaler.errors import MetricSourceError, TargetUnavailable, WireError
from autoscaler.http import RetryPolicy
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.targets.marathon import MarathonClient
from autoscaler.targets.marathon_apps import USUAL_LIST, UsualApp
from autoscaler.testing.hostile import Answer, HostileServer, nested
from autoscaler.wire import decode_json, decode_shaped, nesting_exceeds

NOW = datetime.now(UTC)
TS = int(NOW.timestamp())
POLICY = RetryPolicy(attempts=1, request_timeout=5.0, total_timeout=5.0, max_response_bytes=256 * 1024)
MARKER = '"@@"'
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Integers a 64-bit decoder keeps exact; beyond them a number comes back as the nearest float
# (test_integers_beyond_64_bits_come_back_as_floats).
EXACT_INTEGERS = st.integers(min_value=-(2**63), max_value=2**64 - 1)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | EXACT_INTEGERS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25,
)
# Text no JSON library would write, but a hostile peer can.
RAW = st.sampled_from(
    [
        "1e999",
        "-1e999",
        "9" * 400,
        "123456789012345678901234567890",
        '"\\ud800"',
        "NaN",
        "Infinity",
        "-0",
        "1E+2",
        nested(63).decode(),
        nested(65).decode(),
        nested(1000).decode(),
        "[" * 500,
        '"' + "[" * 500 + '"',
        '{"a":' * 200 + "1" + "}" * 200,
    ]
)
FRAGMENT = st.one_of(JSON_VALUES.map(json.dumps), RAW)


def planted(template: Any, fragment: str) -> bytes:
    """`template` as JSON text with the string "@@" replaced by the raw `fragment`."""
    return json.dumps(template).replace(MARKER, fragment, 1).encode()


# --- the decoder itself ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400) | FRAGMENT.map(str.encode))
def test_decode_json_returns_a_value_or_a_wire_error(data: bytes) -> None:
    try:
        decode_json(data, what="fuzz", max_bytes=1 << 20)
    except WireError as exc:
        assert str(exc).startswith("fuzz: ")


@FUZZ
@given(st.binary(max_size=400) | FRAGMENT.map(str.encode) | FRAGMENT.map(lambda f: planted({"apps": ["@@"]}, f)))
def test_the_typed_decoding_returns_its_shape_none_or_a_wire_error(data: bytes) -> None:
    """Straight into the usual shape of Marathon's list or nothing: never another exception."""
    try:
        shaped = decode_shaped(data, USUAL_LIST, what="fuzz", max_bytes=1 << 20)
    except WireError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert shaped is None or all(isinstance(app, UsualApp) for app in shaped.apps)


def test_the_typed_decoding_refuses_deep_nesting_before_decoding() -> None:
    deep = planted({"apps": [], "x": "@@"}, nested(100_000).decode())
    with pytest.raises(WireError, match="deeper than the limit"):
        decode_shaped(deep, USUAL_LIST, what="fuzz", max_bytes=1 << 30)


@FUZZ
@given(JSON_VALUES)
def test_decode_json_round_trips_what_json_writes(value: Any) -> None:
    assert decode_json(json.dumps(value).encode(), what="fuzz", max_bytes=1 << 20) == value


@pytest.mark.parametrize("value", [-(2**63) - 1, 2**64, -(10**30), 10**30])
def test_integers_beyond_64_bits_come_back_as_floats(value: int) -> None:
    decoded = decode_json(str(value).encode(), what="fuzz", max_bytes=1 << 20)
    assert isinstance(decoded, float) and decoded == float(value)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@FUZZ
@given(JSON_VALUES, st.integers(min_value=1, max_value=6))
def test_the_nesting_limit_is_exact(value: Any, limit: int) -> None:
    assert nesting_exceeds(json.dumps(value).encode(), limit) == (_depth(value) > limit)


# --- Marathon -------------------------------------------------------------------------------------

GOOD_APP = {"id": "/ok", "instances": 1, "tasksRunning": 1, "tasksHealthy": 1, "tasksStaged": 0, "tasksUnhealthy": 0}
APP_FIELDS = [*GOOD_APP, "healthChecks", "deployments", "versionInfo"]


@st.composite
def marathon_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A /v2/apps body and whether the good app must survive it (confusion inside another app)."""
    fragment = draw(FRAGMENT)
    where = draw(st.sampled_from(["body", "apps", "app", "field", "version"]))
    if where == "body":
        return fragment.encode(), False
    if where == "apps":
        return planted({"apps": MARKER}, fragment), False
    if where == "app":
        return planted({"apps": [MARKER, GOOD_APP]}, fragment), True
    if where == "version":
        other = {**GOOD_APP, "id": "/other", "versionInfo": {"lastScalingAt": MARKER}}
        return planted({"apps": [other, GOOD_APP]}, fragment), True
    other = {**GOOD_APP, "id": "/other", draw(st.sampled_from(APP_FIELDS)): MARKER}
    return planted({"apps": [other, GOOD_APP]}, fragment), True


@FUZZ
@given(marathon_bodies())
async def test_marathon_list_is_a_snapshot_or_unavailable(case: tuple[bytes, bool]) -> None:
    body, survives = case
    with respx.mock(base_url="http://marathon.test") as mock:
        mock.get("/v2/apps").mock(return_value=httpx.Response(200, content=body))
        client = MarathonClient(base_url="http://marathon.test", policy=POLICY, verify=False)
        try:
            snapshot = await client.list_apps()
        except TargetUnavailable as exc:
            assert "deeper than the limit" in str(exc) or "not JSON" in str(exc) or "not {" in str(exc)
            return
        finally:
            await client.aclose()
    if survives:
        assert "/ok" in snapshot.apps


@FUZZ
@given(FRAGMENT, st.sampled_from([200, 400, 409, 403, 422, 503]))
async def test_marathon_patch_answers_are_a_result(fragment: str, status: int) -> None:
    bodies = [fragment.encode(), planted({"message": MARKER, "deployments": [{"id": MARKER}]}, fragment)]
    for body in bodies:
        with respx.mock(base_url="http://marathon.test") as mock:
            mock.patch("/v2/apps/a").mock(return_value=httpx.Response(status, content=body))
            client = MarathonClient(base_url="http://marathon.test", policy=POLICY, verify=False)
            result = await client.scale("/a", 2)
            await client.aclose()
        assert result.ok == (status == 200)


# --- Graphite -------------------------------------------------------------------------------------


def graphite_bodies() -> st.SearchStrategy[bytes]:
    templates = [
        MARKER,
        [MARKER],
        [{"target": MARKER, "datapoints": [[1, TS]]}],
        [{"target": "a.b", "datapoints": MARKER}],
        [{"target": "a.b", "datapoints": [MARKER]}],
        [{"target": "a.b", "datapoints": [[MARKER, TS]]}],
        [{"target": "a.b", "datapoints": [[1, MARKER]]}],
    ]
    return st.builds(planted, st.sampled_from(templates), FRAGMENT)


@FUZZ
@given(graphite_bodies())
async def test_graphite_answers_are_results_or_source_errors(body: bytes) -> None:
    with respx.mock(base_url="http://graphite.test") as mock:
        mock.get("/render").mock(return_value=httpx.Response(200, content=body))
        provider = GraphiteProvider(url="http://graphite.test", policy=POLICY, verify=False)
        try:
            result = (await provider.query(["a.b"], now=NOW))["a.b"]
            assert isinstance(result, QueryResult)
            with contextlib.suppress(MetricSourceError):
                await provider.range_query("a.b", start=NOW - timedelta(hours=1), end=NOW)
        finally:
            await provider.aclose()


# --- Prometheus (through its client library, so on loopback) --------------------------------------


def prometheus_bodies() -> st.SearchStrategy[bytes]:
    def answer(result: Any, kind: str = "vector") -> dict[str, Any]:
        return {"status": "success", "data": {"resultType": kind, "result": result}}

    templates = [
        MARKER,
        {"status": "success", "data": MARKER},
        answer(MARKER),
        answer([MARKER]),
        answer([{"metric": MARKER, "value": [TS, "1"]}]),
        answer([{"metric": {}, "value": MARKER}]),
        answer([{"metric": {}, "value": [MARKER, "1"]}]),
        answer([{"metric": {}, "value": [TS, MARKER]}]),
        answer([{"metric": {}, "values": [[TS, MARKER]]}], "matrix"),
        answer([{"metric": {}, "values": [MARKER]}], "matrix"),
        answer([{"metric": {}, "values": MARKER}], "matrix"),
    ]
    return st.builds(planted, st.sampled_from(templates), FRAGMENT)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prometheus_bodies())
async def test_prometheus_answers_are_results_or_source_errors(body: bytes) -> None:
    async with HostileServer(lambda _request: Answer(body=body)) as server:
        provider = PrometheusProvider(url=server.url, policy=POLICY, verify=False)
        try:
            result = (await provider.query(["up"], now=NOW))["up"]
            assert isinstance(result, QueryResult)
            with contextlib.suppress(MetricSourceError):
                await provider.range_query("up", start=NOW - timedelta(hours=1), end=NOW, step=timedelta(minutes=1))
        finally:
            await provider.aclose()


@pytest.mark.parametrize("value", ["1e999", "9" * 400, '"12abc"', "[1]", "{}"])
async def test_one_confused_app_fails_alone(value: str) -> None:
    body = planted({"apps": [{**GOOD_APP, "id": "/bad", "instances": MARKER}, GOOD_APP]}, value)
    with respx.mock(base_url="http://marathon.test") as mock:
        mock.get("/v2/apps").mock(return_value=httpx.Response(200, content=body))
        client = MarathonClient(base_url="http://marathon.test", policy=POLICY, verify=False)
        snapshot = await client.list_apps()
        await client.aclose()
    assert set(snapshot.apps) == {"/ok"}
    assert "instances" in snapshot.invalid["/bad"]
