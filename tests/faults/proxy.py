"""A fault-injecting HTTP proxy, so tests can see what the service does when the network misbehaves.

It sits on 127.0.0.1 between one of the service's HTTP clients and the server it talks to (the fake
Marathon, a fake Prometheus API, a fake Graphite render API) and, per request, either forwards it
untouched or injects one fault: latency, a hang, a connection reset (before or after the upstream
saw the request), a 5xx, a 429, a truncated, malformed or wrongly shaped JSON body, an HTML error
page, a body that trickles in, or a body cut off mid-way. The choice comes from a seeded RNG keyed
on the request itself (method, target and how often that target was asked), so a run is
reproducible regardless of the order in which concurrent requests arrive. `counts` tells how many
faults of each kind were injected.

Only what the tests need of HTTP/1.1 is spoken: Content-Length bodies, one request per connection
(the proxy answers with `Connection: close`). The small reader and writer helpers here are shared
with the fake metric servers of `tests/faults/metric_fakes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

__all__ = [
    "FAULT_KINDS",
    "FaultProxy",
    "HttpRequest",
    "read_request",
    "write_response",
]

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

_MAX_HEAD_LINES = 100
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


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    version: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """One request with a Content-Length body; None when the peer closed the connection."""
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):
        line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise ValueError(f"malformed request line {line!r}")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEAD_LINES):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    body = await reader.readexactly(length) if length else b""
    return HttpRequest(method=parts[0].upper(), target=parts[1], version=parts[2], headers=headers, body=body)


def encode_head(status: int, headers: list[tuple[str, str]], *, length: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection", "transfer-encoding")]
    lines += [f"Content-Length: {length}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def write_response(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    all_headers = [("Content-Type", content_type), *(headers or [])]
    writer.write(encode_head(status, all_headers, length=len(body)) + body)
    await writer.drain()


async def _read_response(reader: asyncio.StreamReader) -> HttpResponse:
    line = await reader.readline()
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2:
        raise ConnectionError(f"upstream sent no status line: {line!r}")
    headers: list[tuple[str, str]] = []
    for _ in range(_MAX_HEAD_LINES):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    response = HttpResponse(status=int(parts[1]), headers=headers)
    length = response.header("content-length")
    response.body = await reader.readexactly(int(length)) if length else await reader.read()
    return response


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN: what a crashed peer or a firewall does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


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
        split = urlsplit(upstream)
        self._upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self._seed = seed
        self._rates = dict(rates or {})
        self._plan = plan
        self._hang = hang_seconds
        self._slow = slow_body_seconds
        self._seen: Counter[tuple[str, str]] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._released = asyncio.Event()
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, str]] = []  # (method, target, kind), cleared by the test
        self.url = ""

    async def start(self) -> str:
        self._released = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await read_request(reader)
            if request is None:
                return
            kind = self._choose(request)
            self.log.append((request.method, request.target, kind))
            if kind != PASS:
                self.counts[kind] += 1
            rng = random.Random(f"{self._seed}|answer|{request.target}|{self._seen[(request.method, request.target)]}")
            await self._answer(kind, request, writer, rng)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(self, request: HttpRequest) -> HttpResponse:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in ("connection", "host", "content-length")}
            lines = [f"{request.method} {request.target} HTTP/1.1", f"Host: {self._upstream[0]}:{self._upstream[1]}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            lines += [f"Content-Length: {len(request.body)}", "Connection: close"]
            up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            await up_writer.drain()
            return await _read_response(up_reader)
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _answer(self, kind: str, request: HttpRequest, writer: asyncio.StreamWriter, rng: random.Random) -> None:
        if kind == "hang":
            await asyncio.sleep(self._hang)
            return
        if kind == "reset":
            _reset(writer)
            return
        if kind == "status_5xx":
            status = rng.choice((500, 502, 503, 504))
            body, content_type = (
                (b'{"message": "internal error"}', "application/json")
                if rng.random() < 0.5
                else (b"Service Unavailable", "text/plain")
            )
            await write_response(writer, status, body, content_type=content_type)
            return
        if kind == "status_429":
            await write_response(
                writer, 429, b'{"message": "Too Many Requests"}', headers=[("Retry-After", str(rng.choice((0, 1))))]
            )
            return
        if kind == "html_error":
            await write_response(writer, rng.choice((200, 502, 503)), _HTML, content_type="text/html")
            return
        if kind == "latency":
            await asyncio.sleep(rng.uniform(0.01, 0.12))
        response = await self._forward(request)
        if kind == HOLD:
            await self._released.wait()
        if kind == "reset_after_forward":
            _reset(writer)
            return
        body = response.body
        if kind == "truncated_json":
            body = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
        elif kind == "malformed_json":
            body = rng.choice(_MALFORMED)
        elif kind == "wrong_shape_json":
            body = rng.choice(_WRONG_SHAPE)
        if kind == "cut_body":
            writer.write(encode_head(response.status, response.headers, length=len(body) + 10) + body[: len(body) // 2])
            await writer.drain()
            _reset(writer)
            return
        if kind == "slow_body":
            writer.write(encode_head(response.status, response.headers, length=len(body)))
            await writer.drain()
            pause = rng.uniform(0.0, self._slow) / 4
            for index in range(4):
                await asyncio.sleep(pause)
                writer.write(body[index * len(body) // 4 : (index + 1) * len(body) // 4])
                await writer.drain()
            return
        writer.write(encode_head(response.status, response.headers, length=len(body)) + body)
        await writer.drain()
