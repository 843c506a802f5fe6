"""A fault-injecting HTTP proxy, so tests can see what the service does when the network misbehaves.

It sits on 127.0.0.1 between one of the service's HTTP clients and the server it talks to (the fake
Marathon, the fake Prometheus, the fake Graphite) and, per request, either forwards it untouched or
injects one fault: latency, a hang, a connection reset (before or after the upstream saw the
request), a 5xx, a 429, a truncated, malformed or wrongly shaped JSON body, an HTML error page, a
body that trickles in, or a body cut off mid-way. The choice comes from a seeded RNG keyed on the
request itself (method, target and how often that target was asked), so a run is reproducible
regardless of the order in which concurrent requests arrive. `counts` tells how many faults of each
kind were injected.

Both sides are aiohttp: its server parses the requests and frames the answers (a cut body is an
answer whose declared length is longer than what is sent before the reset), its client forwards.
Every answer closes its connection, so each request meets its own fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from autoscaler.testing.serving import LoopbackSite

__all__ = ["FAULT_KINDS", "HOLD", "PASS", "FaultProxy", "HttpRequest"]

FAULT_KINDS = (
    "latency",
    "hang",
    "reset",
    "reset_after_forward",
    "status_5xx",
    "status_429",
    "truncated_json",
    "malformed_json",
    "wrong_shape_json",
    "html_error",
    "slow_body",
    "cut_body",
)
PASS = "pass"
HOLD = "hold"  # forward, then keep the answer until `release()` (or forever)

_MALFORMED = (
    b'{"status": "success", "data": ',
    b"{'apps': []}",
    b"[1, 2,",
    b'{"apps": [{"id": "/x", "instances": }]}',
    b"NaN",
    b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.5"]}',
    b"\xff\xfe\x00garbage",
)
_WRONG_SHAPE = (
    b"[]",
    b"{}",
    b'"ok"',
    b"null",
    b'{"apps": {}}',
    b'{"apps": [1, "two", null]}',
    b'{"status": "success", "data": {"resultType": "vector", "result": {}}}',
    b'{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": []}]}}',
    b'[{"target": 5, "datapoints": "none"}]',
    b'[{"target": "x", "datapoints": [[1]]}]',
)
_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)
# Hop-by-hop and framing headers: aiohttp sets its own on both sides.
_NOT_FORWARDED = {"connection", "host", "content-length", "transfer-encoding", "keep-alive"}
_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One request as a server of the tests received it (target: raw path and query)."""

    method: str
    target: str
    version: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


async def received(request: web.Request) -> HttpRequest:
    """The aiohttp request as an HttpRequest, its body read."""
    return HttpRequest(
        method=request.method,
        target=request.raw_path,
        version=f"HTTP/{request.version.major}.{request.version.minor}",
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await request.read(),
    )


def reset(request: web.Request) -> None:
    """Close with a TCP RST instead of a FIN: what a crashed peer or a firewall does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def hang_up(request: web.Request) -> None:
    """Close the connection (a FIN) without an answer."""
    if request.transport is not None:
        request.transport.close()


def _closing(status: int, body: bytes, *, content_type: str, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.Response(status=status, body=body, headers={**(headers or {}), "Content-Type": content_type})
    response.force_close()
    return response


@dataclass(frozen=True)
class _Upstream:
    status: int
    headers: CIMultiDict[str]
    body: bytes


Plan = Callable[[HttpRequest, random.Random], str]


class FaultProxy:
    """Forwards to `upstream` (`http://127.0.0.1:<port>`), injecting faults at `rates`.

    `rates` maps fault kinds to probabilities per request (their sum at most 1). `plan`, when
    given, replaces the random choice: it gets the request and its RNG and returns a kind,
    `"pass"` or `"hold"`. `hang_seconds` is how long a hang keeps the connection silent; it should
    be longer than the client's timeout.
    """

    def __init__(
        self,
        *,
        upstream: str,
        seed: int,
        rates: Mapping[str, float] | None = None,
        plan: Plan | None = None,
        hang_seconds: float = 2.0,
        slow_body_seconds: float = 0.6,
    ) -> None:
        unknown = set(rates or {}) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if sum((rates or {}).values()) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        self._upstream = upstream.rstrip("/")
        self._seed = seed
        self._rates = dict(rates or {})
        self._plan = plan
        self._hang = hang_seconds
        self._slow = slow_body_seconds
        self._seen: Counter[tuple[str, str]] = Counter()
        self._session: aiohttp.ClientSession | None = None
        self._released = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._site = LoopbackSite(app, shutdown_timeout=0.1)
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []  # (method, target, kind), cleared by the test
        self.url = ""

    async def start(self) -> str:
        self._released = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=30))
        self.url = await self._site.start()
        return self.url

    async def stop(self) -> None:
        await self._site.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def release(self) -> None:
        """Let held answers go."""
        self._released.set()

    def _choose(self, request: HttpRequest) -> str:
        key = (request.method, request.target)
        self._seen[key] += 1
        rng = random.Random(f"{self._seed}|{request.method}|{request.target}|{self._seen[key]}")
        if self._plan is not None:
            return self._plan(request, rng)
        roll = rng.random()
        for kind, rate in self._rates.items():
            if roll < rate:
                return kind
            roll -= rate
        return PASS

    async def _serve(self, raw: web.Request) -> web.StreamResponse:
        request = await received(raw)
        kind = self._choose(request)
        self.log.append((request.method, request.target, kind))
        if kind != PASS:
            self.counts[kind] += 1
        rng = random.Random(f"{self._seed}|answer|{request.target}|{self._seen[(request.method, request.target)]}")
        try:
            return await self._answer(kind, request=request, raw=raw, rng=rng)
        except aiohttp.ClientError:
            hang_up(raw)  # the upstream failed: the client sees the connection close unanswered
            return _closing(502, b"", content_type="text/plain")

    async def _forward(self, request: HttpRequest) -> _Upstream:
        assert self._session is not None, "the proxy is not started"
        headers = {k: v for k, v in request.headers.items() if k not in _NOT_FORWARDED}
        async with self._session.request(
            request.method,
            URL(self._upstream + request.target, encoded=True),
            headers=headers,
            data=request.body,
            allow_redirects=False,
        ) as response:
            body = await response.read()
            return _Upstream(status=response.status, headers=CIMultiDict(response.headers), body=body)

    async def _answer(  # noqa: PLR0911 - one answer per kind of fault
        self, kind: str, *, request: HttpRequest, raw: web.Request, rng: random.Random
    ) -> web.StreamResponse:
        if kind == "hang":
            await asyncio.sleep(self._hang)
            hang_up(raw)
            return _closing(504, b"", content_type="text/plain")  # never reaches the client
        if kind == "reset":
            reset(raw)
            return _closing(502, b"", content_type="text/plain")  # never reaches the client
        if kind == "status_5xx":
            status = rng.choice((500, 502, 503, 504))
            body, content_type = (
                (b'{"message": "internal error"}', "application/json")
                if rng.random() < 0.5
                else (b"Service Unavailable", "text/plain")
            )
            return _closing(status, body, content_type=content_type)
        if kind == "status_429":
            retry = {"Retry-After": str(rng.choice((0, 1)))}
            return _closing(429, b'{"message": "Too Many Requests"}', content_type="application/json", headers=retry)
        if kind == "html_error":
            return _closing(rng.choice((200, 502, 503)), _HTML, content_type="text/html")
        if kind == "latency":
            await asyncio.sleep(rng.uniform(0.01, 0.12))
        upstream = await self._forward(request)
        if kind == HOLD:
            await self._released.wait()
        if kind == "reset_after_forward":
            reset(raw)
            return _closing(502, b"", content_type="text/plain")  # never reaches the client
        body = upstream.body
        if kind == "truncated_json":
            body = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
        elif kind == "malformed_json":
            body = rng.choice(_MALFORMED)
        elif kind == "wrong_shape_json":
            body = rng.choice(_WRONG_SHAPE)
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED}
        if kind in ("cut_body", "slow_body"):
            return await self._stream(kind, raw=raw, status=upstream.status, headers=headers, body=body, rng=rng)
        response = web.Response(status=upstream.status, body=body, headers=headers)
        response.force_close()
        return response

    async def _stream(
        self,
        kind: str,
        *,
        raw: web.Request,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        rng: random.Random,
    ) -> web.StreamResponse:
        """A body cut off after half its declared length, or one that arrives in four slow pieces."""
        response = web.StreamResponse(status=status, headers=headers)
        response.force_close()
        response.content_length = len(body) + 10 if kind == "cut_body" else len(body)
        await response.prepare(raw)
        with contextlib.suppress(ConnectionError):  # the client may hang up in the middle
            if kind == "cut_body":
                await response.write(body[: len(body) // 2])
                reset(raw)
                return response
            pause = rng.uniform(0.0, self._slow) / 4
            for index in range(4):
                await asyncio.sleep(pause)
                await response.write(body[index * len(body) // 4 : (index + 1) * len(body) // 4])
        return response
