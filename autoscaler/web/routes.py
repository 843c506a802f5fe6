"""The status server's routes on aiohttp: health, readiness, metrics, the JSON API and the dashboard.

Routes:
- `/healthz`: 200 while ticks are happening (the loop's heartbeat: last tick age against three
  intervals), else 503; it reads two timestamps and never waits for anything else;
- `/readyz`: 200 when policies are loaded and the last tick reached Marathon, else 503 with why;
  without the API token it says only whether policy problems exist and how many;
- `/metrics`: the service's own metrics, rendered once per tick;
- `/api/v1/summary`: counts per code, problems, recent scale actions, the tick, the codes;
- `/api/v1/apps?q=&problem=1&offset=0&limit=50&trend=1`: a page of apps;
- `/api/v1/apps/<app id>`, `/api/v1/apps/<app id>/decisions`: one app, its recent decisions;
- `/` and `/static/...`: the dashboard (package files under a strict Content-Security-Policy).

With an API token, `/api/` answers 401 unless the request carries `Authorization: Bearer <token>`.
Everything served comes from the status and the metrics, which hold no settings or credentials.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from aiohttp import web

from autoscaler.core.units import format_duration
from autoscaler.sinks.selfmetrics import CONTENT_TYPE, SelfMetrics, observe_status
from autoscaler.sinks.status import ServiceStatus, StatusSnapshot
from autoscaler.web.cache import Body, ViewCache
from autoscaler.web.values import outcome_json
from autoscaler.web.views import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY,
    AppIndex,
    app_json,
    page_json,
    summary_json,
    trend_json,
)

__all__ = ["Clock", "StatusRoutes"]

Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_API_APPS = "/api/v1/apps"
_JSON = "application/json; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_CHUNK = 64 * 1024
_MAX_OFFSET = 10_000_000
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)

log = logging.getLogger("autoscaler.server")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _text(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, body=(text.rstrip("\n") + "\n").encode(), content_type=None,
                        headers={"Content-Type": _TEXT, **headers})  # fmt: skip


def _json(status: int, payload: Any, **headers: str) -> web.Response:
    return web.Response(status=status, body=_dumps(payload), headers={"Content-Type": _JSON, **headers})


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etag_matches(request: web.Request, etag: str) -> bool:
    given = request.headers.get("If-None-Match")
    if given is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
    return "*" in tags or etag in tags


def _static_file(name: str) -> bytes:
    return resources.files("autoscaler.web").joinpath("static", name).read_bytes()


@dataclass
class _Index:
    version: int
    index: AppIndex


class StatusRoutes:
    """The handlers of one status server; they run on the server's own event loop."""

    def __init__(
        self,
        *,
        status: ServiceStatus,
        metrics: SelfMetrics,
        clock: Clock,
        cache: ViewCache,
        api_token: str | None,
        write_timeout: float,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self.clock = clock
        self.cache = cache
        self._token = api_token.encode() if api_token else None
        self._write_timeout = write_timeout
        self._index: _Index | None = None  # touched by the builder thread only
        self._page = _static_file("index.html")
        self._static = {name: Body.of(_static_file(name), kind) for name, kind in _STATIC.items()}

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1024, handler_args=None)
        router = app.router
        router.add_get("/healthz", self.healthz)
        router.add_get("/readyz", self.readyz)
        router.add_get("/metrics", self.metrics_view)
        router.add_get("/", self.page)
        router.add_get("/index.html", self.page)
        router.add_get("/static/{name}", self.static)
        router.add_get("/api/v1/summary", self.summary)
        router.add_get(_API_APPS, self.apps)
        router.add_get(_API_APPS + "/{app_id:.*}", self.app)
        router.add_get("/api{rest:(/.*)?}", self.api_not_found)
        return app

    # --- every request ---------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            response: web.StreamResponse = _text(405, "only GET and HEAD", Allow="GET, HEAD")
            response.force_close()  # its body is never read: the connection cannot be reused
        elif (request.path == "/api" or request.path.startswith("/api/")) and not self._authorized(request):
            response = web.Response(
                status=401,
                body=b'{"error":"an API token is required: send Authorization: Bearer <token>"}',
                headers={"Content-Type": _JSON, "WWW-Authenticate": 'Bearer realm="autoscaler"'},
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPNotFound:
                response = _text(404, f"not found: {request.path[:200]}")
            except web.HTTPException as exc:
                response = _text(exc.status, exc.reason)
            except Exception:  # a bug in one view must not take the server down or leak a trace
                log.exception("status server failed on %s", request.path[:200])
                response = _text(500, "internal error (see the service log)")
        if not response.prepared:
            response.headers.setdefault("Cache-Control", "no-store")
            for name, value in _SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    async def _send(
        self, request: web.Request, body: Body, *, cache: str = "no-cache", **extra: str
    ) -> web.StreamResponse:
        """The body, gzip-compressed when the client accepts it, with its ETag (304 when it matches),
        written in chunks within the write timeout: a client that does not read is dropped."""
        packed = body.gzipped is not None and _accepts_gzip(request)
        etag = body.gzip_etag if packed else body.etag
        headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": cache, **_SECURITY_HEADERS, **extra}
        if _etag_matches(request, etag):
            return web.Response(status=304, headers=headers)
        data = body.gzipped if packed and body.gzipped is not None else body.data
        headers["Content-Type"] = body.content_type
        if packed:
            headers["Content-Encoding"] = "gzip"
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = len(data)
        try:
            async with asyncio.timeout(self._write_timeout):
                await response.prepare(request)
                if request.method != "HEAD":
                    view = memoryview(data)
                    for start in range(0, len(data), _CHUNK):
                        await response.write(view[start : start + _CHUNK])
                await response.write_eof()
        except TimeoutError:
            if request.transport is not None:
                request.transport.abort()
        return response

    # --- health, readiness, metrics --------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        status, now = self.status, self.clock()
        anchor = status.last_tick_at or status.started_at
        age = format_duration(max(now - anchor, timedelta(0)))
        what = f"last tick {age} ago" if status.last_tick_at is not None else f"started {age} ago, no tick yet"
        if status.heartbeat_fresh(now):
            return _text(200, f"ok: {what}")
        return _text(503, f"stale: {what}; ticks are expected at least every {format_duration(3 * status.interval)}")

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        snapshot = self.status.snapshot()
        detail = self._authorized(request)
        ready, reason = snapshot.readiness(detail=detail)
        lines = ["ready" if ready else f"not ready: {reason}"]
        if snapshot.role == "follower":
            lines.append("role: follower (ready; the leader does the writing, this instance only decides)")
        else:
            lines.append(f"role: {snapshot.role}")
        problems = snapshot.policy_problems
        if problems:
            errors = sum(1 for p in problems if p.severity == "error")
            lines.append(
                f"policy problems: {errors} error(s), {len(problems) - errors} warning(s); "
                f"{len(snapshot.policies)} valid policies loaded"
            )
            if detail:
                lines.extend(f"  {problem}" for problem in problems[:50])
            else:
                lines.append("  (details with the API token: Authorization: Bearer <token>)")
        return _text(200 if ready else 503, "\n".join(lines))

    async def metrics_view(self, request: web.Request) -> web.StreamResponse:
        stamp = (self.status.version, self.metrics.generation)

        def build() -> Body:
            snapshot = self.status.snapshot()
            observe_status(self.metrics, snapshot)
            return Body.of(self.metrics.render(), CONTENT_TYPE)

        return await self._send(request, await self.cache.get("metrics", stamp, build), cache="no-store")

    # --- the dashboard ---------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=200,
            body=self._page,
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_CSP},
        )

    async def static(self, request: web.Request) -> web.StreamResponse:
        body = self._static.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return await self._send(request, body)

    # --- the API ---------------------------------------------------------------------------------

    def _time_stamp(self) -> tuple[int, int]:
        """A view that shows time-dependent facts (healthy, windows in force) is rebuilt at least every
        interval, even when no tick came."""
        step = max(1.0, self.status.interval.total_seconds())
        return self.status.version, int(self.clock().timestamp() // step)

    def _index_of(self, snapshot: StatusSnapshot) -> AppIndex:
        current = self._index
        if current is None or current.version != snapshot.version:
            current = self._index = _Index(snapshot.version, AppIndex.of(snapshot))
        return current.index

    async def summary(self, request: web.Request) -> web.StreamResponse:
        def build() -> Body:
            snapshot = self.status.snapshot()
            actions = self.status.recent_actions(50)
            body = summary_json(snapshot, self._index_of(snapshot), now=self.clock(), actions=actions)
            return Body.of(_dumps(body), _JSON)

        return await self._send(
            request, await self.cache.get("summary", self._time_stamp(), build), cache="private, no-cache"
        )

    async def apps(self, request: web.Request) -> web.StreamResponse:
        try:
            query, problems, offset, limit, trend = _page_params(request.query)
        except ValueError as exc:
            return _json(400, {"error": str(exc)})

        def build() -> Body:
            snapshot = self.status.snapshot()
            trend_of = self._trend_of if trend else None
            body = page_json(
                snapshot,
                self._index_of(snapshot),
                now=self.clock(),
                query=query,
                problems_only=problems,
                offset=offset,
                limit=limit,
                trend_of=trend_of,
            )
            return Body.of(_dumps(body), _JSON)

        key = ("apps", query, problems, offset, limit, trend)
        return await self._send(
            request, await self.cache.get(key, self._time_stamp(), build), cache="private, no-cache"
        )

    def _trend_of(self, app_id: str) -> dict[str, Any]:
        return trend_json(self.status.trend(app_id), step=self.status.trend_step)

    async def app(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["app_id"].rstrip("/")
        if not tail:
            return await self.apps(request)
        app_id = "/" + tail
        snapshot = self.status.snapshot()
        policies = snapshot.policies
        if app_id.endswith("/decisions") and app_id not in policies:
            app_id = app_id.removesuffix("/decisions")
            if app_id in policies:
                decisions = [outcome_json(o) for o in self.status.recent(app_id)]
                return _json(
                    200, {"app": app_id, "role": snapshot.role, "order": "oldest first", "decisions": decisions}
                )
        elif app_id in policies:
            body = app_json(snapshot, app_id, now=self.clock(), trend=self._trend_of(app_id))
            return await self._send(request, Body.of(_dumps(body), _JSON), cache="private, no-cache")
        return _json(404, {"error": f"no policy manages {app_id[:200]}", "managed_apps": sorted(policies)[:MAX_LIMIT]})

    async def api_not_found(self, request: web.Request) -> web.StreamResponse:
        return _json(404, {"error": f"no such API route: {request.path[:200]}"})


def _page_params(query: Mapping[str, str]) -> tuple[str, bool, int, int, bool]:
    """q (search text), problem (1: problems only), offset, limit (1 to 500), trend (1: with trends)."""

    def flag(name: str) -> bool:
        value = query.get(name, "").strip().lower()
        if value in ("", "0", "false", "no"):
            return False
        if value in ("1", "true", "yes"):
            return True
        raise ValueError(f"{name} must be 1 or 0, not {value[:20]!r}")

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = query.get(name, "").strip()
        if not raw:
            return default
        if not raw.isdigit() or len(raw) > 9:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, not {raw[:20]!r}")
        return min(max(int(raw), low), high)

    return (
        query.get("q", "")[:MAX_QUERY],
        flag("problem"),
        integer("offset", 0, 0, _MAX_OFFSET),
        integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        flag("trend"),
    )
