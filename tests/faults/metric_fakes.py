"""Tiny fakes of the Prometheus query API and the Graphite render API, for fault and restart tests.

The real servers are proven elsewhere (tests/integration); here what matters is full control over
every byte a metric source answers, cheaply and from the test's own event loop: each fake answers
exactly what the test set for a query, including garbage, and records what it was asked. Unknown
queries get an empty result, which the service must treat as missing, never as zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.faults.proxy import HttpRequest, read_request, write_response

Raw = tuple[int, str, bytes]  # status, content type, body


class _TinyServer:
    """One request per connection on 127.0.0.1, answered by `respond`."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.url = ""
        self.asked: list[str] = []
        self.raw: dict[str, Raw] = {}  # query -> an exact answer, overriding everything

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is not None:
                status, content_type, body = self._respond(request)
                await write_response(writer, status, body, content_type=content_type)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, request: HttpRequest) -> Raw:
        raise NotImplementedError


def _json(payload: Any) -> Raw:
    return 200, "application/json", json.dumps(payload).encode()


class PrometheusAPI(_TinyServer):
    """`GET /api/v1/query`: answers `data[query]` as the `data` of a success envelope.

    `set_vector(query, [(labels, value, timestamp or None)])` builds an instant vector; a None
    timestamp means "the evaluation time the client asked for"; `value` is sent as given
    (Prometheus sends numbers as strings, so pass "0.5" for a well-formed answer).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self._clock = clock
        self.data: dict[str, Any] = {}
        self.vectors: dict[str, list[tuple[dict[str, str], Any, float | None]]] = {}

    def set_vector(self, query: str, series: Sequence[tuple[dict[str, str], Any, float | None]]) -> None:
        self.vectors[query] = list(series)
        self.data.pop(query, None)

    def _respond(self, request: HttpRequest) -> Raw:
        split = urlsplit(request.target)
        if split.path != "/api/v1/query":
            return 404, "text/plain", b"404 page not found"
        params = dict(parse_qsl(split.query or request.body.decode("latin-1")))
        query = params.get("query", "")
        self.asked.append(query)
        if query in self.raw:
            return self.raw[query]
        if query in self.data:
            return _json({"status": "success", "data": self.data[query]})
        at = float(params["time"]) if "time" in params else (self._clock() if self._clock else 0.0)
        result = [
            {"metric": labels, "value": [at if ts is None else ts, value]}
            for labels, value, ts in self.vectors.get(query, [])
        ]
        return _json({"status": "success", "data": {"resultType": "vector", "result": result}})


class GraphiteAPI(_TinyServer):
    """`GET /render?target=...&format=json`: answers `series[target]` (raw JSON), else `[]`.

    `set_points(target, {name: (value, timestamp)})` builds one series per name whose newest
    bucket holds the value (and an older null bucket, as Graphite shows partial intervals).
    """

    def __init__(self) -> None:
        super().__init__()
        self.series: dict[str, Any] = {}

    def set_points(self, target: str, points: dict[str, tuple[Any, float]]) -> None:
        self.series[target] = [
            {"target": name, "datapoints": [[None, ts - 60], [value, ts]]} for name, (value, ts) in points.items()
        ]

    def _respond(self, request: HttpRequest) -> Raw:
        split = urlsplit(request.target)
        if split.path != "/render":
            return 404, "text/html", b"<h1>Not Found</h1>"
        target = dict(parse_qsl(split.query)).get("target", "")
        self.asked.append(target)
        if target in self.raw:
            return self.raw[target]
        return _json(self.series.get(target, []))
