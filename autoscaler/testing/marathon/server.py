"""A Marathon-compatible HTTP server, so tests, benchmarks and the demo run without a Mesos cluster.

It speaks the parts of Marathon's REST API the autoscaler touches, with Marathon's real response
shapes, status codes and error bodies: the app list and single-app GET, PATCH and PUT of one app,
the deployments list, `/v2/info`, `/v2/leader` and `/ping`. Unknown routes answer 500
`{"message":"URI not found"}` and a known route with another method 405, as Marathon does. What a
change does (deployments, locks, the cap) is `autoscaler.testing.marathon.state`'s part.

The HTTP layer is aiohttp's server, on the caller's event loop: aiohttp parses every request and
frames every answer. Request bodies are bounded (`MAX_BODY_BYTES`, answered 413 past it) and
decoded through `autoscaler.wire.decode_json`, so a body nested too deep is a 400, like any other
body that is not a JSON object. Path parameters are percent-decoded, as Marathon's JAX-RS routes
do; the recorded `path` is the raw one. `PATCH`/`PUT /v2/apps` (several apps at once), group
routes and task routes are not simulated.

`requests` records everything received, including requests answered with an injected failure or
401, so tests can assert exactly what a client sent.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

from autoscaler.errors import WireError
from autoscaler.testing.marathon.model import JSONObject, info_json
from autoscaler.testing.marathon.state import ExtraFieldsUpdate, MarathonState, Reply, message
from autoscaler.testing.serving import LoopbackSite
from autoscaler.wire import decode_json

__all__ = ["MAX_BODY_BYTES", "MAX_BODY_DEPTH", "ExtraFieldsUpdate", "FakeMarathon", "RecordedRequest"]

log = logging.getLogger("autoscaler.testing.marathon")

MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_DEPTH = 32
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _decode(body: bytes) -> Any:
    return decode_json(body, what="the request body", max_bytes=MAX_BODY_BYTES, max_depth=MAX_BODY_DEPTH)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. `time` is the fake's clock at arrival."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    time: float
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        """The body decoded as JSON (None for an empty body)."""
        return _decode(self.body) if self.body else None


def _compact(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _send(reply: Reply) -> web.Response:
    return web.json_response(reply.payload, status=reply.status, headers=dict(reply.headers), dumps=_compact)


class FakeMarathon:
    """A Marathon stand-in served over real HTTP on 127.0.0.1.

    Give `username`/`password` to require HTTP basic auth, or `token` to require
    `Authorization: token=<token>`; every route then answers 401 without them. `keep_encoded`: answer
    the app list from each app's JSON kept encoded while it is unchanged (thousands of apps; see
    `autoscaler.testing.marathon.state`).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        task_start_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
        max_running_deployments: int = 100,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        keep_encoded: bool = False,
    ) -> None:
        self._port = port
        self._clock = clock
        self.state = MarathonState(
            clock=clock,
            task_start_delay=task_start_delay,
            max_running_deployments=max_running_deployments,
            keep_encoded=keep_encoded,
        )
        self._basic = (
            "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            if username is not None
            else None
        )
        self._token = token
        self._failures: list[tuple[int, int | None]] = []
        self._site = LoopbackSite(self._application(), port=port)
        self.requests: list[RecordedRequest] = []

    # --- test controls ---------------------------------------------------------------------------

    @property
    def task_start_delay(self) -> float:
        return self.state.task_start_delay

    @task_start_delay.setter
    def task_start_delay(self, seconds: float) -> None:
        self.state.task_start_delay = seconds

    @property
    def max_running_deployments(self) -> int:
        return self.state.max_running_deployments

    @property
    def extra_field_updates(self) -> list[ExtraFieldsUpdate]:
        return self.state.extra_field_updates

    def add_app(
        self,
        app_id: str,
        *,
        instances: int = 1,
        running: int | None = None,
        health_checks: bool = False,
        labels: Mapping[str, str] | None = None,
        cpus: float = 0.1,
        mem: float = 32.0,
        cmd: str = "sleep 3600",
    ) -> None:
        """Register an app whose `running` tasks (default: all `instances`) are already up."""
        self.state.add_app(
            app_id,
            instances=instances,
            running=running,
            health_checks=health_checks,
            labels=labels or {},
            cpus=cpus,
            mem=mem,
            cmd=cmd,
        )

    def load_apps(self, payload: Mapping[str, Any]) -> None:
        """Add every app of a `{"apps": [...]}` document (Marathon's list shape; a subset of
        fields is read: id, instances, tasksRunning, healthChecks, labels, cpus, mem, cmd)."""
        for raw in payload.get("apps", []):
            self.add_app(
                raw["id"],
                instances=int(raw.get("instances", 1)),
                running=raw.get("tasksRunning"),
                health_checks=bool(raw.get("healthChecks")),
                labels=raw.get("labels") or {},
                cpus=float(raw.get("cpus", 0.1)),
                mem=float(raw.get("mem", 32.0)),
                cmd=str(raw.get("cmd") or "sleep 3600"),
            )

    def set_unhealthy(self, app_id: str, count: int) -> None:
        """Make `count` running tasks of an app with health checks report unhealthy."""
        self.state.apps[app_id].unhealthy = max(0, count)

    def begin_deployment(self, app_id: str, *, duration: float | None = None) -> str:
        """Start a deployment that locks `app_id` for `duration` clock seconds (None: until
        `finish_deployment`). Returns its id."""
        return self.state.begin_deployment(app_id, duration=duration)

    def finish_deployment(self, deployment_id: str) -> None:
        self.state.deployments.pop(deployment_id, None)

    def fail_next(self, count: int, *, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next `count` requests (any route) with `status`, e.g. 503 or 429."""
        self._failures.extend([(status, retry_after)] * count)

    def app_json(self, app_id: str) -> JSONObject:
        """The app as `GET /v2/apps/{id}` would show it now."""
        self.state.advance()
        return self.state.app_json(self.state.apps[app_id], with_tasks=True)

    def deployments_json(self) -> list[JSONObject]:
        """The body `GET /v2/deployments` would return now."""
        self.state.advance()
        return self.state.deployments_json()

    @property
    def url(self) -> str:
        if self._site.url is None:
            raise RuntimeError("FakeMarathon is not started")
        return self._site.url

    # --- server lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 and return the base URL (`http://127.0.0.1:<port>`)."""
        url = await self._site.start()
        log.info("fake Marathon listening on %s", url)
        return url

    async def stop(self) -> None:
        """Stop listening and close every connection, idle keep-alive ones included."""
        await self._site.stop()

    async def __aenter__(self) -> FakeMarathon:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- HTTP ------------------------------------------------------------------------------------

    def _application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._intercept])
        app.router.add_get("/v2/apps", self._list_apps)
        app.router.add_get("/v2/apps/", self._list_apps)
        app.router.add_get("/v2/apps/{app_id:.+}", self._show_app)
        app.router.add_route("PATCH", "/v2/apps/{app_id:.+}", self._update_app)
        app.router.add_put("/v2/apps/{app_id:.+}", self._update_app)
        app.router.add_get("/v2/deployments", self._deployments)
        app.router.add_get("/v2/info", self._info)
        app.router.add_get("/v2/leader", self._leader_route)
        app.router.add_get("/ping", self._ping)
        app.on_response_prepare.append(self._server_headers)
        return app

    @web.middleware
    async def _intercept(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Record the request, then answer an injected failure, a 401, or the route."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = b""
            too_large = True
        else:
            too_large = False
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.rel_url.raw_path,
                query=dict(request.query),
                body=body,
                time=self._clock(),
                headers={name.lower(): value for name, value in request.headers.items()},
            )
        )
        if self._failures:
            status, retry_after = self._failures.pop(0)
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _send(Reply(status, {"message": HTTPStatus(status).phrase}, headers=extra))
        if not self._authorized(request.headers.get("Authorization", "")):
            return self._unauthorized()
        if too_large:
            return _send(message(413, f"Request body larger than {MAX_BODY_BYTES} bytes"))
        self.state.advance()
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            return _send(message(405, "HTTP 405 Method Not Allowed"))
        except web.HTTPNotFound:
            return _send(message(500, "URI not found"))

    async def _server_headers(self, _request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = "fake-marathon"
        if self._site.url is not None:
            response.headers["X-Marathon-Leader"] = self._site.url

    def _authorized(self, given: str) -> bool:
        if self._basic is None and self._token is None:
            return True
        if self._token is not None and hmac.compare_digest(given, f"token={self._token}"):
            return True
        return self._basic is not None and hmac.compare_digest(given, self._basic)

    def _unauthorized(self) -> web.Response:
        if self._basic is not None:
            page = (
                "<html><head><title>Error 401 Unauthorized</title></head>"
                "<body><h2>HTTP ERROR 401</h2><p>Problem accessing. Reason: Unauthorized</p>"
                "</body></html>"
            )
            return web.Response(
                status=401,
                body=page.encode("iso-8859-1"),
                content_type="text/html",
                charset="iso-8859-1",
                headers={"WWW-Authenticate": 'basic realm="Mesosphere"'},
            )
        return _send(message(401, "Invalid username or password."))

    async def _list_apps(self, request: web.Request) -> web.Response:
        needle = request.query.get("id", "")
        if self.state.keep_encoded:
            body = self.state.list_apps_encoded(id_contains=needle)
            return web.Response(body=body, content_type="application/json", charset="utf-8")
        return _send(self.state.list_apps(id_contains=needle))

    async def _show_app(self, request: web.Request) -> web.Response:
        return _send(self.state.show_app(_app_id(request)))

    async def _update_app(self, request: web.Request) -> web.Response:
        try:
            body = _decode(await request.read())
        except WireError:
            body = None  # answered as Marathon answers any body that is not a JSON object
        force = request.query.get("force", "false").lower() == "true"
        return _send(self.state.update_app(method=request.method, app_id=_app_id(request), body=body, force=force))

    async def _deployments(self, _request: web.Request) -> web.Response:
        return _send(Reply(200, self.state.deployments_json()))

    async def _info(self, _request: web.Request) -> web.Response:
        info = info_json(
            leader=self._leader(), max_running_deployments=self.max_running_deployments, http_port=self._port
        )
        return _send(Reply(200, info))

    async def _leader_route(self, _request: web.Request) -> web.Response:
        return _send(Reply(200, {"leader": self._leader()}))

    async def _ping(self, _request: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/plain")

    def _leader(self) -> str:
        return self._site.url.removeprefix("http://") if self._site.url else "127.0.0.1"


def _app_id(request: web.Request) -> str:
    return "/" + request.match_info["app_id"].rstrip("/")
