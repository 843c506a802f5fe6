"""Marathon's app list (`GET /v2/apps`, decoded) read into the engine's `AppState` values.

Only the fields the autoscaler reads are looked at; everything else is ignored. An app whose fields
are unusable lands in `invalid` with the reason, never stops the others; an id listed twice is not
trusted at all. The rules are those of the pydantic wire models below.

A list of 10,000 apps arrives every tick and most apps did not change since the last one, so
`AppListReader` reads the usual shape (plain JSON types, exactly what the models accept without
coercion, a timestamp in Marathon's own ISO-8601 form) directly, and keeps last tick's `AppState`
for an app whose fields read are the same. Anything else (a missing or mistyped field, a number
where text is expected, another date form) goes through the models, which decide and word the
error exactly as before.

Faster still, `AppListReader.read_usual` takes the list as msgspec decoded it straight from the
bytes into `UsualApp` structs (`USUAL_LIST`, used through `wire.decode_shaped`): the same plain
shape, checked in C, with nothing built for the fields the service does not read. A list that is not
exactly of that shape, or an app the plain rules would hand to the models, gives None: the caller
then decodes the body as JSON and `read` judges it app by app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from autoscaler.core.frozen import assemble
from autoscaler.core.model import AppState
from autoscaler.core.pause import LABEL_REASON, LABEL_UNTIL, MAX_REASON_CHARS
from autoscaler.ports import AppsSnapshot

__all__ = ["USUAL_LIST", "AppListReader", "UsualApp", "parse_apps"]

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


class _WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel)


class _WireDeploymentRef(_WireModel):
    id: StrictStr


class _WireVersionInfo(_WireModel):
    last_scaling_at: AwareDatetime | None = None


def _label_pause(labels: object) -> tuple[datetime | None, str]:
    """The pause an app's labels declare: `autoscaler.paused-until` (an ISO-8601 time with a
    timezone) and `autoscaler.paused-reason`. ValueError with the label's name for a bad value."""
    if not isinstance(labels, dict):
        return None, ""
    raw_until, raw_reason = labels.get(LABEL_UNTIL), labels.get(LABEL_REASON, "")
    if raw_until is None:
        return None, ""
    if not isinstance(raw_until, str) or len(raw_until) > 64:
        raise ValueError(f"label {LABEL_UNTIL} must be an ISO-8601 time like 2026-12-24T18:00:00Z")
    try:
        until = datetime.fromisoformat(raw_until.strip())
    except ValueError:
        raise ValueError(
            f"label {LABEL_UNTIL} {raw_until[:64]!r} is not an ISO-8601 time like 2026-12-24T18:00:00Z"
        ) from None
    if until.tzinfo is None:
        raise ValueError(f"label {LABEL_UNTIL} {raw_until!r} has no timezone (end it with Z or +01:00)")
    if not isinstance(raw_reason, str):
        raise ValueError(f"label {LABEL_REASON} must be text")
    reason = " ".join(raw_reason.split())[:MAX_REASON_CHARS]
    return until, reason


class _WireApp(_WireModel):
    id: Annotated[StrictStr, Field(min_length=2, pattern=r"^/")]
    instances: NonNegativeInt
    tasks_running: NonNegativeInt
    tasks_healthy: NonNegativeInt
    tasks_staged: NonNegativeInt
    tasks_unhealthy: NonNegativeInt
    health_checks: list[dict[str, Any]] | None = None
    deployments: list[_WireDeploymentRef] | None = None
    version_info: _WireVersionInfo | None = None
    labels: Any = None  # only the pause labels are read (`_label_pause`)

    def to_state(self) -> AppState:
        paused_until, paused_reason = _label_pause(self.labels)
        return AppState(
            app_id=self.id,
            instances=self.instances,
            tasks_running=self.tasks_running,
            tasks_healthy=self.tasks_healthy,
            tasks_staged=self.tasks_staged,
            tasks_unhealthy=self.tasks_unhealthy,
            has_health_checks=bool(self.health_checks),
            deployment_ids=tuple(d.id for d in self.deployments or ()),
            last_scaled_at=self.version_info.last_scaling_at if self.version_info else None,
            paused_until=paused_until,
            paused_reason=paused_reason,
        )


def _describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "app"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


# --- the usual shape, read directly -----------------------------------------------------------

# Marathon's timestamps (2026-03-01T12:00:00.000Z); any other form is left to the models
_MARATHON_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")

Fields = tuple[Any, ...]


def _plain_fields(raw: dict[str, Any]) -> Fields | None:
    """What the AppState of `raw` is made from, when every field has the plain shape the models accept
    as it is (the id first); None for anything else, which the models then read."""
    app_id = raw.get("id")
    if type(app_id) is not str or len(app_id) < 2 or app_id[0] != "/":
        return None
    get = raw.get
    counts = (get("instances"), get("tasksRunning"), get("tasksHealthy"), get("tasksStaged"), get("tasksUnhealthy"))
    for count in counts:
        if type(count) is not int or count < 0:
            return None
    checks = raw.get("healthChecks")
    if checks is not None and (type(checks) is not list or not all(type(check) is dict for check in checks)):
        return None
    deployments = raw.get("deployments")
    if deployments is None:
        deployment_ids: tuple[Any, ...] = ()
    elif type(deployments) is list and all(type(d) is dict and type(d.get("id")) is str for d in deployments):
        deployment_ids = tuple(d["id"] for d in deployments)
    else:
        return None
    info = raw.get("versionInfo")
    scaled = info.get("lastScalingAt") if type(info) is dict else None
    if (info is not None and type(info) is not dict) or (
        scaled is not None and (type(scaled) is not str or _MARATHON_TIME.fullmatch(scaled) is None)
    ):
        return None
    labels = raw.get("labels")
    pause = (labels.get(LABEL_UNTIL), labels.get(LABEL_REASON, "")) if type(labels) is dict else (None, "")
    return (app_id, *counts, bool(checks), deployment_ids, scaled, pause)


def _plain_state(fields: Fields, labels: object) -> AppState | None:
    """The AppState of `_plain_fields`; None when its time is not a real one (the models word why).
    ValueError for an unusable pause label, as the models' path raises it."""
    app_id, instances, running, healthy, staged, unhealthy, checks, deployment_ids, scaled, _ = fields
    try:
        last_scaled = datetime.fromisoformat(scaled) if scaled is not None else None
    except ValueError:
        return None
    paused_until, paused_reason = _label_pause(labels)
    # made without the dataclass's __init__ (core.frozen): one per app per tick when apps change
    values = {
        "app_id": app_id,
        "instances": instances,
        "tasks_running": running,
        "tasks_healthy": healthy,
        "tasks_staged": staged,
        "tasks_unhealthy": unhealthy,
        "has_health_checks": checks,
        "deployment_ids": deployment_ids,
        "last_scaled_at": last_scaled,
        "paused_until": paused_until,
        "paused_reason": paused_reason,
    }
    return assemble(AppState, values)


# --- the usual shape, decoded straight from the bytes ---------------------------------------------

# bounded as orjson reads integers: a longer one goes the JSON way, where `decode_json` decides
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class _AnyObject(msgspec.Struct, gc=False):
    """Any JSON object, its content skipped (a health check: only whether there is one matters)."""


class _UsualDeployment(msgspec.Struct, gc=False):
    id: str


class _UsualVersionInfo(msgspec.Struct, rename="camel", gc=False):
    last_scaling_at: str | None = None


class UsualApp(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """The fields of one app that `_plain_fields` reads, with the types it accepts as they are.

    Not tracked by the garbage collector (`gc=False`), and arrays decoded as tuples (the empty one is
    shared): ten thousand apps per tick add almost nothing for the collector to count or walk. Freshly
    decoded values cannot refer back to the struct, so it is never part of a cycle."""

    id: Annotated[str, msgspec.Meta(min_length=2, pattern="^/")]
    instances: _Count
    tasks_running: _Count
    tasks_healthy: _Count
    tasks_staged: _Count
    tasks_unhealthy: _Count
    health_checks: tuple[_AnyObject, ...] | None = None
    deployments: tuple[_UsualDeployment, ...] | None = None
    version_info: _UsualVersionInfo | None = None
    labels: dict[str, Any] | None = None


class _UsualList(msgspec.Struct):
    apps: list[UsualApp]


USUAL_LIST = msgspec.json.Decoder(_UsualList)


def _usual_fields(app: UsualApp) -> Fields | None:
    """The `_plain_fields` of an app decoded as `UsualApp`; None when its time is not Marathon's form."""
    info = app.version_info
    scaled = info.last_scaling_at if info is not None else None
    if scaled is not None and _MARATHON_TIME.fullmatch(scaled) is None:
        return None
    labels = app.labels
    pause = (labels.get(LABEL_UNTIL), labels.get(LABEL_REASON, "")) if labels is not None else (None, "")
    deployment_ids = tuple(d.id for d in app.deployments) if app.deployments else ()
    counts = (app.instances, app.tasks_running, app.tasks_healthy, app.tasks_staged, app.tasks_unhealthy)
    return (app.id, *counts, bool(app.health_checks), deployment_ids, scaled, pause)


class AppListReader:
    """Reads app lists tick after tick, keeping each app's last AppState while its fields are the same."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Fields, AppState]] = {}
        self._usual: dict[str, tuple[UsualApp, AppState]] = {}

    def read(self, body: Mapping[str, Any]) -> AppsSnapshot:
        """The snapshot of a decoded `{"apps": [...]}` (the caller checked that `apps` is a list)."""
        apps: dict[str, AppState] = {}
        invalid: dict[str, str] = {}
        known, self._known = self._known, {}
        for index, raw in enumerate(body["apps"]):
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            key = raw_id if isinstance(raw_id, str) and raw_id else f"<app #{index} without an id>"
            if not isinstance(raw, dict):
                invalid[key] = f"expected a JSON object, got {type(raw).__name__}"
                continue
            try:
                state = self._state(raw, known)
            except ValidationError as exc:
                invalid[key] = _describe_validation_error(exc)
                continue
            except ValueError as exc:  # a label the autoscaler reads (a pause) is unusable: nothing is written
                invalid[key] = str(exc)
                continue
            if state.app_id in apps or state.app_id in invalid:
                invalid[state.app_id] = "Marathon listed this id more than once"
                apps.pop(state.app_id, None)
                continue
            apps[state.app_id] = state
        return AppsSnapshot(apps=apps, invalid=invalid)

    def read_usual(self, decoded: object) -> AppsSnapshot | None:
        """The snapshot of a list `USUAL_LIST` decoded; None when one of its apps is for the models
        (an odd time): the caller then reads the body as JSON with `read`."""
        if not isinstance(decoded, _UsualList):
            return None
        apps: dict[str, AppState] = {}
        invalid: dict[str, str] = {}
        known: dict[str, tuple[UsualApp, AppState]] = {}
        before = self._usual
        for app in decoded.apps:
            kept = before.get(app.id)
            if kept is not None and kept[0] == app:
                state = kept[1]
            else:
                fields = _usual_fields(app)
                if fields is None:
                    return None
                try:
                    made = _plain_state(fields, app.labels)
                except ValueError as exc:  # an unusable pause label: nothing is written for this app
                    invalid[app.id] = str(exc)
                    continue
                if made is None:
                    return None
                state = made
            known.setdefault(app.id, (app, state))
            if app.id in apps or app.id in invalid:
                invalid[app.id] = "Marathon listed this id more than once"
                apps.pop(app.id, None)
                continue
            apps[app.id] = state
        self._usual = known
        return AppsSnapshot(apps=apps, invalid=invalid)

    def _state(self, raw: dict[str, Any], known: Mapping[str, tuple[Fields, AppState]]) -> AppState:
        fields = _plain_fields(raw)
        if fields is not None:
            before = known.get(fields[0])
            if before is not None and before[0] == fields:
                state: AppState | None = before[1]
            else:
                state = _plain_state(fields, raw.get("labels"))
            if state is not None:
                if fields[0] not in self._known:  # an id listed twice keeps the first
                    self._known[fields[0]] = (fields, state)
                return state
        return _WireApp.model_validate(raw).to_state()


def parse_apps(body: Mapping[str, Any]) -> AppsSnapshot:
    """One app list read on its own (no AppState kept from an earlier one)."""
    return AppListReader().read(body)
