"""The one app-id grammar: Marathon's rules, shared by the policy and the client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from autoscaler.core.appid import RESERVED_LAST_SEGMENTS, app_id_problem, validate_app_id
from autoscaler.core.policy import Campaign, Policy
from autoscaler.targets import marathon

# Marathon's segment pattern, transcribed from mesosphere/marathon
# src/main/scala/mesosphere/marathon/state/PathId.scala (as quoted in its RAML, v2/types/stringTypes.raml).
MARATHON_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")

VALID = ["/a", "/shop/api", "/shop/api.v2", "/a-b/c.d-e", "/1/2", "/tasks/api", "/shop/taskss", "/shop/my-tasks"]
INVALID = {
    "": "absolute",
    "shop/api": "absolute",
    "/": "empty segments",
    "//a": "empty segments",
    "/a/": "empty segments",
    "/a/./b": "'.' or '..'",
    "/..": "'.' or '..'",
    "/A": "lowercase",
    "/a_b": "lowercase",
    "/-a": "start or end with '-'",
    "/a-": "start or end with '-'",
    "/a.-b": "start or end with '-'",
    "/a..b": "lowercase",
    "/a b": "lowercase",
    "/a\n": "lowercase",
    "/caf\u00e9": "lowercase",
    "/shop/tasks": "reserved by Marathon",
    "/shop/restart": "reserved by Marathon",
    "/versions": "reserved by Marathon",
}


def policy(app: str) -> dict[str, Any]:
    return {"app": app, "min_instances": 1, "max_instances": 3, "metrics": []}


@pytest.mark.parametrize("app_id", VALID)
def test_marathon_ids_are_accepted(app_id: str) -> None:
    assert app_id_problem(app_id) is None
    assert validate_app_id(app_id) == app_id
    assert Policy.model_validate(policy(app_id)).app == app_id


@pytest.mark.parametrize(("app_id", "why"), INVALID.items())
def test_other_ids_are_refused_with_the_reason(app_id: str, why: str) -> None:
    problem = app_id_problem(app_id)
    assert problem is not None and why in problem
    with pytest.raises(ValidationError, match="is not a Marathon app id"):
        Policy.model_validate(policy(app_id))


def test_a_policy_for_a_reserved_id_is_refused_when_read_not_at_every_write() -> None:
    """`/shop/tasks` is the task list of `/shop` in Marathon's URLs: such an app cannot exist, and
    the client would refuse to send every write for it, so the policy is refused when it is read."""
    with pytest.raises(ValidationError, match=r"the last segment may not be 'tasks' \(reserved by Marathon\)"):
        Policy.model_validate(policy("/shop/tasks"))
    campaign = {"name": "sale", "start": "2026-06-01T00:00:00Z", "end": "2026-06-02T00:00:00Z"}
    with pytest.raises(ValidationError, match="reserved by Marathon"):
        Campaign.model_validate({**campaign, "apps": {"/shop/versions": 2}})
    assert marathon.app_id_problem is app_id_problem  # the client checks with the same grammar


segments = st.text(alphabet="ab9-.", min_size=0, max_size=8)
ids = st.lists(st.one_of(segments, st.sampled_from(sorted(RESERVED_LAST_SEGMENTS))), min_size=0, max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)


@given(segment=segments)
def test_the_segment_check_is_marathons_pattern(segment: str) -> None:
    ok = app_id_problem(f"/{segment}/x") is None
    assert ok == bool(MARATHON_SEGMENT.fullmatch(segment))


@given(app_id=ids)
def test_the_policy_loads_exactly_the_ids_the_client_sends(app_id: str) -> None:
    try:
        Policy.model_validate(policy(app_id))
        loads = True
    except ValidationError:
        loads = False
    assert loads == (marathon.app_id_problem(app_id) is None)
