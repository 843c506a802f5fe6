"""The one fake Prometheus: the query API, answering what the test or the demo sets.

The project's real Prometheus provider talks to it unchanged. `GET` or `POST /api/v1/query` (and
`/api/v1/query_range`) answers, in this order of precedence, for the query asked:

* `script(query, *answers)`: each `(status, content_type, body)` in turn, the last one repeating
  (a 503 then a success, to see a retry);
* `raw[query] = (status, content_type, body)`: exactly those bytes (garbage included);
* `data[query] = {...}`: that value as the `data` of a success envelope;
* `set_vector(query, [(labels, value, timestamp or None)])`: an instant vector whose values are
  sent as given (Prometheus sends numbers as strings: pass "0.5" for a well-formed answer) and
  whose None timestamps are the evaluation time the client asked for;
* `series_for(query, at)`, given to the constructor: a vector computed for the evaluation time
  (the demo's world, the benchmarks' thousands of apps), its values sent as Prometheus does
  (encoded with orjson: tens of thousands of series are encoded in milliseconds, as Prometheus
  itself answers);
* otherwise an empty vector (an empty matrix for a range query), as Prometheus answers for a
  series that does not exist, which the service must treat as missing, never as zero.

A request without a query, or with a time that is not a number, answers 400 `bad_data`; unknown
paths answer Prometheus's plain `404 page not found`; `/-/ready` answers as Prometheus does.
`received` records every query request (path, parameters, headers), `asked` lists the queries
answered and `requests` counts them; `delay` holds each answer back, and `max_in_flight` tells how
many were being answered at once. aiohttp parses the requests (bodies bounded by
`MAX_BODY_BYTES`) and frames the answers.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from autoscaler.testing.serving import LoopbackSite

__all__ = ["MAX_BODY_BYTES", "FakePrometheus", "Raw", "Received", "Series", "SeriesFor"]

MAX_BODY_BYTES = 1024 * 1024

Series = Sequence[tuple[Mapping[str, str], float]]
SeriesFor = Callable[[str, float], Series]
Raw = tuple[int, str, bytes]  # status, content type, body


@dataclass(frozen=True)
class Received:
    """One query request as the fake received it (header names in lower case)."""

    path: str
    query: str
    params: Mapping[str, str]
    headers: Mapping[str, str]


def _error(status: int, kind: str, text: str) -> web.Response:
    return web.json_response({"status": "error", "errorType": kind, "error": text}, status=status)


class FakePrometheus:
    """Prometheus's instant-query API on 127.0.0.1, answering what was set for each query."""

    def __init__(
        self,
        series_for: SeriesFor | None = None,
        *,
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._series_for = series_for
        self._clock = clock
        self.raw: dict[str, Raw] = {}
        self.data: dict[str, Any] = {}
        self.vectors: dict[str, list[tuple[dict[str, str], Any, float | None]]] = {}
        self.scripts: dict[str, list[Raw]] = {}
        self.asked: list[str] = []
        self.received: list[Received] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        for path in ("/api/v1/query", "/api/v1/query_range"):
            app.router.add_route("GET", path, self._query)
            app.router.add_route("POST", path, self._query)
        app.router.add_get("/-/ready", self._ready)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._site = LoopbackSite(app, port=port)

    @property
    def url(self) -> str:
        if self._site.url is None:
            raise RuntimeError("the fake Prometheus is not started")
        return self._site.url

    @property
    def requests(self) -> int:
        """How many queries were answered."""
        return len(self.asked)

    def count(self, query: str) -> int:
        """How many requests asked for `query`."""
        return sum(1 for received in self.received if received.query == query)

    def script(self, query: str, *answers: Raw) -> None:
        """Answer `query` with these in turn, the last one repeating."""
        self.scripts[query] = list(answers)

    def set_vector(self, query: str, series: Sequence[tuple[dict[str, str], Any, float | None]]) -> None:
        self.vectors[query] = list(series)
        self.data.pop(query, None)

    async def start(self) -> str:
        return await self._site.start()

    async def stop(self) -> None:
        await self._site.stop()

    async def __aenter__(self) -> FakePrometheus:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _ready(self, _request: web.Request) -> web.Response:
        return web.Response(text="Prometheus Server is Ready.\n")

    async def _not_found(self, _request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found\n")

    async def _query(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        query = params.get("query", "")
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append(Received(path=request.path, query=query, params=params, headers=headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay > 0:
                await asyncio.sleep(self.delay)
            return self._answer(query, params, ranged=request.path.endswith("_range"))
        finally:
            self.in_flight -= 1

    def _answer(self, query: str, params: Mapping[str, str], *, ranged: bool) -> web.Response:
        if not query:
            return _error(400, "bad_data", 'invalid parameter "query": no query given')
        try:
            at = float(params["time"]) if "time" in params else self._clock()
        except ValueError:
            return _error(400, "bad_data", 'invalid parameter "time": not a number')
        self.asked.append(query)
        queue = self.scripts.get(query)
        answer = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else self.raw.get(query)
        if answer is not None:
            status, content_type, body = answer
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
        if query in self.data:
            return self._success(self.data[query])
        if ranged:
            return self._success({"resultType": "matrix", "result": []})
        return self._vector(query, at)

    def _vector(self, query: str, at: float) -> web.Response:
        """The vector set for `query`, else the one `series_for` computes for `at`, else an empty one."""
        if query in self.vectors:
            vector = [
                {"metric": labels, "value": [at if ts is None else ts, value]}
                for labels, value, ts in self.vectors[query]
            ]
            return self._success({"resultType": "vector", "result": vector})
        if self._series_for is None:
            return self._success({"resultType": "vector", "result": []})
        vector = [
            {"metric": dict(labels), "value": [at, repr(float(value))]} for labels, value in self._series_for(query, at)
        ]
        if not math.isfinite(at):  # orjson would write null where json writes NaN
            return self._success({"resultType": "vector", "result": vector})
        envelope = {"status": "success", "data": {"resultType": "vector", "result": vector}}
        return web.Response(body=orjson.dumps(envelope), content_type="application/json")

    @staticmethod
    def _success(data: Any) -> web.Response:
        body = json.dumps({"status": "success", "data": data}).encode()
        return web.Response(body=body, content_type="application/json")
