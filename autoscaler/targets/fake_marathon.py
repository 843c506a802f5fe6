"""A small Marathon-compatible HTTP server, so tests and the demo can run without a Mesos cluster.

It speaks the parts of Marathon's REST API the autoscaler touches, with Marathon's real response
shapes, status codes and error bodies: the app list and single-app GET, PATCH and PUT of one app,
the deployments list, `/v2/info`, `/v2/leader` and `/ping`. Unknown routes answer 500
`{"message":"URI not found"}`, as Marathon does.

Behaviour worth knowing:

* Every accepted change is a deployment. Scaling up starts the missing tasks one at a time, each
  taking `task_start_delay` seconds of the injected clock (`tasksStaged` is 1 while a task starts);
  the deployment disappears from `/v2/deployments` when the last task runs. Scaling down kills the
  surplus tasks at once, so that deployment is finished before the response is sent. Tasks of an
  app with health checks are healthy as soon as they run unless a test marks some unhealthy.
* The simulation advances lazily from the clock on every request, with no background task, so a
  test that moves a fake clock sees the effect on its next request.
* While a deployment touches an app, a change to that app answers 409 with the `deployments` field
  unless `force=true`, which cancels the conflicting deployments (tasks already started stay).
  The running-deployments cap answers 403 with Marathon's message, `force` or not.
* A change that changes nothing answers 200 with a deployment id but starts no deployment and
  leaves `version`/`versionInfo` alone. A body with fields other than `instances` is applied as a
  partial update (no rolling restart is simulated) and recorded in `extra_field_updates`.
* Percent-encoded paths are not decoded. `PATCH`/`PUT /v2/apps` (several apps at once), group
  routes and task routes are not simulated.
* `requests` records everything received, including requests answered with an injected failure
  or 401, so tests can assert exactly what a client sent.

Only the standard library is used. Run it by hand with
`python -m autoscaler.targets.fake_marathon --port 8080 --apps-file apps.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from autoscaler.targets.marathon import app_id_problem

__all__ = ["ExtraFieldsUpdate", "FakeMarathon", "RecordedRequest", "main"]

log = logging.getLogger(__name__)

JSONObject = dict[str, Any]

_MAX_HEADERS = 100
_MAX_BODY = 1024 * 1024
# Fields a PATCH/PUT may change in this fake, besides `instances`.
_CONFIG_FIELDS = ("cmd", "cpus", "mem", "labels", "healthChecks")
_EPSILON = 1e-9


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
        """The body parsed as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class ExtraFieldsUpdate:
    """A PATCH or PUT of an existing app whose body carried more than `instances`."""

    method: str
    app_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _App:
    app_id: str
    instances: int
    running: int
    health_checks: list[JSONObject]
    labels: dict[str, str]
    cpus: float
    mem: float
    cmd: str
    version: str
    last_scaling_at: str
    last_config_change_at: str
    staged: int = 0
    unhealthy: int = 0


@dataclass
class _Deployment:
    deployment_id: str
    version: str
    app_id: str
    started: float
    kind: Literal["scale", "manual"]
    from_running: int = 0
    target: int = 0
    duration: float | None = None

    @property
    def action(self) -> str:
        return "ScaleApplication" if self.kind == "scale" else "RestartApplication"


class _BadRequest(Exception):
    """The bytes received are not an HTTP/1.1 request this server understands."""


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_response(status: int, payload: Any, *, headers: Mapping[str, str] | None = None) -> _Response:
    return _Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        headers=headers or {},
    )


def _message(status: int, message: str, **extra: Any) -> _Response:
    return _json_response(status, {"message": message, **extra})


def _not_valid(path: str, error: str) -> _Response:
    return _message(422, "Object is not valid", details=[{"path": path, "errors": [error]}])


def _default_health_check() -> JSONObject:
    return {
        "protocol": "MESOS_HTTP",
        "path": "/health",
        "portIndex": 0,
        "gracePeriodSeconds": 300,
        "intervalSeconds": 60,
        "timeoutSeconds": 20,
        "maxConsecutiveFailures": 3,
        "delaySeconds": 15,
    }


class FakeMarathon:
    """A Marathon stand-in served over real HTTP on 127.0.0.1.

    Give `username`/`password` to require HTTP basic auth, or `token` to require
    `Authorization: token=<token>`; every route then answers 401 without them.
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
    ) -> None:
        self._port = port
        self.task_start_delay = task_start_delay
        self._clock = clock
        self.max_running_deployments = max_running_deployments
        self._basic = (
            "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            if username is not None
            else None
        )
        self._token = token
        self._apps: dict[str, _App] = {}
        self._deployments: dict[str, _Deployment] = {}
        self._failures: list[tuple[int, int | None]] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._url: str | None = None
        self.requests: list[RecordedRequest] = []
        self.extra_field_updates: list[ExtraFieldsUpdate] = []

    # --- test controls ---------------------------------------------------------------------------

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
        problem = app_id_problem(app_id)
        if problem is not None:
            raise ValueError(f"invalid app id {app_id!r}: {problem}")
        if instances < 0 or (running is not None and running < 0):
            raise ValueError("instances and running must be 0 or more")
        stamp = _iso(self._clock())
        self._apps[app_id] = _App(
            app_id=app_id,
            instances=instances,
            running=instances if running is None else running,
            health_checks=[_default_health_check()] if health_checks else [],
            labels=dict(labels or {}),
            cpus=cpus,
            mem=mem,
            cmd=cmd,
            version=stamp,
            last_scaling_at=stamp,
            last_config_change_at=stamp,
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
        self._apps[app_id].unhealthy = max(0, count)

    def begin_deployment(self, app_id: str, *, duration: float | None = None) -> str:
        """Start a deployment that locks `app_id` for `duration` clock seconds (None: until
        `finish_deployment`). Returns its id."""
        if app_id not in self._apps:
            raise KeyError(app_id)
        now = self._clock()
        deployment = _Deployment(
            deployment_id=str(uuid.uuid4()),
            version=_iso(now),
            app_id=app_id,
            started=now,
            kind="manual",
            duration=duration,
        )
        self._deployments[deployment.deployment_id] = deployment
        return deployment.deployment_id

    def finish_deployment(self, deployment_id: str) -> None:
        self._deployments.pop(deployment_id, None)

    def fail_next(self, count: int, *, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next `count` requests (any route) with `status`, e.g. 503 or 429."""
        self._failures.extend([(status, retry_after)] * count)

    def app_json(self, app_id: str) -> JSONObject:
        """The app as `GET /v2/apps/{id}` would show it now."""
        self._advance()
        return self._app_json(self._apps[app_id], with_tasks=True)

    def deployments_json(self) -> list[JSONObject]:
        """The body `GET /v2/deployments` would return now."""
        self._advance()
        return [self._deployment_json(d) for d in self._deployments.values()]

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeMarathon is not started")
        return self._url

    # --- server lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on 127.0.0.1 and return the base URL (`http://127.0.0.1:<port>`)."""
        self._server = await asyncio.start_server(self._serve, host="127.0.0.1", port=self._port)
        port = self._server.sockets[0].getsockname()[1]
        self._url = f"http://127.0.0.1:{port}"
        log.info("fake Marathon listening on %s", self._url)
        return self._url

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Close the connections so their handlers read EOF and end by themselves; cancelling a
        # handler blocked in readline makes asyncio log a spurious traceback (Python 3.11).
        for writer in list(self._writers):
            writer.close()
        if self._connections:
            _, pending = await asyncio.wait(set(self._connections), timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeMarathon:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- HTTP/1.1 framing ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await self._read_head(reader)
                    if head is None:
                        break
                    method, target, version, headers = head
                    if "transfer-encoding" in headers:
                        raise _BadRequest("chunked request bodies are not supported")
                    length = int(headers.get("content-length", "0") or "0")
                    if length < 0 or length > _MAX_BODY:
                        raise _BadRequest("bad Content-Length")
                except (_BadRequest, ValueError, UnicodeDecodeError) as exc:
                    response = _message(400, f"Bad request: {exc}")
                    writer.write(self._encode(response, keep_alive=False, head_only=False))
                    await writer.drain()
                    break
                body = await reader.readexactly(length) if length else b""
                response = self._handle(method=method, target=target, headers=headers, body=body)
                connection = headers.get("connection", "").lower()
                keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
                writer.write(self._encode(response, keep_alive=keep_alive, head_only=method == "HEAD"))
                await writer.drain()
                if not keep_alive:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_head(
        reader: asyncio.StreamReader,
    ) -> tuple[str, str, str, dict[str, str]] | None:
        line = await reader.readline()
        while line in (b"\r\n", b"\n"):
            line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest("malformed request line")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                return parts[0].upper(), parts[1], parts[2], headers
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon:
                raise _BadRequest("malformed header line")
            headers[name.strip().lower()] = value.strip()
        raise _BadRequest("too many headers")

    def _encode(self, response: _Response, *, keep_alive: bool, head_only: bool) -> bytes:
        reason = HTTPStatus(response.status).phrase
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            "Server: fake-marathon",
        ]
        if self._url is not None:
            lines.append(f"X-Marathon-Leader: {self._url}")
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + response.body

    # --- routing ---------------------------------------------------------------------------------

    def _handle(self, *, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        split = urlsplit(target)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.requests.append(
            RecordedRequest(
                method=method,
                path=path,
                query=query,
                body=body,
                time=self._clock(),
                headers=dict(headers),
            )
        )
        if self._failures:
            status, retry_after = self._failures.pop(0)
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _json_response(status, {"message": HTTPStatus(status).phrase}, headers=extra)
        if not self._authorized(headers):
            return self._unauthorized()
        self._advance()
        return self._route(method=method, path=path, query=query, body=body)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self._basic is None and self._token is None:
            return True
        given = headers.get("authorization", "")
        if self._token is not None and hmac.compare_digest(given, f"token={self._token}"):
            return True
        return self._basic is not None and hmac.compare_digest(given, self._basic)

    def _unauthorized(self) -> _Response:
        if self._basic is not None:
            page = (
                "<html><head><title>Error 401 Unauthorized</title></head>"
                "<body><h2>HTTP ERROR 401</h2><p>Problem accessing. Reason: Unauthorized</p>"
                "</body></html>"
            )
            return _Response(
                status=401,
                body=page.encode(),
                content_type="text/html;charset=iso-8859-1",
                headers={"WWW-Authenticate": 'basic realm="Mesosphere"'},
            )
        return _message(401, "Invalid username or password.")

    def _route(self, *, method: str, path: str, query: dict[str, str], body: bytes) -> _Response:
        force = query.get("force", "false").lower() == "true"
        if path in ("/v2/apps", "/v2/apps/"):
            if method == "GET":
                return self._list_apps(query)
            return _message(405, "HTTP 405 Method Not Allowed")
        if path.startswith("/v2/apps/"):
            app_id = path[len("/v2/apps") :].rstrip("/")
            if method == "GET":
                app = self._apps.get(app_id)
                if app is None:
                    return _message(404, f"App '{app_id}' does not exist")
                return _json_response(200, {"app": self._app_json(app, with_tasks=True)})
            if method in ("PATCH", "PUT"):
                return self._update_app(method=method, app_id=app_id, raw=body, force=force)
            return _message(405, "HTTP 405 Method Not Allowed")
        if path == "/v2/deployments" and method == "GET":
            return _json_response(200, [self._deployment_json(d) for d in self._deployments.values()])
        if path == "/v2/info" and method == "GET":
            return _json_response(200, self._info_json())
        if path == "/v2/leader" and method == "GET":
            return _json_response(200, {"leader": self._leader()})
        if path == "/ping" and method == "GET":
            return _Response(status=200, body=b"pong", content_type="text/plain")
        return _message(500, "URI not found")

    # --- behaviour -------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Bring tasks and deployments up to the clock's present."""
        now = self._clock()
        for deployment in list(self._deployments.values()):
            app = self._apps.get(deployment.app_id)
            if deployment.kind == "manual":
                done = deployment.duration is not None and (now + _EPSILON >= deployment.started + deployment.duration)
            elif app is None:
                done = True
            else:
                missing = deployment.target - deployment.from_running
                if self.task_start_delay <= 0:
                    started = missing
                else:
                    elapsed = max(0.0, now - deployment.started)
                    started = min(missing, int((elapsed + _EPSILON) // self.task_start_delay))
                app.running = deployment.from_running + started
                app.staged = 0 if started >= missing else 1
                done = started >= missing
            if done:
                del self._deployments[deployment.deployment_id]

    def _list_apps(self, query: Mapping[str, str]) -> _Response:
        needle = query.get("id", "").lower()
        apps = [self._app_json(app, with_tasks=False) for app in self._apps.values() if needle in app.app_id.lower()]
        return _json_response(200, {"apps": apps})

    def _update_app(self, *, method: str, app_id: str, raw: bytes, force: bool) -> _Response:
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _message(
                400,
                "Invalid JSON",
                details=[{"path": "/", "errors": ["error.expected.jsobject"]}],
            )
        instances = body.get("instances")
        if "instances" in body and (isinstance(instances, bool) or not isinstance(instances, int) or instances < 0):
            return _not_valid("/instances", "got a value that is not a whole number of 0 or more")
        app = self._apps.get(app_id)
        if app is None:
            if method == "PATCH":
                return _message(404, f"App '{app_id}' does not exist")
            return self._create_app(app_id, body)

        extra = tuple(sorted(k for k in body if k not in ("instances", "id")))
        if extra:
            self.extra_field_updates.append(ExtraFieldsUpdate(method=method, app_id=app_id, fields=extra))
            log.warning("%s %s carried fields other than instances: %s", method, app_id, extra)
        config_changes = {
            name: body[name] for name in _CONFIG_FIELDS if name in body and body[name] != self._config_value(app, name)
        }
        new_instances = app.instances if instances is None else int(instances)
        now = self._clock()
        stamp = _iso(now)
        deployment_id = str(uuid.uuid4())
        if new_instances == app.instances and not config_changes:
            return self._accepted(deployment_id, stamp, status=200)
        refusal = self._refuse_new_deployment(app_id, force=force)
        if refusal is not None:
            return refusal

        for name, value in config_changes.items():
            self._set_config_value(app, name=name, value=value)
        if config_changes:
            app.last_config_change_at = stamp
        app.version = stamp
        app.last_scaling_at = stamp
        app.instances = new_instances
        self._start_scaling(app, deployment_id=deployment_id, now=now)
        return self._accepted(deployment_id, stamp, status=200)

    def _create_app(self, app_id: str, body: Mapping[str, Any]) -> _Response:
        problem = app_id_problem(app_id)
        if problem is not None:
            return _not_valid("/id", problem)
        refusal = self._refuse_new_deployment(app_id, force=False)
        if refusal is not None:
            return refusal
        self.add_app(app_id, instances=int(body.get("instances", 1)), running=0)
        app = self._apps[app_id]
        for name in _CONFIG_FIELDS:
            if name in body:
                self._set_config_value(app, name=name, value=body[name])
        now = self._clock()
        deployment_id = str(uuid.uuid4())
        self._start_scaling(app, deployment_id=deployment_id, now=now)
        return self._accepted(deployment_id, app.version, status=201)

    def _refuse_new_deployment(self, app_id: str, *, force: bool) -> _Response | None:
        if len(self._deployments) >= self.max_running_deployments:
            return _message(
                403,
                f"Max number ({self.max_running_deployments}) of running deployments is "
                "achieved. Wait for existing deployments to complete or cancel oneusing "
                "force=true parameter. You can increase max deployment number by using "
                "--max_running_deployments parameter but be advised that this can have "
                "negative effects on the performance.",
            )
        conflicts = [d for d in self._deployments.values() if d.app_id == app_id]
        if conflicts and not force:
            return _message(
                409,
                "App is locked by one or more deployments. Override with the option "
                "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                deployments=[{"id": d.deployment_id} for d in conflicts],
            )
        for deployment in conflicts:
            del self._deployments[deployment.deployment_id]
            app = self._apps.get(app_id)
            if app is not None:
                app.staged = 0
        return None

    def _start_scaling(self, app: _App, *, deployment_id: str, now: float) -> None:
        if app.instances <= app.running:
            app.running = app.instances
            app.staged = 0
            return
        self._deployments[deployment_id] = _Deployment(
            deployment_id=deployment_id,
            version=_iso(now),
            app_id=app.app_id,
            started=now,
            kind="scale",
            from_running=app.running,
            target=app.instances,
        )
        self._advance()

    @staticmethod
    def _accepted(deployment_id: str, version: str, *, status: int) -> _Response:
        return _json_response(
            status,
            {"deploymentId": deployment_id, "version": version},
            headers={"Marathon-Deployment-Id": deployment_id},
        )

    @staticmethod
    def _config_value(app: _App, name: str) -> Any:
        return {
            "cmd": app.cmd,
            "cpus": app.cpus,
            "mem": app.mem,
            "labels": app.labels,
            "healthChecks": app.health_checks,
        }[name]

    @staticmethod
    def _set_config_value(app: _App, *, name: str, value: Any) -> None:
        if name == "cmd":
            app.cmd = str(value)
        elif name == "cpus":
            app.cpus = float(value)
        elif name == "mem":
            app.mem = float(value)
        elif name == "labels":
            app.labels = {str(k): str(v) for k, v in dict(value).items()}
        elif name == "healthChecks":
            app.health_checks = [dict(check) for check in value]

    # --- JSON shapes -----------------------------------------------------------------------------

    def _app_json(self, app: _App, *, with_tasks: bool) -> JSONObject:
        unhealthy = min(app.unhealthy, app.running) if app.health_checks else 0
        healthy = app.running - unhealthy if app.health_checks else 0
        body: JSONObject = {
            "id": app.app_id,
            "cmd": app.cmd,
            "args": None,
            "user": None,
            "env": {},
            "instances": app.instances,
            "cpus": app.cpus,
            "mem": app.mem,
            "disk": 0,
            "gpus": 0,
            "executor": "",
            "constraints": [],
            "uris": [],
            "fetch": [],
            "storeUrls": [],
            "backoffSeconds": 1,
            "backoffFactor": 1.15,
            "maxLaunchDelaySeconds": 3600,
            "container": None,
            "healthChecks": app.health_checks,
            "readinessChecks": [],
            "dependencies": [],
            "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
            "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
            "killSelection": "YOUNGEST_FIRST",
            "labels": app.labels,
            "acceptedResourceRoles": None,
            "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "default"}],
            "requirePorts": False,
            "networks": [{"mode": "host"}],
            "version": app.version,
            "versionInfo": {
                "lastScalingAt": app.last_scaling_at,
                "lastConfigChangeAt": app.last_config_change_at,
            },
            "tasksStaged": app.staged,
            "tasksRunning": app.running,
            "tasksHealthy": healthy,
            "tasksUnhealthy": unhealthy,
            "deployments": [{"id": d.deployment_id} for d in self._deployments.values() if d.app_id == app.app_id],
        }
        if with_tasks:
            body["tasks"] = self._tasks_json(app, unhealthy=unhealthy)
        return body

    def _tasks_json(self, app: _App, *, unhealthy: int) -> list[JSONObject]:
        name = app.app_id.strip("/").replace("/", "_")
        tasks = []
        for index in range(app.running):
            task_id = f"{name}.instance-{index:04d}"
            task: JSONObject = {
                "appId": app.app_id,
                "id": task_id,
                "host": "127.0.0.1",
                "ports": [31000 + index],
                "state": "TASK_RUNNING",
                "stagedAt": app.version,
                "startedAt": app.version,
                "version": app.version,
            }
            if app.health_checks:
                task["healthCheckResults"] = [
                    {"alive": index >= unhealthy, "consecutiveFailures": 0, "taskId": task_id}
                ]
            tasks.append(task)
        return tasks

    @staticmethod
    def _deployment_json(deployment: _Deployment) -> JSONObject:
        action = {"action": deployment.action, "app": deployment.app_id}
        return {
            "id": deployment.deployment_id,
            "version": deployment.version,
            "affectedApps": [deployment.app_id],
            "affectedPods": [],
            "steps": [{"actions": [action]}],
            "currentActions": [{**action, "readinessCheckResults": []}],
            "currentStep": 1,
            "totalSteps": 1,
        }

    def _leader(self) -> str:
        return self._url.removeprefix("http://") if self._url else "127.0.0.1"

    def _info_json(self) -> JSONObject:
        return {
            "name": "marathon",
            "version": "1.10.26",
            "buildref": "fake",
            "elected": True,
            "leader": self._leader(),
            "frameworkId": "00000000-0000-0000-0000-000000000000-0000",
            "marathon_config": {
                "framework_name": "marathon",
                "ha": False,
                "max_running_deployments": self.max_running_deployments,
                "master": "local",
            },
            "http_config": {"http_port": self._port, "https_port": 8443},
        }


async def _serve_forever(marathon: FakeMarathon) -> None:
    url = await marathon.start()
    print(f"fake Marathon listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await marathon.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve a fake Marathon until interrupted (for the demo and manual tests)."""
    parser = argparse.ArgumentParser(description="Serve a fake Marathon on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--apps-file", type=Path, help='JSON file shaped {"apps": [...]}')
    parser.add_argument("--task-start-delay", type=float, default=2.0, help="seconds per task")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    marathon = FakeMarathon(port=args.port, task_start_delay=args.task_start_delay)
    if args.apps_file is not None:
        marathon.load_apps(json.loads(args.apps_file.read_text()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(marathon))


if __name__ == "__main__":
    main()
