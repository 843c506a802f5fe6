"""A hostile HTTP server on loopback: answers that trickle, never end, are huge, nest deep or redirect.

Runs in the test's own event loop on 127.0.0.1 and a free port. `respond` chooses an `Answer` per
request; the server records every request, how many bytes of each answer it got out, and when the
client hung up, so a test can prove that a client stopped reading at its limit or its deadline
rather than only that it returned. Every answer is bounded in time (`max_seconds`): no test can
leave it running, and every answer ends its connection.

aiohttp parses the requests, and frames every answer it can express: a plain one, a huge one (its
body sent again and again), one whose body trickles after the head. Two answers are misbehaviour
below HTTP that aiohttp, being correct, cannot produce: a head that trickles from the status line
on, and a body with no declared length that ends when the connection does (aiohttp would chunk
it). Only those two are written here as raw bytes, through aiohttp's own transport writer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from aiohttp import web

from autoscaler.testing.proxy import HttpRequest, hang_up, received
from autoscaler.testing.serving import LoopbackSite


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    trickle: float | None = None  # seconds between single bytes, from the status line on
    trickle_after_head: bool = False  # send the head at once, then trickle the body
    repeat_body: int = 1  # the body is sent this many times (a huge answer without building it)
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection does


@dataclass
class Served:
    request: HttpRequest
    started: float
    sent: int = 0  # bytes of the answer the client took
    hung_up_after: float | None = None  # seconds from the request to the client closing, if it did


def _raw_head(answer: Answer, *, length: int | None) -> bytes:
    """The head of an answer aiohttp would not send: its status line and headers, as bytes."""
    lines = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


@dataclass
class HostileServer:
    respond: Callable[[HttpRequest], Answer]
    max_seconds: float = 20.0
    served: list[Served] = field(default_factory=list)
    url: str = ""
    _site: LoopbackSite | None = None
    _closing: bool = False

    async def start(self) -> str:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._site = LoopbackSite(app, shutdown_timeout=5.0)
        self.url = await self._site.start()
        return self.url

    async def stop(self) -> None:
        self._closing = True  # every answer still being sent ends at its next byte
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def __aenter__(self) -> HostileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _over(self, served: Served, request: web.Request) -> bool:
        return self._closing or _gone(request) or time.monotonic() > served.started + self.max_seconds

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        served = Served(await received(request), time.monotonic())
        self.served.append(served)
        answer = self.respond(served.request)
        length = len(answer.body) * answer.repeat_body
        response: web.StreamResponse | None = None
        try:
            if answer.trickle is not None and not answer.trickle_after_head:
                payload = _raw_head(answer, length=length) + answer.body * answer.repeat_body
                await self._trickle(payload, pause=answer.trickle, served=served, request=request)
            elif not answer.declare_length:
                await self._raw(_raw_head(answer, length=None), answer, served, request)
            else:
                response = web.StreamResponse(status=answer.status, headers=dict(answer.headers))
                response.content_length = length
                response.force_close()
                await response.prepare(request)
                if answer.trickle is not None:
                    payload = answer.body * answer.repeat_body
                    await self._trickle(
                        payload, pause=answer.trickle, served=served, request=request, response=response
                    )
                else:
                    for _ in range(answer.repeat_body):
                        if self._over(served, request):
                            break
                        await response.write(answer.body)
                        served.sent += len(answer.body)
                if not _gone(request):
                    await response.write_eof()
        except (ConnectionError, OSError):
            pass
        if _gone(request):
            served.hung_up_after = time.monotonic() - served.started
        hang_up(request)
        return response or web.Response()  # the connection is closed: nothing more reaches the client

    async def _raw(self, head: bytes, answer: Answer, served: Served, request: web.Request) -> None:
        await request.writer.write(head)
        served.sent += len(head)
        for _ in range(answer.repeat_body):
            if self._over(served, request):
                return
            await request.writer.write(answer.body)
            served.sent += len(answer.body)

    async def _trickle(
        self,
        payload: bytes,
        *,
        pause: float,
        served: Served,
        request: web.Request,
        response: web.StreamResponse | None = None,
    ) -> None:
        """One byte at a time: as raw bytes (`response` None: the head included) or as its body."""
        for index in range(len(payload)):
            if self._over(served, request):
                return
            byte = payload[index : index + 1]
            if response is None:
                await request.writer.write(byte)
                await request.writer.drain()
            else:
                await response.write(byte)
            served.sent += 1
            await asyncio.sleep(pause)


def nested(depth: int) -> bytes:
    """A JSON array nested `depth` deep: 2 bytes a level."""
    return b"[" * depth + b"]" * depth
