"""A webhook endpoint on loopback that records every POST, for the sinks that post: notifications
(Slack, DingTalk, WeCom, JSON) and Graphite's events.

Each POST is kept in `received` (path, query, JSON body, headers) in the order it came. What it
answers is the test's to set: `status`, and `answer` as the JSON body (a chat webhook's verdict;
None answers no body, as graphite-web does). With `hang` (an asyncio.Event) every answer waits for
the test to set it, at most `max_hang` seconds, so a test can hold a sender mid-request; `stop()`
sets it, so no answer outlives the test. aiohttp parses the requests and frames the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autoscaler.testing.serving import LoopbackSite

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    """One POST as it arrived: headers by lower-case name, the body decoded as JSON."""

    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


class WebhookReceiver:
    """`async with WebhookReceiver() as hook:` then point a sender at `hook.url("/path")`."""

    def __init__(
        self,
        *,
        status: int = 200,
        answer: Any = None,
        hang: asyncio.Event | None = None,
        max_hang: float = 10.0,
    ) -> None:
        self.status = status
        self.answer = answer
        self.hang = hang
        self.max_hang = max_hang
        self.received: list[Received] = []
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/{tail:.*}", self._post)
        self._site = LoopbackSite(app)

    def url(self, path: str = "") -> str:
        if self._site.url is None:
            raise RuntimeError("the webhook receiver is not started")
        return self._site.url + path

    async def start(self) -> str:
        return await self._site.start()

    async def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        await self._site.stop()

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.received.append(
            Received(
                path=request.path,
                query=dict(request.query),
                body=json.loads(raw),
                headers={name.lower(): value for name, value in request.headers.items()},
            )
        )
        if self.hang is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.hang.wait(), self.max_hang)
        if self.answer is None:
            return web.Response(status=self.status)
        return web.json_response(self.answer, status=self.status)
