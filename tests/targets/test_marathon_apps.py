"""Reading Marathon's app list: the direct reading of the usual shape and the AppStates kept between
lists give exactly what the wire models give, for any mix of well-formed and broken fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from autoscaler.core.pause import LABEL_REASON, LABEL_UNTIL
from autoscaler.ports import AppsSnapshot
from autoscaler.targets.marathon_apps import USUAL_LIST, AppListReader, _describe_validation_error, _WireApp
from autoscaler.wire import decode_json, decode_shaped

MISSING = object()


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten, so that whole apps of the usual shape are common."""
    return st.integers(0, 9).flatmap(lambda n: usual if n else odd)


COUNTS = mostly(st.integers(min_value=0, max_value=50), st.sampled_from([-1, 2**70, True, 2.0, "3", None, MISSING]))
USUAL_TIMES = ["2026-03-01T12:00:00.000Z", "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456+05:30"]
ODD_TIMES = [
    "2026-03-01T12:00:00-01:00",
    "2026-02-30T12:00:00.000Z",  # no such day
    "2026-03-01T24:00:00Z",
    "2026-03-01T12:00:00",  # no timezone
    "2026-03-01 12:00:00Z",
    "2026-03-01T12:00:00.1234567Z",
    "1772366400",
    1772366400,
    None,
    MISSING,
]
TIMES = mostly(st.sampled_from(USUAL_TIMES), st.sampled_from(ODD_TIMES))
LABELS = mostly(
    st.dictionaries(
        st.sampled_from([LABEL_UNTIL, LABEL_REASON, "team"]),
        st.sampled_from(["2026-03-01T13:00:00Z", "tomorrow", "2026-03-01T13:00:00", "  a  reason ", 7, None]),
    ),
    st.sampled_from([None, MISSING, [], "x"]),
)


@st.composite
def raw_apps(draw: st.DrawFn, index: int) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([[], "app", 3, None]))
    app: dict[str, Any] = {
        "id": draw(
            mostly(st.sampled_from([f"/shop/app{index}", "/shop/app0"]), st.sampled_from(["/", "shop", 5, MISSING]))
        ),
        "instances": draw(COUNTS),
        "tasksRunning": draw(COUNTS),
        "tasksHealthy": draw(COUNTS),
        "tasksStaged": draw(COUNTS),
        "tasksUnhealthy": draw(COUNTS),
        "healthChecks": draw(mostly(st.sampled_from([[], [{"protocol": "HTTP"}], None]), st.sampled_from([["x"], {}]))),
        "deployments": draw(
            mostly(
                st.sampled_from([[], [{"id": "d1"}], [{"id": "d1", "x": 1}, {"id": "d2"}], None, MISSING]),
                st.sampled_from([[{"id": 1}], ["d1"], {}]),
            )
        ),
        "versionInfo": draw(
            mostly(st.builds(lambda time: {"lastScalingAt": time}, TIMES), st.sampled_from([{}, None, MISSING, 3]))
        ),
        "labels": draw(LABELS),
        "cmd": "sleep 3600",
    }
    return {key: value for key, value in app.items() if value is not MISSING}


def by_the_models(body: dict[str, Any]) -> AppsSnapshot:
    """The list as the wire models alone read it (the rules of the module)."""
    apps: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for index, raw in enumerate(body["apps"]):
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        key = raw_id if isinstance(raw_id, str) and raw_id else f"<app #{index} without an id>"
        if not isinstance(raw, dict):
            invalid[key] = f"expected a JSON object, got {type(raw).__name__}"
            continue
        try:
            state = _WireApp.model_validate(raw).to_state()
        except ValidationError as exc:
            invalid[key] = _describe_validation_error(exc)
            continue
        except ValueError as exc:
            invalid[key] = str(exc)
            continue
        if state.app_id in apps or state.app_id in invalid:
            invalid[state.app_id] = "Marathon listed this id more than once"
            apps.pop(state.app_id, None)
            continue
        apps[state.app_id] = state
    return AppsSnapshot(apps=apps, invalid=invalid)


@st.composite
def lists(draw: st.DrawFn) -> list[Any]:
    return [draw(raw_apps(index)) for index in range(draw(st.integers(0, 6)))]


@settings(max_examples=400, deadline=None)
@given(first=lists(), changes=st.lists(st.tuples(st.integers(0, 5), lists()), max_size=3))
def test_the_reader_reads_every_list_as_the_models_do(first: list[Any], changes: list[tuple[int, list[Any]]]) -> None:
    reader = AppListReader()
    current = first
    for keep, other in [(0, first), *changes]:
        current = current[:keep] + other  # some apps stay as they were, others come and change
        body = {"apps": current}
        seen = reader.read(body)
        assert seen == by_the_models(body)
        for app_id, state in seen.apps.items():
            assert state.last_scaled_at == by_the_models(body).apps[app_id].last_scaled_at


def encoded(value: Any) -> bytes:
    """`value` as Marathon would send it: JSON, with the fields drawn as missing left out."""

    def without_missing(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: without_missing(inner) for key, inner in item.items() if inner is not MISSING}
        if isinstance(item, list):
            return [without_missing(inner) for inner in item]
        return item

    return json.dumps(without_missing(value)).encode()


def as_the_client_reads(reader: AppListReader, data: bytes) -> tuple[AppsSnapshot, bool]:
    """The list read from its bytes as MarathonClient reads it: straight into the usual shape when it
    has it, else decoded as JSON and read app by app; and whether the usual shape took it."""
    usual = reader.read_usual(decode_shaped(data, USUAL_LIST, what="GET /v2/apps", max_bytes=len(data)))
    if usual is not None:
        return usual, True
    return reader.read(decode_json(data, what="GET /v2/apps", max_bytes=len(data))), False


def by_the_models_from(data: bytes) -> AppsSnapshot:
    return by_the_models(decode_json(data, what="GET /v2/apps", max_bytes=len(data)))


@settings(max_examples=400, deadline=None)
@given(first=lists(), changes=st.lists(st.tuples(st.integers(0, 5), lists()), max_size=3))
def test_the_client_reads_every_encoded_list_as_the_models_do(
    first: list[Any], changes: list[tuple[int, list[Any]]]
) -> None:
    reader = AppListReader()
    current = first
    for keep, other in [(0, first), *changes]:
        current = current[:keep] + other
        data = encoded({"apps": current})
        seen, _ = as_the_client_reads(reader, data)
        assert seen == by_the_models_from(data)


def test_a_list_of_the_usual_shape_is_read_straight_from_its_bytes_and_keeps_unchanged_states() -> None:
    reader = AppListReader()
    body = {"apps": [usual_app(), usual_app(id="/shop/web", deployments=[], healthChecks=None, labels=None)]}
    first, fast = as_the_client_reads(reader, encoded(body))
    assert fast and first == by_the_models(body)
    body["apps"][1]["tasksRunning"] = 2
    second, fast = as_the_client_reads(reader, encoded(body))
    assert fast and second == by_the_models(body)
    assert second.apps["/shop/api"] is first.apps["/shop/api"]
    assert second.apps["/shop/web"] is not first.apps["/shop/web"]


@pytest.mark.parametrize(
    "fields",
    [{"versionInfo": {"lastScalingAt": "2026-03-01 12:00:00Z"}}, {"instances": True}, {"labels": []}, {"id": "/"}],
    ids=repr,
)
def test_one_app_off_the_usual_shape_sends_the_whole_list_to_the_app_by_app_reading(fields: dict[str, Any]) -> None:
    body = {"apps": [usual_app(id="/shop/web"), usual_app(**fields)]}
    seen, fast = as_the_client_reads(AppListReader(), encoded(body))
    assert not fast and seen == by_the_models(body)


def test_an_unchanged_app_keeps_its_state_and_a_changed_one_gets_a_new_one() -> None:
    def app(app_id: str, running: int) -> dict[str, Any]:
        return {
            "id": app_id,
            "instances": 3,
            "tasksRunning": running,
            "tasksHealthy": 0,
            "tasksStaged": 0,
            "tasksUnhealthy": 0,
            "deployments": [],
            "versionInfo": {"lastScalingAt": "2026-03-01T12:00:00.000Z"},
        }

    reader = AppListReader()
    before = reader.read({"apps": [app("/a", 3), app("/b", 2)]}).apps
    after = reader.read({"apps": [app("/a", 3), app("/b", 3)]}).apps
    assert after["/a"] is before["/a"]
    assert after["/b"] is not before["/b"] and after["/b"].tasks_running == 3
    assert after["/a"].last_scaled_at is not None and after["/a"].last_scaled_at.utcoffset() is not None


def usual_app(**fields: Any) -> dict[str, Any]:
    app = {
        "id": "/shop/api",
        "instances": 3,
        "tasksRunning": 3,
        "tasksHealthy": 3,
        "tasksStaged": 0,
        "tasksUnhealthy": 0,
        "healthChecks": [{"protocol": "HTTP"}],
        "deployments": [{"id": "d1"}],
        "versionInfo": {"lastScalingAt": "2026-03-01T12:00:00.000Z"},
        "labels": {},
    } | fields
    return {key: value for key, value in app.items() if value is not MISSING}


ODD_FIELDS = [
    *({"versionInfo": {"lastScalingAt": time}} for time in [*USUAL_TIMES, *ODD_TIMES]),
    *({key: value} for key in ("instances", "tasksRunning", "tasksUnhealthy") for value in (-1, True, 2.0, "3", None)),
    {"id": "/"},
    {"id": 5},
    {"healthChecks": ["x"]},
    {"healthChecks": {}},
    {"deployments": [{"id": 1}]},
    {"deployments": ["d1"]},
    {"versionInfo": 3},
    {"labels": {LABEL_UNTIL: "2026-03-01T13:00:00"}},
    {"labels": {LABEL_UNTIL: "2026-03-01T13:00:00Z", LABEL_REASON: 7}},
    {"labels": {LABEL_UNTIL: "2026-03-01T13:00:00+01:00", LABEL_REASON: "  a   reason "}},
]


@pytest.mark.parametrize("fields", ODD_FIELDS, ids=repr)
def test_one_odd_field_in_an_app_of_the_usual_shape_reads_as_the_models_read_it(fields: dict[str, Any]) -> None:
    body = {"apps": [usual_app(**fields)]}
    assert AppListReader().read(body) == by_the_models(body)
