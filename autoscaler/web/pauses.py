"""The status server's pause routes: pause and resume an app, a group or every app.

- `POST /api/v1/apps/<app id>/pause` with `{"for": "2h", "reason": "...", "by": "..."}` (every
  field optional: 1h, no reason, `api`); the id may be a group, `/api/v1/apps/shop/*/pause`;
- `DELETE /api/v1/apps/<app id>/pause`: lifts the pause of exactly that id or group;
- `POST /api/v1/pause`, `DELETE /api/v1/pause`: the same for every app (`*`);
- `GET /api/v1/pauses`: the pauses in force.

They exist only when the service has an API token (`AUTOSCALER_API_TOKEN`), and the server's guard
lets them through only with it. A body is at most `MAX_BODY_BYTES`, read within the server's write
timeout, and decoded through `autoscaler.wire`. The store may be ZooKeeper, so the change runs in a
worker thread; the answer is the pause as stored, or why nothing changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from autoscaler.core.pause import ALL, MAX_WHO_CHARS, Pause, scope_problem
from autoscaler.core.units import parse_duration
from autoscaler.errors import WireError
from autoscaler.pauses.codec import PauseStoreError
from autoscaler.pauses.control import PauseControl
from autoscaler.wire import decode_json

__all__ = ["MAX_BODY_BYTES", "PauseRoutes"]

MAX_BODY_BYTES = 1024
_JSON = "application/json; charset=utf-8"
_FIELDS = frozenset({"for", "reason", "by"})


def _json(status: int, payload: Any) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": _JSON})


def pause_json(pause: Pause, *, now: datetime) -> dict[str, Any]:
    left = max(pause.until - now, timedelta(0))
    return {**pause.to_json(), "remaining_seconds": round(left.total_seconds())}


class PauseRoutes:
    """Handlers on the server's event loop; the store is used from a worker thread."""

    def __init__(
        self, *, control: PauseControl, clock: Callable[[], datetime], managed: Callable[[], frozenset[str]],
        read_timeout: float,
    ) -> None:  # fmt: skip
        self.control = control
        self.clock = clock
        self._managed = managed
        self._read_timeout = read_timeout

    def add_to(self, router: web.UrlDispatcher, *, apps: str) -> None:
        router.add_post(apps + "/{scope:.+}/pause", self.pause_one)
        router.add_delete(apps + "/{scope:.+}/pause", self.resume_one)
        router.add_post("/api/v1/pause", self.pause_all)
        router.add_delete("/api/v1/pause", self.resume_all)
        router.add_get("/api/v1/pauses", self.list_pauses)

    # --- handlers --------------------------------------------------------------------------------

    async def pause_one(self, request: web.Request) -> web.StreamResponse:
        scope, problem = self._scope(request)
        if problem is not None:
            return problem
        return await self._pause(request, scope)

    async def pause_all(self, request: web.Request) -> web.StreamResponse:
        return await self._pause(request, ALL)

    async def resume_one(self, request: web.Request) -> web.StreamResponse:
        scope, problem = self._scope(request, must_be_managed=False)
        if problem is not None:
            return problem
        return await self._resume(request, scope)

    async def resume_all(self, request: web.Request) -> web.StreamResponse:
        return await self._resume(request, ALL)

    async def list_pauses(self, request: web.Request) -> web.StreamResponse:
        now = self.clock()
        pauses = sorted((p for p in self.control.pauses().values() if p.active(now)), key=lambda p: p.scope)
        body: dict[str, Any] = {"pauses": [pause_json(p, now=now) for p in pauses], "store": self.control.store.kind}
        if self.control.error is not None:
            body["store_error"] = self.control.error
        return _json(200, body)

    # --- inside ----------------------------------------------------------------------------------

    def _scope(self, request: web.Request, *, must_be_managed: bool = True) -> tuple[str, web.Response | None]:
        scope = "/" + request.match_info["scope"].strip("/")
        problem = scope_problem(scope)
        if problem is not None:
            return scope, _json(400, {"error": problem})
        if must_be_managed and not scope.endswith("/*") and scope not in self._managed():
            return scope, _json(404, {"error": f"no policy manages {scope[:200]}; pause a group with /*"})
        return scope, None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        declared = request.content_length
        if declared is not None and declared > MAX_BODY_BYTES:
            raise ValueError(f"the body is at most {MAX_BODY_BYTES} bytes")
        try:
            async with asyncio.timeout(self._read_timeout):
                data = await request.content.read(MAX_BODY_BYTES + 1)
        except TimeoutError:
            raise ValueError(f"the body did not arrive within {self._read_timeout:g}s") from None
        if len(data) > MAX_BODY_BYTES:
            raise ValueError(f"the body is at most {MAX_BODY_BYTES} bytes")
        if not data.strip():
            return {}
        try:
            body = decode_json(data, what="the request body", max_bytes=MAX_BODY_BYTES, max_depth=2)
        except WireError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(body, dict):
            raise ValueError('the body is a JSON object like {"for": "2h", "reason": "..."}')
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise ValueError(f"unknown field {unknown[0][:40]!r}: the fields are for, reason and by")
        return body

    async def _pause(self, request: web.Request, scope: str) -> web.StreamResponse:
        try:
            body = await self._body(request)
            length = body.get("for")
            duration = None if length is None else parse_duration(length, bare_seconds=False)
            reason, by = body.get("reason", ""), body.get("by", "api")
            if not isinstance(reason, str) or not isinstance(by, str):
                raise ValueError("reason and by are text")
            pause = await asyncio.to_thread(self.control.pause, scope, duration=duration, reason=reason, by=by or "api")
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        except PauseStoreError as exc:
            return _json(503, {"error": f"the pause was not stored: {exc}"})
        return _json(200, {"paused": pause_json(pause, now=self.clock())})

    async def _resume(self, request: web.Request, scope: str) -> web.StreamResponse:
        by = request.query.get("by", "api")
        if len(by) > MAX_WHO_CHARS or not by.isprintable():
            return _json(400, {"error": f"by is one line of at most {MAX_WHO_CHARS} printable characters"})
        try:
            pause = await asyncio.to_thread(self.control.resume, scope, by=by)
        except ValueError as exc:
            return _json(400, {"error": str(exc)})
        except PauseStoreError as exc:
            return _json(503, {"error": f"nothing was resumed: {exc}"})
        if pause is None:
            what = "every app (*) is not paused" if scope == ALL else f"{scope} has no pause of its own"
            return _json(404, {"error": f"{what}; a pause is lifted by the id or group it was made for"})
        return _json(200, {"resumed": pause_json(pause, now=self.clock())})
