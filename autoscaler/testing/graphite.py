"""A fake of Graphite's render API, answering what the test sets for each target.

`GET /render?target=...&format=json` answers `raw[target] = (status, content_type, body)` as
given (garbage included), else `series[target]` as JSON, else `[]` (Graphite's answer for a target
that matches nothing, which the service must treat as missing). `set_points(target, {name:
(value, timestamp)})` builds one series per name whose newest bucket holds the value, after an
older null bucket, as Graphite shows a partial interval. `asked` lists the targets asked.
aiohttp parses the requests and frames the answers.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from autoscaler.testing.prometheus import Raw
from autoscaler.testing.serving import LoopbackSite

__all__ = ["FakeGraphite"]


class FakeGraphite:
    """Graphite's `/render` on 127.0.0.1."""

    def __init__(self, *, port: int = 0) -> None:
        self.raw: dict[str, Raw] = {}
        self.series: dict[str, Any] = {}
        self.asked: list[str] = []
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/render", self._render)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._site = LoopbackSite(app, port=port)

    @property
    def url(self) -> str:
        if self._site.url is None:
            raise RuntimeError("the fake Graphite is not started")
        return self._site.url

    def set_points(self, target: str, points: dict[str, tuple[Any, float]]) -> None:
        self.series[target] = [
            {"target": name, "datapoints": [[None, ts - 60], [value, ts]]} for name, (value, ts) in points.items()
        ]

    async def start(self) -> str:
        return await self._site.start()

    async def stop(self) -> None:
        await self._site.stop()

    async def __aenter__(self) -> FakeGraphite:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _not_found(self, _request: web.Request) -> web.Response:
        return web.Response(status=404, text="<h1>Not Found</h1>", content_type="text/html")

    async def _render(self, request: web.Request) -> web.Response:
        target = request.query.get("target", "")
        self.asked.append(target)
        if target in self.raw:
            status, content_type, body = self.raw[target]
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
        body = json.dumps(self.series.get(target, [])).encode()
        return web.Response(body=body, content_type="application/json")
