"""A Prometheus-HTTP-API-compatible endpoint whose values come from a function, not from scraping.

It answers instant queries (`GET/POST /api/v1/query`) with a vector computed by the caller's
`series_for(query, at)` for the requested evaluation time, in Prometheus's exact response shape, so
the project's real Prometheus provider talks to it unchanged. The demo uses it as its built-in metrics
source; benchmarks use it to serve one grouped vector for thousands of apps. Unknown queries answer an
empty vector, as Prometheus does for a series that does not exist. It counts the requests it served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit

Series = Sequence[tuple[Mapping[str, str], float]]
SeriesFor = Callable[[str, float], Series]

_MAX_BODY = 1024 * 1024


class MetricsServer:
    """Serves `series_for(query, evaluation_time)` as Prometheus instant-query vectors on 127.0.0.1."""

    def __init__(self, series_for: SeriesFor, *, port: int = 0, clock: Callable[[], float] = time.time) -> None:
        self._series_for = series_for
        self._port = port
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._url: str | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the metrics server is not started")
        return self._url

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, host="127.0.0.1", port=self._port)
        port = self._server.sockets[0].getsockname()[1]
        self._url = f"http://127.0.0.1:{port}"
        return self._url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                length = 0
                keep_alive = True
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = min(int(value.strip() or 0), _MAX_BODY)
                    if name.strip().lower() == "connection" and value.strip().lower() == "close":
                        keep_alive = False
                body = await reader.readexactly(length) if length else b""
                status, payload = self._answer(method, target, body)
                data = json.dumps(payload).encode()
                head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                writer.write(head.encode() + data)
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    def _answer(self, method: str, target: str, body: bytes) -> tuple[str, object]:
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query))
        if method == "POST":
            params.update(parse_qsl(body.decode("utf-8", "replace")))
        if parts.path == "/-/ready":
            return "200 OK", "Prometheus Server is Ready."
        if parts.path != "/api/v1/query":
            return "404 Not Found", {"status": "error", "errorType": "not_found", "error": "not found"}
        query = params.get("query", "")
        if not query:
            return "400 Bad Request", {"status": "error", "errorType": "bad_data", "error": "no query given"}
        try:
            at = float(params["time"]) if "time" in params else self._clock()
        except ValueError:
            return "400 Bad Request", {"status": "error", "errorType": "bad_data", "error": "bad time"}
        self.requests += 1
        result = [
            {"metric": dict(labels), "value": [at, repr(float(value))]} for labels, value in self._series_for(query, at)
        ]
        return "200 OK", {"status": "success", "data": {"resultType": "vector", "result": result}}
