"""The status server: aiohttp's web server in a thread of its own, with its own event loop.

Why a thread: the control loop's event loop must never serve a request. A hand-written server on
that loop let 60 polling clients stretch 5 s ticks to 33 s and let 300 connections with big headers
take 500 MB. Here the requests, their parsing (aiohttp's, not ours), compression and the building of
views happen on the server's loop and its builder thread; the control loop only records its report
in the ServiceStatus (under a lock held for microseconds) and goes on.

Limits, all in `ServerLimits` (settings `AUTOSCALER_SERVER_*`; the connection-level ones are in
`autoscaler.web.connections`): a connection cap (at the cap a new
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from autoscaler.sinks.selfmetrics import SelfMetrics
from autoscaler.sinks.status import ServiceStatus
from autoscaler.web.cache import ViewCache

if TYPE_CHECKING:
    from autoscaler.web.connections import CappedServer

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServerLimits", "StatusServer"]

DEFAULT_HOST = "0.0.0.0"  # the container's address; tests and local runs pass 127.0.0.1
DEFAULT_PORT = 8080

log = logging.getLogger("autoscaler.server")


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
        self._server: CappedServer | None = None
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
        # aiohttp is imported here, in the server's thread: its import (a second or more on a busy
        # machine) does not hold up the service's start or its first ticks.
        from autoscaler.web.connections import PROTOCOL_LOG, CappedServer  # noqa: PLC0415
        from autoscaler.web.routes import StatusRoutes  # noqa: PLC0415

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
        self._server = CappedServer(
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
            logger=PROTOCOL_LOG,
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
