"""The status server: aiohttp's web server in a thread of its own, with its own event loop.

Why a thread: the control loop's event loop must never serve a request. A hand-written server on
that loop let 60 polling clients stretch 5 s ticks to 33 s and let 300 connections with big headers
take 500 MB. Here the requests, their parsing (aiohttp's, not ours), compression and the building of
views happen on the server's loop and its builder thread; the control loop only records its report
in the ServiceStatus (under a lock held for microseconds) and goes on.

Limits, all in `ServerLimits` (settings `AUTOSCALER_SERVER_*`): a connection cap (at the cap a new
connection closes the oldest one that is not being answered, so slow or idle clients cannot lock out
a health check); a request line and header size cap, per line and in total (the connection is closed
past it); a read timeout (the head of a request must arrive within it, from the connection or the
previous response; it is also the keep-alive idle timeout); a write timeout (a client that does not
read its response in time is dropped); bodies are never read, and a body past the header cap closes
the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from autoscaler.selfmetrics import SelfMetrics
from autoscaler.status import ServiceStatus
from autoscaler.web.cache import ViewCache
from autoscaler.web.routes import StatusRoutes

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerLimits", "StatusServer"]

DEFAULT_HOST = "0.0.0.0"  # the container's address; tests and local runs pass 127.0.0.1
DEFAULT_PORT = 8080

log = logging.getLogger("autoscaler.server")
# aiohttp logs every malformed request with a traceback: hostile clients would fill the log. What
# they sent is answered (400) and dropped; the service's log stays for the service.
_protocol_log = logging.getLogger("autoscaler.server.protocol")
_protocol_log.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 128
    max_header_bytes: int = 32 * 1024  # request line and headers of one request, in total
    read_timeout: float = 10.0  # seconds for a request's head to arrive (and idle keep-alive)
    write_timeout: float = 10.0  # seconds to write a response
    cache_bytes: int = 32 * 1024 * 1024  # built views kept for reuse

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_header_bytes < 1024:
            raise ValueError("the status server needs at least 1 connection and 1 KiB of headers")
        if self.read_timeout <= 0 or self.write_timeout <= 0:
            raise ValueError("the status server's timeouts must be positive")


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


class _CappedServer(web.Server):
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


class StatusServer:
    """Serves the status of one running service from its own thread. `await start()`, `await stop()`.

    `clock` gives the `now` of every request (heartbeat age, schedule windows). `api_token`, when
    set, protects `/api/` and the details of `/readyz`.
    """

    def __init__(
        self,
        *,
        status: ServiceStatus,
        metrics: SelfMetrics,
        clock: Callable[[], datetime],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        api_token: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self.host = host
        self.port = port
        self.limits = limits or ServerLimits()
        self._clock = clock
        self._token = api_token
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._url: str | None = None
        self._server: _CappedServer | None = None
        self._builder: concurrent.futures.ThreadPoolExecutor | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._fold_scheduled = False
        self.cache: ViewCache | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the status server is not started")
        return self._url

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The server's own event loop (never the caller's), while it runs."""
        return self._loop

    @property
    def connections(self) -> int:
        return self._server.open_connections if self._server is not None else 0

    async def start(self) -> str:
        """Listen on host:port (port 0 picks a free one) in the server's thread; return the base URL."""
        if self._thread is not None:
            return self.url
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="status-server", daemon=True)
        self._thread.start()
        try:
            self._url = await asyncio.wrap_future(ready)
        except BaseException:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            raise
        log.info("status server listening on %s", self._url, extra={"fields": {"event": "server_start"}})
        return self._url

    async def stop(self) -> None:
        """Stop listening, end every open connection and the server's thread."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if loop is not None and stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopped.set)
        await asyncio.to_thread(thread.join)
        self._thread = None
        self._url = None

    async def __aenter__(self) -> StatusServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- the server's thread ---------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[str]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # start-up failed (e.g. the port is taken): the caller raises it
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.exception("status server stopped on an error")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._loop = None

    async def _serve(self, ready: concurrent.futures.Future[str]) -> None:
        limits = self.limits
        self._stopped = asyncio.Event()
        self._builder = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="status-views")
        self.cache = ViewCache(executor=self._builder, max_bytes=limits.cache_bytes)
        routes = StatusRoutes(
            status=self.status,
            metrics=self.metrics,
            clock=self._clock,
            cache=self.cache,
            api_token=self._token,
            write_timeout=limits.write_timeout,
        )
        app = routes.application()
        # What aiohttp's AppRunner does, with the capped server in place of its own: the connection
        # cap needs to see each new connection before aiohttp's handler takes it.
        app._set_loop(asyncio.get_running_loop())
        app.on_startup.freeze()
        await app.startup()
        app.freeze()
        field = min(8190, limits.max_header_bytes)
        self._server = _CappedServer(
            app._handle,
            limits=limits,
            request_factory=app._make_request,
            handler_cancellation=True,
            keepalive_timeout=limits.read_timeout,
            max_line_size=field,
            max_field_size=field,
            max_headers=max(8, limits.max_header_bytes // 256),
            lingering_time=0,
            access_log=None,
            logger=_protocol_log,
            loop=asyncio.get_running_loop(),
        )
        loop = asyncio.get_running_loop()
        listener = await loop.create_server(self._server, host=self.host, port=self.port, backlog=128)
        try:
            address = listener.sockets[0].getsockname()
            host = f"[{address[0]}]" if ":" in address[0] else address[0]
            self._unsubscribe = self.status.subscribe(self._changed)
            ready.set_result(f"http://{host}:{address[1]}")
            self._schedule_fold()
            await self._stopped.wait()
        finally:
            listener.close()
            await self._server.shutdown(timeout=1.0)
            with contextlib.suppress(Exception):
                await listener.wait_closed()
            await app.cleanup()
            self._builder.shutdown(wait=True, cancel_futures=True)
            self._server = None

    def _changed(self) -> None:
        """The status changed (called on the writer's thread): fold its new report in the builder."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._schedule_fold)

    def _schedule_fold(self) -> None:
        if self._fold_scheduled or self._builder is None:
            return
        self._fold_scheduled = True

        def fold() -> None:
            self._fold_scheduled = False
            self.status.fold()

        with contextlib.suppress(RuntimeError):  # the builder is shutting down
            self._builder.submit(fold)
