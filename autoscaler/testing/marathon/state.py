"""The fake Marathon's behaviour, apart from HTTP: apps, deployments and what a change does.

Every accepted change is a deployment. Scaling up starts the missing tasks one at a time, each
taking `task_start_delay` seconds of the injected clock (`tasksStaged` is 1 while a task starts);
the deployment disappears when the last task runs. Scaling down kills the surplus tasks at once.
The simulation advances lazily (`advance()`, called on every request), with no background task, so
a test that moves a fake clock sees the effect on its next request.

While a deployment touches an app, a change to that app answers 409 with the `deployments` field
unless `force=true`, which cancels the conflicting deployments (tasks already started stay). The
running-deployments cap answers 403 with Marathon's message, `force` or not. A change that changes
nothing answers 200 with a deployment id but starts no deployment and leaves `version` alone. A
body with fields other than `instances` is applied as a partial update (no rolling restart is
simulated) and recorded in `extra_field_updates`.

Answers are `Reply` values (status, JSON payload, headers); `autoscaler.testing.marathon.server`
puts them on the wire. With `keep_encoded`, the app list is answered as bytes from each app's JSON
kept encoded until something `GET /v2/apps` shows of the app changes (its counts, version, scaling
time or deployments): a real Marathon answers its list from memory in milliseconds, and the
benchmarks' world of thousands of apps should not spend a second re-encoding what did not change.
Only the fake's own API changes an app's definition (every such change moves its `version`), so a
test that edits `apps` by hand should not turn it on.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from autoscaler.core.appid import app_id_problem
from autoscaler.testing.marathon.model import (
    App,
    Deployment,
    JSONObject,
    app_json,
    default_health_check,
    deployment_json,
    iso,
)

__all__ = ["ExtraFieldsUpdate", "MarathonState", "Reply", "message"]

log = logging.getLogger("autoscaler.testing.marathon")

# Fields a PATCH/PUT may change in this fake, besides `instances`.
_CONFIG_FIELDS = ("cmd", "cpus", "mem", "labels", "healthChecks")
_EPSILON = 1e-9


@dataclass(frozen=True)
class Reply:
    """One answer of the fake: a status, a JSON payload and extra headers."""

    status: int
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraFieldsUpdate:
    """A PATCH or PUT of an existing app whose body carried more than `instances`."""

    method: str
    app_id: str
    fields: tuple[str, ...]


def message(status: int, text: str, **extra: Any) -> Reply:
    """Marathon's error body: `{"message": ...}` plus any extra fields."""
    return Reply(status, {"message": text, **extra})


def _not_valid(path: str, error: str) -> Reply:
    return message(422, "Object is not valid", details=[{"path": path, "errors": [error]}])


def _accepted(deployment_id: str, version: str, *, status: int) -> Reply:
    return Reply(
        status,
        {"deploymentId": deployment_id, "version": version},
        headers={"Marathon-Deployment-Id": deployment_id},
    )


class MarathonState:
    """Apps and deployments of one fake Marathon, moved forward by `clock` (epoch seconds)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        task_start_delay: float,
        max_running_deployments: int,
        keep_encoded: bool = False,
    ) -> None:
        self.clock = clock
        self.task_start_delay = task_start_delay
        self.max_running_deployments = max_running_deployments
        self.keep_encoded = keep_encoded
        self.apps: dict[str, App] = {}
        self.deployments: dict[str, Deployment] = {}
        self.extra_field_updates: list[ExtraFieldsUpdate] = []
        self._encoded: dict[str, tuple[tuple[Any, ...], bytes]] = {}  # app id -> (what it shows, its JSON)

    # --- set-up by tests -------------------------------------------------------------------------

    def add_app(
        self,
        app_id: str,
        *,
        instances: int,
        running: int | None,
        health_checks: bool,
        labels: Mapping[str, str],
        cpus: float,
        mem: float,
        cmd: str,
    ) -> None:
        problem = app_id_problem(app_id)
        if problem is not None:
            raise ValueError(f"invalid app id {app_id!r}: {problem}")
        if instances < 0 or (running is not None and running < 0):
            raise ValueError("instances and running must be 0 or more")
        stamp = iso(self.clock())
        self.apps[app_id] = App(
            app_id=app_id,
            instances=instances,
            running=instances if running is None else running,
            health_checks=[default_health_check()] if health_checks else [],
            labels=dict(labels),
            cpus=cpus,
            mem=mem,
            cmd=cmd,
            version=stamp,
            last_scaling_at=stamp,
            last_config_change_at=stamp,
        )

    def begin_deployment(self, app_id: str, *, duration: float | None) -> str:
        if app_id not in self.apps:
            raise KeyError(app_id)
        now = self.clock()
        deployment = Deployment(
            deployment_id=str(uuid.uuid4()),
            version=iso(now),
            app_id=app_id,
            started=now,
            kind="manual",
            duration=duration,
        )
        self.deployments[deployment.deployment_id] = deployment
        return deployment.deployment_id

    # --- reads -----------------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring tasks and deployments up to the clock's present."""
        now = self.clock()
        for deployment in list(self.deployments.values()):
            app = self.apps.get(deployment.app_id)
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
                del self.deployments[deployment.deployment_id]

    def app_json(self, app: App, *, with_tasks: bool) -> JSONObject:
        return app_json(app, deployments=list(self.deployments.values()), with_tasks=with_tasks)

    def list_apps(self, *, id_contains: str) -> Reply:
        """`GET /v2/apps?id=`: the apps whose id contains the text, case-insensitively."""
        needle = id_contains.lower()
        mine = self._deployments_by_app()
        apps = [
            app_json(app, deployments=mine.get(app.app_id, []), with_tasks=False)
            for app in self.apps.values()
            if needle in app.app_id.lower()
        ]
        return Reply(200, {"apps": apps})

    def list_apps_encoded(self, *, id_contains: str) -> bytes:
        """The body of `list_apps`, encoded, from each app's JSON kept encoded while it is unchanged."""
        needle = id_contains.lower()
        mine = self._deployments_by_app()
        parts: list[bytes] = []
        for app in self.apps.values():
            if needle not in app.app_id.lower():
                continue
            deployments = mine.get(app.app_id, [])
            shown = (
                app.version,
                app.instances,
                app.running,
                app.staged,
                app.unhealthy,
                app.last_scaling_at,
                app.last_config_change_at,
                tuple(d.deployment_id for d in deployments),
            )
            kept = self._encoded.get(app.app_id)
            if kept is None or kept[0] != shown:
                body = orjson.dumps(app_json(app, deployments=deployments, with_tasks=False))
                kept = self._encoded[app.app_id] = (shown, body)
            parts.append(kept[1])
        return b'{"apps":[' + b",".join(parts) + b"]}"

    def _deployments_by_app(self) -> dict[str, list[Deployment]]:
        mine: dict[str, list[Deployment]] = defaultdict(list)
        for deployment in self.deployments.values():
            mine[deployment.app_id].append(deployment)
        return mine

    def show_app(self, app_id: str) -> Reply:
        app = self.apps.get(app_id)
        if app is None:
            return message(404, f"App '{app_id}' does not exist")
        return Reply(200, {"app": self.app_json(app, with_tasks=True)})

    def deployments_json(self) -> list[JSONObject]:
        return [deployment_json(d) for d in self.deployments.values()]

    # --- changes ---------------------------------------------------------------------------------

    def update_app(self, *, method: str, app_id: str, body: Any, force: bool) -> Reply:  # noqa: PLR0911 - one answer per Marathon refusal, in its order
        """PATCH (never creates) or PUT (creates an unknown app) of one app with a decoded body."""
        if not isinstance(body, dict):
            return message(400, "Invalid JSON", details=[{"path": "/", "errors": ["error.expected.jsobject"]}])
        instances = body.get("instances")
        if "instances" in body and (isinstance(instances, bool) or not isinstance(instances, int) or instances < 0):
            return _not_valid("/instances", "got a value that is not a whole number of 0 or more")
        app = self.apps.get(app_id)
        if app is None:
            if method == "PATCH":
                return message(404, f"App '{app_id}' does not exist")
            return self._create_app(app_id, body)

        extra = tuple(sorted(k for k in body if k not in ("instances", "id")))
        if extra:
            self.extra_field_updates.append(ExtraFieldsUpdate(method=method, app_id=app_id, fields=extra))
            log.warning("%s %s carried fields other than instances: %s", method, app_id, extra)
        config_changes = {
            name: body[name] for name in _CONFIG_FIELDS if name in body and body[name] != _config_value(app, name)
        }
        new_instances = app.instances if instances is None else int(instances)
        now = self.clock()
        stamp = iso(now)
        deployment_id = str(uuid.uuid4())
        if new_instances == app.instances and not config_changes:
            return _accepted(deployment_id, stamp, status=200)
        refusal = self._refuse_new_deployment(app_id, force=force)
        if refusal is not None:
            return refusal

        for name, value in config_changes.items():
            _set_config_value(app, name=name, value=value)
        if config_changes:
            app.last_config_change_at = stamp
        app.version = stamp
        app.last_scaling_at = stamp
        app.instances = new_instances
        self._start_scaling(app, deployment_id=deployment_id, now=now)
        return _accepted(deployment_id, stamp, status=200)

    def _create_app(self, app_id: str, body: Mapping[str, Any]) -> Reply:
        problem = app_id_problem(app_id)
        if problem is not None:
            return _not_valid("/id", problem)
        refusal = self._refuse_new_deployment(app_id, force=False)
        if refusal is not None:
            return refusal
        self.add_app(
            app_id,
            instances=int(body.get("instances", 1)),
            running=0,
            health_checks=False,
            labels={},
            cpus=0.1,
            mem=32.0,
            cmd="sleep 3600",
        )
        app = self.apps[app_id]
        for name in _CONFIG_FIELDS:
            if name in body:
                _set_config_value(app, name=name, value=body[name])
        deployment_id = str(uuid.uuid4())
        self._start_scaling(app, deployment_id=deployment_id, now=self.clock())
        return _accepted(deployment_id, app.version, status=201)

    def _refuse_new_deployment(self, app_id: str, *, force: bool) -> Reply | None:
        if len(self.deployments) >= self.max_running_deployments:
            return message(
                403,
                f"Max number ({self.max_running_deployments}) of running deployments is "
                "achieved. Wait for existing deployments to complete or cancel oneusing "
                "force=true parameter. You can increase max deployment number by using "
                "--max_running_deployments parameter but be advised that this can have "
                "negative effects on the performance.",
            )
        conflicts = [d for d in self.deployments.values() if d.app_id == app_id]
        if conflicts and not force:
            return message(
                409,
                "App is locked by one or more deployments. Override with the option "
                "'?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                deployments=[{"id": d.deployment_id} for d in conflicts],
            )
        for deployment in conflicts:
            del self.deployments[deployment.deployment_id]
            app = self.apps.get(app_id)
            if app is not None:
                app.staged = 0
        return None

    def _start_scaling(self, app: App, *, deployment_id: str, now: float) -> None:
        if app.instances <= app.running:
            app.running = app.instances
            app.staged = 0
            return
        self.deployments[deployment_id] = Deployment(
            deployment_id=deployment_id,
            version=iso(now),
            app_id=app.app_id,
            started=now,
            kind="scale",
            from_running=app.running,
            target=app.instances,
        )
        self.advance()


def _config_value(app: App, name: str) -> Any:
    return {
        "cmd": app.cmd,
        "cpus": app.cpus,
        "mem": app.mem,
        "labels": app.labels,
        "healthChecks": app.health_checks,
    }[name]


def _set_config_value(app: App, *, name: str, value: Any) -> None:
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
