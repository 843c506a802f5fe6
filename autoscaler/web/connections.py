"""aiohttp's connection handling with the status server's limits: a connection cap and a total byte
cap on a request's head.

aiohttp limits each header line and the number of headers, but not their total, and accepts every
connection. Here a new connection over the cap closes the oldest one that is not being answered
(none: the new one is closed), and a request head (or an unread body) that grows past the byte cap
closes its connection. Imported by the server's thread only.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

if TYPE_CHECKING:
    from autoscaler.web.server import ServerLimits

__all__ = ["PROTOCOL_LOG", "CappedServer"]

# aiohttp logs every malformed request with a traceback: hostile clients would fill the log. What
# they sent is answered (400) and dropped; the service's log stays for the service.
PROTOCOL_LOG = logging.getLogger("autoscaler.server.protocol")
PROTOCOL_LOG.setLevel(logging.CRITICAL)


class _Handler(RequestHandler):
    """aiohttp's connection handler, closing a connection whose request head (or unread body) grows
    past the byte cap before it is complete."""

    def __init__(self, manager: web.Server, *, max_head_bytes: int, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._head_limit = max_head_bytes
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        before = getattr(self, "_request_count", 0)
        super().data_received(data)
        if getattr(self, "_request_count", 0) != before:
            self._head_bytes = 0
            return
        self._head_bytes += len(data)
        if self._head_bytes > self._head_limit:
            self.force_close()


class _Refused:
    """An asyncio protocol for a connection over the cap when none can make room: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        pass


class CappedServer(web.Server):
    def __init__(self, handler: Any, *, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limits = limits
        # every handler made and not yet lost, oldest first (aiohttp registers a connection only
        # once asyncio calls connection_made, after a whole burst of accepts)
        self._live: dict[RequestHandler, None] = {}
        self._closing: weakref.WeakSet[RequestHandler] = weakref.WeakSet()  # evicted, not yet gone
        self.evicted = 0

    @property
    def open_connections(self) -> int:
        """Connections that are open and not being closed."""
        return sum(1 for handler in list(self._live) if handler not in self._closing)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self._live.pop(handler, None)
        super().connection_lost(handler, exc)

    def __call__(self) -> RequestHandler:
        connections = self._connections
        if self.open_connections >= self._limits.max_connections:
            victim = next(
                (
                    handler
                    for handler in self._live
                    if handler not in self._closing and not getattr(handler, "_request_in_progress", False)
                ),
                None,
            )
            if victim is None:
                return cast(RequestHandler, _Refused())
            self.evicted += 1
            self._closing.add(victim)
            transport = connections.get(victim) or victim.transport
            victim.force_close()
            if transport is not None:
                transport.close()
        handler = _Handler(self, loop=self._loop, max_head_bytes=self._limits.max_header_bytes, **self._kwargs)
        self._live[handler] = None
        return handler
