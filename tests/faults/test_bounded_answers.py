"""Answers that used to end the process, hold a tick or exhaust memory, from servers on loopback.

Marathon, Prometheus and Graphite are each played by a hostile server: an answer of a few kilobytes
nested a thousand deep, one that trickles a byte at a time for ever (in its head or its body), one far
larger than the byte limit, one that redirects elsewhere. Each must become a per-query error or the
tick's error, naming the limit that was hit, within the deadline; the server's own record shows
that the client stopped reading and hung up instead of only returning.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoscaler.errors import TargetUnavailable
from autoscaler.http import RetryPolicy
from autoscaler.providers.graphite import GraphiteProvider
from autoscaler.providers.prometheus import PrometheusProvider
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.hostile import Answer, HostileServer, nested
from autoscaler.testing.proxy import HttpRequest

NOW = datetime.now(UTC)
DEADLINE = 0.6
POLICY = RetryPolicy(attempts=1, request_timeout=DEADLINE, total_timeout=DEADLINE, max_response_bytes=64 * 1024)
DEEP = nested(1000)  # 2 KB
APP = {
    "id": "/shop/api",
    "instances": 2,
    "tasksRunning": 2,
    "tasksHealthy": 2,
    "tasksStaged": 0,
    "tasksUnhealthy": 0,
}


def always(answer: Answer) -> Callable[[HttpRequest], Answer]:
    return lambda _request: answer


def vector(value: str) -> bytes:
    result = [{"metric": {}, "value": [NOW.timestamp(), value]}]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


# --- the three sources and Marathon, each asked once against whatever the server answers -------


async def marathon_list(url: str, policy: RetryPolicy = POLICY) -> str:
    client = MarathonClient(base_url=url, policy=policy, verify=False)
    try:
        await client.list_apps()
    except TargetUnavailable as exc:
        return str(exc)
    finally:
        await client.aclose()
    raise AssertionError("the answer was accepted")


async def marathon_patch(url: str, policy: RetryPolicy = POLICY) -> str:
    client = MarathonClient(base_url=url, policy=policy, verify=False)
    try:
        result = await client.scale("/shop/api", 3)
    finally:
        await client.aclose()
    assert not result.ok
    return result.detail


async def prometheus_instant(url: str, policy: RetryPolicy = POLICY) -> str:
    provider = PrometheusProvider(url=url, policy=policy, verify=False)
    try:
        result = (await provider.query(["up"], now=NOW))["up"]
    finally:
        await provider.aclose()
    assert result.samples == ()
    assert result.error is not None
    return result.error


async def prometheus_range(url: str, policy: RetryPolicy = POLICY) -> str:
    provider = PrometheusProvider(url=url, policy=policy, verify=False)
    try:
        await provider.range_query("up", start=NOW - timedelta(hours=1), end=NOW, step=timedelta(minutes=1))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await provider.aclose()
    raise AssertionError("the answer was accepted")


async def graphite_latest(url: str, policy: RetryPolicy = POLICY) -> str:
    provider = GraphiteProvider(url=url, policy=policy, verify=False)
    try:
        result = (await provider.query(["a.b"], now=NOW))["a.b"]
    finally:
        await provider.aclose()
    assert result.samples == ()
    assert result.error is not None
    return result.error


async def graphite_range(url: str, policy: RetryPolicy = POLICY) -> str:
    provider = GraphiteProvider(url=url, policy=policy, verify=False)
    try:
        await provider.range_query("a.b", start=NOW - timedelta(hours=1), end=NOW)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await provider.aclose()
    raise AssertionError("the answer was accepted")


CLIENTS = {
    "marathon list": marathon_list,
    "marathon patch": marathon_patch,
    "prometheus instant": prometheus_instant,
    "prometheus range": prometheus_range,
    "graphite render": graphite_latest,
    "graphite range": graphite_range,
}
ALL = pytest.mark.parametrize("ask", list(CLIENTS.values()), ids=list(CLIENTS))


# --- nesting --------------------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("wrap", ["bare", "in the expected shape"])
async def test_an_answer_nested_a_thousand_deep_is_an_error_not_a_crash(ask: Any, wrap: str) -> None:
    body = DEEP
    if wrap != "bare":  # the deep part where a real answer has its payload
        body = b'{"status":"success","data":{"resultType":"vector","result":' + DEEP + b'},"apps":' + DEEP + b"}"
    async with HostileServer(always(Answer(status=200 if ask is not marathon_patch else 409, body=body))) as server:
        error = await ask(server.url)
    if ask is not marathon_patch:  # a PATCH's body only adds detail; an unusable one is left out
        assert "deeper than the limit of 64" in error


# --- size -----------------------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("declared", [True, False], ids=["length declared", "chunk by chunk"])
async def test_an_answer_over_the_byte_limit_is_refused_without_reading_it_all(ask: Any, declared: bool) -> None:
    chunk = b" " * 65536
    # 128 MiB against a 64 KiB limit: far more than loopback's socket buffers can take in (Linux lets a
    # receive buffer grow to tcp_rmem's maximum, 32 MiB on some machines), so what the server managed
    # to send shows whether the client went on reading.
    repeat = 2048
    total = repeat * len(chunk)
    answer = Answer(body=chunk, repeat_body=repeat)
    if not declared:  # no Content-Length to refuse early: the running count must stop the read
        answer = Answer(body=chunk, repeat_body=repeat, declare_length=False)
    async with HostileServer(always(answer)) as server:
        started = time.monotonic()
        error = await ask(server.url)
        elapsed = time.monotonic() - started
    assert "limit of 65536" in error
    assert "AUTOSCALER_MAX_RESPONSE_BYTES" in error
    assert elapsed < DEADLINE * 3
    assert server.served[0].sent < total  # the client hung up long before the end


# --- deadlines ------------------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize("where", ["head", "body"])
async def test_an_answer_that_trickles_for_ever_ends_at_the_request_deadline(ask: Any, where: str) -> None:
    body = json.dumps({"apps": [APP]}).encode() * 50
    answer = Answer(body=body, trickle=0.05, trickle_after_head=where == "body")
    async with HostileServer(always(answer)) as server:
        started = time.monotonic()
        error = await ask(server.url)
        elapsed = time.monotonic() - started
        hung_up = await _hung_up(server)
    assert elapsed < DEADLINE + 1.0
    assert f"within {DEADLINE:g}s" in error or "timed out" in error
    assert hung_up is not None and hung_up < DEADLINE + 1.5, "the client left the connection trickling"


async def _hung_up(server: HostileServer, *, wait: float = 2.0) -> float | None:
    """When the client hung up on the first request, waiting a little for the server to notice."""
    give_up = time.monotonic() + wait
    while server.served[0].hung_up_after is None and time.monotonic() < give_up:  # noqa: ASYNC110 (polls a record)
        await asyncio.sleep(0.05)
    return server.served[0].hung_up_after


@pytest.mark.parametrize(
    "ask", [marathon_list, prometheus_instant, graphite_latest], ids=["marathon", "prom", "graphite"]
)
async def test_one_attempt_that_times_out_says_one_attempt(ask: Any) -> None:
    async with HostileServer(always(Answer(body=b"{}", trickle=0.05))) as server:
        error = await ask(server.url)
    assert "after 1 attempt(s)" in error
    assert "3 attempt" not in error


async def test_three_attempts_are_reported_as_three() -> None:
    policy = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, request_timeout=1.0, total_timeout=5.0)
    async with HostileServer(always(Answer(status=503, body=b'{"message": "busy"}'))) as server:
        error = await marathon_list(server.url, policy)
    assert "after 3 attempt(s)" in error
    assert len(server.served) == 3


# --- redirects ------------------------------------------------------------------------------------


async def test_prometheus_redirects_are_not_followed() -> None:
    async with HostileServer(always(Answer(body=vector("1000")))) as elsewhere:
        moved = Answer(status=302, headers=(("Location", elsewhere.url + "/api/v1/query?query=up"),))
        async with HostileServer(always(moved)) as server:
            error = await prometheus_instant(server.url)
    assert "HTTP 302" in error
    assert "not followed" in error
    assert elsewhere.served == []


# --- cookies --------------------------------------------------------------------------------------


async def test_cookies_a_server_sets_are_neither_kept_nor_sent_back() -> None:
    """A jar that kept what answers set would grow with every new name a hostile server invents."""
    body = json.dumps({"apps": [APP]}).encode()
    cookies = tuple(("Set-Cookie", f"c{n}={'x' * 100}; Path=/") for n in range(50))
    answer = Answer(body=body, headers=(("Content-Type", "application/json"), *cookies))
    async with HostileServer(always(answer)) as server:
        client = MarathonClient(base_url=server.url, policy=POLICY)
        try:
            for _ in range(3):
                assert "/shop/api" in (await client.list_apps()).apps
            assert len(client._client.cookies) == 0
        finally:
            await client.aclose()
    assert len(server.served) == 3
    assert all("cookie" not in {name.lower() for name in s.request.headers} for s in server.served)
