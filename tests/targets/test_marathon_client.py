"""MarathonClient against mocked HTTP: parsing of Marathon's real shapes, the retry matrix, the exact
scale request, the translation of every answer and the absence of secrets in what we report."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from autoscaler.core.model import AppState
from autoscaler.errors import ConfigurationError, TargetAuthError, TargetUnavailable, WireError
from autoscaler.http import RetryPolicy
from autoscaler.targets.marathon import MarathonClient, app_id_problem

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "marathon"
BASE = "http://marathon.test:8080"
POLICY = RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.002, total_timeout=5.0, request_timeout=1.0)
PASSWORD = "pw-Zq81-very-secret"
TOKEN = "eyJ-dcos-token-4711"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[MarathonClient]:
    marathon = MarathonClient(base_url=BASE, policy=POLICY)
    yield marathon
    await marathon.aclose()


# --- list_apps -------------------------------------------------------------------------------------


async def test_list_apps_parses_the_real_list_shape(mock: respx.MockRouter, client: MarathonClient) -> None:
    raw = fixture("apps_list.json")
    route = mock.get("/v2/apps").respond(200, json=raw)

    snapshot = await client.list_apps()

    assert route.call_count == 1
    assert set(snapshot.apps) == {app["id"] for app in raw["apps"]}
    assert snapshot.invalid == {}
    assert snapshot.apps["/shop/api"] == AppState(
        app_id="/shop/api",
        instances=4,
        tasks_running=4,
        tasks_healthy=3,
        tasks_staged=0,
        tasks_unhealthy=1,
        has_health_checks=True,
        deployment_ids=(),
        last_scaled_at=datetime(2024, 5, 2, 10, 15, 30, 158000, tzinfo=UTC),
    )


async def test_app_without_health_checks_counts_running_tasks(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.get("/v2/apps").respond(200, json=fixture("apps_list.json"))

    worker = (await client.list_apps()).apps["/shop/worker"]

    assert worker.has_health_checks is False
    assert (worker.tasks_running, worker.tasks_staged, worker.tasks_healthy) == (2, 1, 0)
    assert worker.ready_instances == 2
    assert worker.deployment_ids == ("97c136bf-5a28-4821-9d94-480d9fbb01c8",)
    assert worker.deployment_in_progress


async def test_last_scaling_at_is_timezone_aware(mock: respx.MockRouter, client: MarathonClient) -> None:
    raw = fixture("apps_list.json")
    mock.get("/v2/apps").respond(200, json=raw)

    snapshot = await client.list_apps()

    for app in raw["apps"]:
        parsed = snapshot.apps[app["id"]].last_scaled_at
        assert parsed is not None
        assert parsed.utcoffset() is not None
        expected = datetime.fromisoformat(app["versionInfo"]["lastScalingAt"].replace("Z", "+00:00"))
        assert parsed == expected


async def test_missing_version_info_gives_no_last_scaling_time(mock: respx.MockRouter, client: MarathonClient) -> None:
    app = fixture("apps_list.json")["apps"][0]
    del app["versionInfo"]
    mock.get("/v2/apps").respond(200, json={"apps": [app]})

    assert (await client.list_apps()).apps["/shop/api"].last_scaled_at is None


async def test_list_apps_is_one_plain_request_without_embed(mock: respx.MockRouter, client: MarathonClient) -> None:
    everything = mock.route().respond(200, json=fixture("apps_list.json"))

    await client.list_apps()

    assert everything.call_count == 1
    request = everything.calls.last.request
    assert request.method == "GET"
    assert request.url.path == "/v2/apps"
    assert "embed" not in request.url.params


async def test_malformed_apps_are_isolated(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.get("/v2/apps").respond(200, json=fixture("apps_list_with_malformed.json"))

    snapshot = await client.list_apps()

    assert set(snapshot.apps) == {"/good", "/also-good"}
    assert snapshot.apps["/also-good"].has_health_checks is True
    assert set(snapshot.invalid) == {
        "<app #1 without an id>",
        "/wrong-type",
        "/negative",
        "/no-instances",
        "/bad-timestamp",
        "/bad-deployments",
        "<app #7 without an id>",
    }
    assert "id" in snapshot.invalid["<app #1 without an id>"]
    assert "instances" in snapshot.invalid["/wrong-type"]
    assert "tasksRunning" in snapshot.invalid["/negative"]
    assert "instances" in snapshot.invalid["/no-instances"]
    assert "lastScalingAt" in snapshot.invalid["/bad-timestamp"]
    assert "deployments" in snapshot.invalid["/bad-deployments"]
    assert "object" in snapshot.invalid["<app #7 without an id>"]


async def test_an_id_listed_twice_is_not_trusted(mock: respx.MockRouter, client: MarathonClient) -> None:
    app = fixture("apps_list.json")["apps"][0]
    mock.get("/v2/apps").respond(200, json={"apps": [app, {**app, "instances": 9}]})

    snapshot = await client.list_apps()

    assert "/shop/api" not in snapshot.apps
    assert "/shop/api" in snapshot.invalid


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, text=""),
    ],
    ids=["html", "empty"],
)
async def test_a_body_that_is_not_json_is_unavailable(
    *, mock: respx.MockRouter, client: MarathonClient, response: httpx.Response
) -> None:
    mock.get("/v2/apps").mock(return_value=response)

    with pytest.raises(TargetUnavailable, match="not JSON") as caught:
        await client.list_apps()
    assert isinstance(caught.value.__cause__, WireError)


@pytest.mark.parametrize(
    "body",
    [[], {"app": {"id": "/x"}}, {"apps": {}}, {"apps": None}, "apps"],
    ids=["list", "single-app", "apps-object", "apps-null", "string"],
)
async def test_json_that_is_not_an_app_list_is_unavailable(
    *, mock: respx.MockRouter, client: MarathonClient, body: Any
) -> None:
    mock.get("/v2/apps").respond(200, json=body)

    with pytest.raises(TargetUnavailable, match=r'\{"apps": \[\.\.\.\]\}'):
        await client.list_apps()


async def test_list_apps_401_names_the_credential_settings(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.get("/v2/apps").respond(401, json=fixture("unauthorized_401.json"))

    with pytest.raises(TargetAuthError) as caught:
        await client.list_apps()
    for setting in (
        "AUTOSCALER_MARATHON_USER",
        "AUTOSCALER_MARATHON_PASSWORD",
        "AUTOSCALER_MARATHON_TOKEN",
    ):
        assert setting in str(caught.value)


async def test_list_apps_connection_error_is_chained(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.get("/v2/apps").mock(side_effect=httpx.ConnectError("connection refused"))

    with pytest.raises(TargetUnavailable) as caught:
        await client.list_apps()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert "marathon.test" in str(caught.value)


# --- the retry matrix ------------------------------------------------------------------------------

RETRIED: list[Any] = [500, 502, 503, 504, 429, httpx.ConnectError, httpx.ReadTimeout]
NOT_RETRIED: list[Any] = [400, 401, 403, 404, 409, 422]


def _answer(kind: Any) -> dict[str, Any]:
    if isinstance(kind, int):
        return {"return_value": httpx.Response(kind, json={"message": f"status {kind}"})}
    return {"side_effect": kind("simulated")}


@pytest.mark.parametrize(
    ("kind", "expected_calls"),
    [(k, POLICY.attempts) for k in RETRIED] + [(k, 1) for k in NOT_RETRIED],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_retry_matrix_for_scale(
    *, mock: respx.MockRouter, client: MarathonClient, kind: Any, expected_calls: int
) -> None:
    route = mock.patch("/v2/apps/shop/api").mock(**_answer(kind))

    if kind == 401:
        with pytest.raises(TargetAuthError):
            await client.scale("/shop/api", 3)
    else:
        result = await client.scale("/shop/api", 3)
        assert result.ok is False
        if kind in RETRIED:
            assert result.outcome == "unavailable"

    assert route.call_count == expected_calls


@pytest.mark.parametrize(
    ("kind", "expected_calls"),
    [(k, POLICY.attempts) for k in RETRIED] + [(k, 1) for k in NOT_RETRIED],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_retry_matrix_for_list_apps(
    *, mock: respx.MockRouter, client: MarathonClient, kind: Any, expected_calls: int
) -> None:
    route = mock.get("/v2/apps").mock(**_answer(kind))

    expected_error = TargetAuthError if kind == 401 else TargetUnavailable
    with pytest.raises(expected_error):
        await client.list_apps()

    assert route.call_count == expected_calls


async def test_a_transient_failure_is_retried_then_succeeds(mock: respx.MockRouter, client: MarathonClient) -> None:
    route = mock.patch("/v2/apps/shop/api").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("reset"),
            httpx.Response(200, json=fixture("deployment_result.json")),
        ]
    )

    result = await client.scale("/shop/api", 3)

    assert result.outcome == "scaled"
    assert route.call_count == 3


# --- the scale request -----------------------------------------------------------------------------


@pytest.mark.parametrize("instances", [0, 1, 7, 250])
async def test_scale_sends_exactly_the_instance_count_with_patch(
    *, mock: respx.MockRouter, client: MarathonClient, instances: int
) -> None:
    everything = mock.route().respond(200, json=fixture("deployment_result.json"))

    await client.scale("/shop/api", instances)

    assert everything.call_count == 1
    request = everything.calls.last.request
    assert request.method == "PATCH"
    assert json.loads(request.content) == {"instances": instances}
    assert request.headers["Content-Type"] == "application/json"


async def test_scale_never_uses_put(mock: respx.MockRouter, client: MarathonClient) -> None:
    put = mock.put(path__startswith="/v2/apps").respond(200, json=fixture("deployment_result.json"))
    patch = mock.patch(path__startswith="/v2/apps").respond(200, json=fixture("deployment_result.json"))

    await client.scale("/shop/api", 2)
    await client.scale("/shop/api", 2, force=True)

    assert put.call_count == 0
    assert patch.call_count == 2


async def test_force_is_only_sent_on_request(mock: respx.MockRouter, client: MarathonClient) -> None:
    route = mock.patch("/v2/apps/shop/api").respond(200, json=fixture("deployment_result.json"))

    await client.scale("/shop/api", 2)
    await client.scale("/shop/api", 2, force=False)
    await client.scale("/shop/api", 2, force=True)

    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [{}, {}, {"force": "true"}]


@pytest.mark.parametrize(
    ("base_url", "app_id", "raw_path"),
    [
        (BASE, "/shop/api", b"/v2/apps/shop/api"),
        (BASE, "/a/b.c/d-e/f", b"/v2/apps/a/b.c/d-e/f"),
        (BASE + "/service/marathon", "/shop/api", b"/service/marathon/v2/apps/shop/api"),
        (BASE + "/service/marathon/", "/web", b"/service/marathon/v2/apps/web"),
    ],
)
async def test_app_ids_go_into_the_path_with_literal_slashes(*, base_url: str, app_id: str, raw_path: bytes) -> None:
    marathon = MarathonClient(base_url=base_url, policy=POLICY)
    with respx.mock(assert_all_called=False) as router:
        route = router.route().respond(200, json=fixture("deployment_result.json"))
        await marathon.scale(app_id, 1)
    await marathon.aclose()

    assert route.calls.last.request.url.raw_path == raw_path
    assert b"%2F" not in route.calls.last.request.url.raw_path.upper()


ODD_IDS = [
    "",
    "/",
    "shop/api",
    "/shop//api",
    "/shop/api/",
    "/shop/../api",
    "/shop/./api",
    "/..",
    "/Shop/api",
    "/shop/a%2Fb",
    "/shop/api?force=true",
    "/shop/api#x",
    "/shop/ api",
    "/shop/api\n",
    "/shop/-api",
    "/shop/api-",
    "/shop/a..b",
    "/shop/api_v2",
    "/shop/tasks",
    "/shop/versions",
    "/shop/restart",
    "/shop/äpi",
]


@pytest.mark.parametrize("app_id", ODD_IDS)
async def test_odd_ids_are_rejected_without_a_request(
    *, mock: respx.MockRouter, client: MarathonClient, app_id: str
) -> None:
    everything = mock.route().respond(200, json=fixture("deployment_result.json"))

    result = await client.scale(app_id, 2)

    assert result.outcome == "rejected"
    assert result.app_id == app_id
    assert "Not sent" in result.detail
    assert everything.call_count == 0


@pytest.mark.parametrize("app_id", ["/a", "/shop/api", "/a1/b-2/c.d", "/tasks/api", "/x/0"])
def test_valid_ids_pass_the_id_check(app_id: str) -> None:
    assert app_id_problem(app_id) is None


@pytest.mark.parametrize("instances", [-1, True, 2.5])
async def test_bad_instance_counts_are_rejected_without_a_request(
    *, mock: respx.MockRouter, client: MarathonClient, instances: Any
) -> None:
    everything = mock.route().respond(200, json=fixture("deployment_result.json"))

    result = await client.scale("/shop/api", instances)

    assert result.outcome == "rejected"
    assert everything.call_count == 0


# --- answers to a scale ----------------------------------------------------------------------------


async def test_200_is_scaled_with_the_deployment_id_from_the_body(
    mock: respx.MockRouter, client: MarathonClient
) -> None:
    body = fixture("deployment_result.json")
    mock.patch("/v2/apps/shop/api").respond(200, json=body)

    result = await client.scale("/shop/api", 5)

    assert result.ok
    assert (result.app_id, result.instances, result.outcome) == ("/shop/api", 5, "scaled")
    assert result.deployment_id == body["deploymentId"]


async def test_200_without_body_takes_the_deployment_id_from_the_header(
    mock: respx.MockRouter, client: MarathonClient
) -> None:
    mock.patch("/v2/apps/shop/api").respond(200, headers={"Marathon-Deployment-Id": "dep-from-header"})

    result = await client.scale("/shop/api", 5)

    assert result.outcome == "scaled"
    assert result.deployment_id == "dep-from-header"


@pytest.mark.parametrize(
    ("status", "fixture_name", "outcome", "words"),
    [
        (409, "app_locked_409.json", "deployment_in_progress", ["97c136bf-5a28-4821-9d94-480d9fbb01c8"]),
        (409, "app_exists_409.json", "rejected", ["already exists"]),
        (403, "deployment_cap_403.json", "deployment_cap", ["Max number (100)"]),
        (403, "not_authorized_403.json", "rejected", ["not authorized", "Not Authorized"]),
        (404, "app_not_found_404.json", "not_found", ["/shop/api"]),
        (422, "object_not_valid_422.json", "rejected", ["Object is not valid", "is greater than 1"]),
        (400, "invalid_json_400.json", "rejected", ["Invalid JSON"]),
    ],
)
async def test_refusals_are_results_not_errors(
    *, mock: respx.MockRouter, client: MarathonClient, status: int, fixture_name: str, outcome: str, words: list[str]
) -> None:
    mock.patch("/v2/apps/shop/api").respond(status, json=fixture(fixture_name))

    result = await client.scale("/shop/api", 5)

    assert result.outcome == outcome
    assert result.ok is False
    assert result.deployment_id is None
    for word in words:
        assert word in result.detail


async def test_a_403_about_deployments_that_is_not_the_cap_is_a_refusal(
    mock: respx.MockRouter, client: MarathonClient
) -> None:
    mock.patch("/v2/apps/shop/api").respond(403, json={"message": "Not Authorized to change deployments"})

    result = await client.scale("/shop/api", 5)

    assert result.outcome == "rejected"
    assert "not authorized" in result.detail


async def test_scale_401_raises_auth_error(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.patch("/v2/apps/shop/api").respond(401, json=fixture("unauthorized_401.json"))

    with pytest.raises(TargetAuthError, match="AUTOSCALER_MARATHON_TOKEN"):
        await client.scale("/shop/api", 5)


async def test_unavailable_after_retries_is_a_result(mock: respx.MockRouter, client: MarathonClient) -> None:
    mock.patch("/v2/apps/shop/api").mock(side_effect=httpx.ReadTimeout("slow"))

    result = await client.scale("/shop/api", 5)

    assert result.outcome == "unavailable"
    assert "ReadTimeout" in result.detail


# --- credentials -----------------------------------------------------------------------------------


async def test_basic_auth_is_sent_and_never_reported(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    marathon = MarathonClient(base_url=BASE, policy=POLICY, username="scaler", password=PASSWORD)
    patch = mock.patch("/v2/apps/shop/api").mock(
        side_effect=[
            httpx.Response(403, json={"message": f"user scaler with {PASSWORD} may not"}),
            httpx.ConnectError(f"failed for {PASSWORD}"),
            httpx.ConnectError("again"),
            httpx.ConnectError("and again"),
            httpx.Response(401, text="<html>401</html>"),
        ]
    )
    mock.get("/v2/apps").respond(401)

    details = [(await marathon.scale("/shop/api", 2)).detail, (await marathon.scale("/shop/api", 2)).detail]
    with pytest.raises(TargetAuthError) as scale_error:
        await marathon.scale("/shop/api", 2)
    with pytest.raises(TargetAuthError) as list_error:
        await marathon.list_apps()
    await marathon.aclose()

    sent = patch.calls[0].request.headers["Authorization"]
    assert sent == basic_header("scaler", PASSWORD)
    reported = [*details, str(scale_error.value), str(list_error.value), repr(marathon), caplog.text]
    for text in reported:
        assert PASSWORD not in text
        assert sent not in text
    assert "***" in details[0]


async def test_token_is_sent_as_dcos_header_and_never_reported(mock: respx.MockRouter) -> None:
    marathon = MarathonClient(base_url=BASE, policy=POLICY, token=TOKEN)
    route = mock.get("/v2/apps").respond(401, json=fixture("unauthorized_401.json"))

    with pytest.raises(TargetAuthError) as caught:
        await marathon.list_apps()
    await marathon.aclose()

    assert route.calls.last.request.headers["Authorization"] == f"token={TOKEN}"
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(marathon)
    assert "token" in str(caught.value)


async def test_credentials_in_the_url_are_moved_out_of_it(mock: respx.MockRouter) -> None:
    marathon = MarathonClient(base_url=f"http://scaler:{PASSWORD}@marathon.test:8080", policy=POLICY)
    route = mock.get("/v2/apps").mock(side_effect=httpx.ConnectError("down"))

    with pytest.raises(TargetUnavailable) as caught:
        await marathon.list_apps()
    await marathon.aclose()

    request = route.calls.last.request
    assert request.headers["Authorization"] == basic_header("scaler", PASSWORD)
    assert PASSWORD not in str(request.url)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(marathon)


@pytest.mark.parametrize(
    ("base_url", "credentials"),
    [
        (BASE, {"username": "scaler", "password": PASSWORD, "token": TOKEN}),
        (BASE, {"password": PASSWORD}),
        (f"http://scaler:{PASSWORD}@marathon.test", {"token": TOKEN}),
    ],
)
def test_contradictory_credentials_are_a_configuration_error(*, base_url: str, credentials: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        MarathonClient(base_url=base_url, policy=POLICY, **credentials)
    assert PASSWORD not in str(caught.value)
    assert TOKEN not in str(caught.value)
