"""A hostile HTTP server on loopback: answers that trickle, never end, are huge, nest deep or redirect.

Runs in the test's own event loop on 127.0.0.1 and a free port. `respond` chooses an `Answer` per
request; the server records every request, how many bytes of each answer it got out, and when the
client hung up, so a test can prove that a client stopped reading at its limit or its deadline
rather than only that it returned. Every answer is bounded in time (`max_seconds`): no test can
leave it running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.faults.proxy import HttpRequest, encode_head, read_request


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


@dataclass
class HostileServer:
    respond: Callable[[HttpRequest], Answer]
    max_seconds: float = 20.0
    served: list[Served] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)
    _closing: bool = False

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self._closing = True  # every answer still being sent ends at its next byte
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    async def __aenter__(self) -> HostileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            while True:  # keep-alive: one connection may carry several requests
                request = await read_request(reader)
                if request is None:
                    return
                served = Served(request, time.monotonic())
                self.served.append(served)
                answer = self.respond(request)
                if not await self._send(answer, served, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _send(
        self, answer: Answer, served: Served, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Send one answer; False when the connection is over (the client hung up, or time is up)."""
        head = encode_head(answer.status, list(answer.headers), length=len(answer.body) * answer.repeat_body)
        if not answer.declare_length:
            head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length"))
        deadline = served.started + self.max_seconds
        try:
            if answer.trickle is None:
                writer.write(head)
                served.sent += len(head)
                for _ in range(answer.repeat_body):
                    writer.write(answer.body)
                    await writer.drain()
                    served.sent += len(answer.body)
                    if time.monotonic() > deadline or self._closing:
                        return False
                return False  # Connection: close
            payload = answer.body * answer.repeat_body
            if answer.trickle_after_head:
                writer.write(head)
                await writer.drain()
                served.sent += len(head)
            else:
                payload = head + payload
            for index in range(len(payload)):
                if reader.at_eof() or writer.is_closing() or time.monotonic() > deadline or self._closing:
                    break
                writer.write(payload[index : index + 1])
                await writer.drain()
                served.sent += 1
                await asyncio.sleep(answer.trickle)
        except (ConnectionError, OSError):
            pass
        if reader.at_eof() or writer.is_closing():
            served.hung_up_after = time.monotonic() - served.started
        return False


def nested(depth: int) -> bytes:
    """A JSON array nested `depth` deep: 2 bytes a level."""
    return b"[" * depth + b"]" * depth
