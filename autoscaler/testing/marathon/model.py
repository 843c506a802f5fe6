"""What the fake Marathon holds (apps, deployments) and how Marathon shows it as JSON.

The shapes follow Marathon's real answers, not its published examples where those are wrong: a
single app is `{"app": {...}}`, an app always embeds its counts and `deployments`, an app without
health checks reports `tasksHealthy = tasksUnhealthy = 0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

JSONObject = dict[str, Any]


@dataclass
class App:
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
class Deployment:
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


def iso(timestamp: float) -> str:
    """Marathon's timestamps: ISO 8601 in UTC with milliseconds and a `Z`."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_health_check() -> JSONObject:
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


def app_json(app: App, *, deployments: list[Deployment], with_tasks: bool) -> JSONObject:
    """The app as `GET /v2/apps` (`with_tasks=False`) or `GET /v2/apps/{id}` shows it."""
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
        "deployments": [{"id": d.deployment_id} for d in deployments if d.app_id == app.app_id],
    }
    if with_tasks:
        body["tasks"] = _tasks_json(app, unhealthy=unhealthy)
    return body


def _tasks_json(app: App, *, unhealthy: int) -> list[JSONObject]:
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
            task["healthCheckResults"] = [{"alive": index >= unhealthy, "consecutiveFailures": 0, "taskId": task_id}]
        tasks.append(task)
    return tasks


def deployment_json(deployment: Deployment) -> JSONObject:
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


def info_json(*, leader: str, max_running_deployments: int, http_port: int) -> JSONObject:
    return {
        "name": "marathon",
        "version": "1.10.26",
        "buildref": "fake",
        "elected": True,
        "leader": leader,
        "frameworkId": "00000000-0000-0000-0000-000000000000-0000",
        "marathon_config": {
            "framework_name": "marathon",
            "ha": False,
            "max_running_deployments": max_running_deployments,
            "master": "local",
        },
        "http_config": {"http_port": http_port, "https_port": 8443},
    }
