"""The fake Marathon served over real HTTP on 127.0.0.1 and driven by the real MarathonClient.

These tests pin the Marathon behaviour the fake promises (deployments, locks, 404s, PUT creating
apps, versionInfo, auth) so the demo and the loop's tests can rely on it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from autoscaler.errors import TargetAuthError, TargetUnavailable
from autoscaler.http import RetryPolicy
from autoscaler.targets.marathon import MarathonClient
from autoscaler.testing.clock import FakeClock
from autoscaler.testing.marathon import FakeMarathon
from autoscaler.testing.marathon.server import MAX_BODY_BYTES, MAX_BODY_DEPTH

POLICY = RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.002, total_timeout=5.0, request_timeout=2.0)
START = 1_714_640_000.25
DELAY = 10.0


def as_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock.at_epoch(START)


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeMarathon]:
    marathon = FakeMarathon(task_start_delay=DELAY, clock=clock.seconds)
    marathon.add_app("/shop/api", instances=2, health_checks=True)
    marathon.add_app("/shop/worker", instances=3)
    await marathon.start()
    yield marathon
    await marathon.stop()


@pytest.fixture
async def client(fake: FakeMarathon) -> AsyncIterator[MarathonClient]:
    marathon = MarathonClient(base_url=fake.url, policy=POLICY)
    yield marathon
    await marathon.aclose()


@pytest.fixture
async def http(fake: FakeMarathon) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url) as raw:
        yield raw


def patches(fake: FakeMarathon) -> list[Any]:
    return [r for r in fake.requests if r.method == "PATCH"]


async def test_scale_up_is_a_deployment_whose_tasks_start_one_by_one(
    *, fake: FakeMarathon, client: MarathonClient, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    result = await client.scale("/shop/api", 5)
    assert result.outcome == "scaled"
    assert result.deployment_id

    deployments = (await http.get("/v2/deployments")).json()
    assert [d["id"] for d in deployments] == [result.deployment_id]
    assert deployments[0]["affectedApps"] == ["/shop/api"]
    assert {"version", "steps", "currentActions", "currentStep", "totalSteps"} <= set(deployments[0])

    seen = []
    for step in range(4):
        app = (await client.list_apps()).apps["/shop/api"]
        seen.append((app.instances, app.tasks_running, app.tasks_healthy, app.tasks_staged))
        assert app.deployment_ids == ((result.deployment_id,) if step < 3 else ())
        clock.advance(DELAY)
    assert seen == [(5, 2, 2, 1), (5, 3, 3, 1), (5, 4, 4, 1), (5, 5, 5, 0)]
    assert (await http.get("/v2/deployments")).json() == []


async def test_a_task_is_not_running_before_its_start_delay_is_over(
    *, fake: FakeMarathon, client: MarathonClient, clock: FakeClock
) -> None:
    await client.scale("/shop/worker", 4)
    clock.advance(DELAY - 0.5)
    assert (await client.list_apps()).apps["/shop/worker"].tasks_running == 3
    clock.advance(0.5)
    assert (await client.list_apps()).apps["/shop/worker"].tasks_running == 4


async def test_scale_down_kills_at_once(fake: FakeMarathon, client: MarathonClient) -> None:
    result = await client.scale("/shop/worker", 1)

    app = (await client.list_apps()).apps["/shop/worker"]
    assert result.outcome == "scaled"
    assert (app.instances, app.tasks_running, app.deployment_ids) == (1, 1, ())


async def test_scale_updates_version_and_last_scaling_at_only(
    *, fake: FakeMarathon, client: MarathonClient, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    before = (await http.get("/v2/apps/shop/api")).json()["app"]
    clock.advance(3600.5)

    result = await client.scale("/shop/api", 3)
    after = (await http.get("/v2/apps/shop/api")).json()["app"]
    state = (await client.list_apps()).apps["/shop/api"]

    assert result.outcome == "scaled"
    assert state.last_scaled_at == as_datetime(clock.seconds())
    assert after["version"] == after["versionInfo"]["lastScalingAt"] != before["version"]
    assert after["versionInfo"]["lastConfigChangeAt"] == before["versionInfo"]["lastConfigChangeAt"]


async def test_response_carries_deployment_id_in_body_and_header(http: httpx.AsyncClient) -> None:
    response = await http.patch("/v2/apps/shop/api", json={"instances": 4})

    assert response.status_code == 200
    assert response.json()["deploymentId"] == response.headers["Marathon-Deployment-Id"]
    assert "version" in response.json()


async def test_locked_app_answers_409_with_deployments_and_is_not_retried(
    fake: FakeMarathon, client: MarathonClient
) -> None:
    blocking = fake.begin_deployment("/shop/api")

    result = await client.scale("/shop/api", 4)

    assert result.outcome == "deployment_in_progress"
    assert blocking in result.detail
    assert len(patches(fake)) == 1
    assert (await client.list_apps()).apps["/shop/api"].instances == 2


async def test_a_second_scale_during_the_first_deployment_is_locked(
    *, fake: FakeMarathon, client: MarathonClient, clock: FakeClock
) -> None:
    first = await client.scale("/shop/api", 4)
    second = await client.scale("/shop/api", 6)
    assert first.deployment_id is not None
    assert (second.outcome, first.deployment_id in second.detail) == ("deployment_in_progress", True)

    clock.advance(2 * DELAY)
    third = await client.scale("/shop/api", 6)
    assert third.outcome == "scaled"


async def test_409_body_is_marathons(fake: FakeMarathon, http: httpx.AsyncClient) -> None:
    blocking = fake.begin_deployment("/shop/worker")

    response = await http.patch("/v2/apps/shop/worker", json={"instances": 1})

    assert response.status_code == 409
    assert response.json()["deployments"] == [{"id": blocking}]
    assert "force=true" in response.json()["message"]


async def test_timed_deployment_ends_by_itself(*, fake: FakeMarathon, client: MarathonClient, clock: FakeClock) -> None:
    fake.begin_deployment("/shop/worker", duration=30)
    assert (await client.scale("/shop/worker", 5)).outcome == "deployment_in_progress"
    clock.advance(30)
    assert (await client.scale("/shop/worker", 5)).outcome == "scaled"


async def test_force_cancels_the_blocking_deployment(
    *, fake: FakeMarathon, client: MarathonClient, http: httpx.AsyncClient
) -> None:
    blocking = fake.begin_deployment("/shop/api")

    result = await client.scale("/shop/api", 4, force=True)

    assert result.outcome == "scaled"
    assert patches(fake)[-1].query == {"force": "true"}
    ids = [d["id"] for d in (await http.get("/v2/deployments")).json()]
    assert blocking not in ids
    assert result.deployment_id in ids


async def test_deployment_cap_answers_403_even_with_force(clock: FakeClock) -> None:
    async with FakeMarathon(clock=clock.seconds, max_running_deployments=1) as fake:
        fake.add_app("/a")
        fake.add_app("/b")
        fake.begin_deployment("/a")
        client = MarathonClient(base_url=fake.url, policy=POLICY)
        plain = await client.scale("/b", 3)
        forced = await client.scale("/b", 3, force=True)
        await client.aclose()

    assert plain.outcome == forced.outcome == "deployment_cap"
    assert "Max number (1)" in plain.detail


async def test_patch_of_an_unknown_app_is_404_and_creates_nothing(
    *, fake: FakeMarathon, client: MarathonClient, http: httpx.AsyncClient
) -> None:
    result = await client.scale("/nope", 2)

    assert result.outcome == "not_found"
    response = await http.get("/v2/apps/nope")
    assert (response.status_code, response.json()) == (404, {"message": "App '/nope' does not exist"})
    assert "/nope" not in (await client.list_apps()).apps


async def test_put_creates_an_unknown_app(
    *, fake: FakeMarathon, client: MarathonClient, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await http.put("/v2/apps/new/app", json={"instances": 2})

    assert response.status_code == 201
    assert response.headers["Marathon-Deployment-Id"] == response.json()["deploymentId"]
    clock.advance(2 * DELAY)
    app = (await client.list_apps()).apps["/new/app"]
    assert (app.instances, app.tasks_running) == (2, 2)


async def test_the_client_only_ever_sends_get_and_patch_with_the_instance_count(
    *, fake: FakeMarathon, client: MarathonClient, clock: FakeClock
) -> None:
    await client.list_apps()
    await client.scale("/shop/api", 3)
    await client.scale("/shop/api", 4)
    clock.advance(5 * DELAY)
    await client.scale("/shop/worker", 0, force=True)
    await client.scale("/missing", 1)

    assert {r.method for r in fake.requests} == {"GET", "PATCH"}
    assert [r.json() for r in patches(fake)] == [
        {"instances": 3},
        {"instances": 4},
        {"instances": 0},
        {"instances": 1},
    ]
    assert fake.extra_field_updates == []


async def test_extra_fields_in_a_patch_are_applied_and_recorded(fake: FakeMarathon, http: httpx.AsyncClient) -> None:
    response = await http.patch("/v2/apps/shop/worker", json={"instances": 3, "labels": {"a": "b"}})

    assert response.status_code == 200
    assert [(u.method, u.app_id, u.fields) for u in fake.extra_field_updates] == [
        ("PATCH", "/shop/worker", ("labels",))
    ]
    assert fake.app_json("/shop/worker")["labels"] == {"a": "b"}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"", b'"instances"'])
async def test_a_body_that_is_not_a_json_object_is_400(
    *, fake: FakeMarathon, http: httpx.AsyncClient, body: bytes
) -> None:
    response = await http.patch("/v2/apps/shop/api", content=body)

    assert response.status_code == 400
    assert response.json()["message"] == "Invalid JSON"
    assert fake.app_json("/shop/api")["instances"] == 2


async def test_a_negative_instance_count_is_422(http: httpx.AsyncClient) -> None:
    response = await http.patch("/v2/apps/shop/api", json={"instances": -1})

    assert response.status_code == 422
    assert response.json()["details"][0]["path"] == "/instances"


async def test_health_counts_follow_marathon(fake: FakeMarathon, client: MarathonClient) -> None:
    fake.set_unhealthy("/shop/api", 1)
    fake.set_unhealthy("/shop/worker", 2)

    apps = (await client.list_apps()).apps

    api, worker = apps["/shop/api"], apps["/shop/worker"]
    assert (api.has_health_checks, api.tasks_healthy, api.tasks_unhealthy) == (True, 1, 1)
    assert (worker.has_health_checks, worker.tasks_healthy, worker.tasks_unhealthy) == (False, 0, 0)
    assert worker.ready_instances == 3


async def test_single_app_get_has_marathons_shape(http: httpx.AsyncClient) -> None:
    body = (await http.get("/v2/apps/shop/api")).json()

    assert set(body) == {"app"}
    assert body["app"]["id"] == "/shop/api"
    assert len(body["app"]["tasks"]) == body["app"]["tasksRunning"] == 2


async def test_list_filters_by_id_substring(http: httpx.AsyncClient) -> None:
    body = (await http.get("/v2/apps", params={"id": "WORK"})).json()

    assert [app["id"] for app in body["apps"]] == ["/shop/worker"]


async def test_misc_routes(fake: FakeMarathon, http: httpx.AsyncClient) -> None:
    ping = await http.get("/ping")
    info = await http.get("/v2/info")
    unknown = await http.get("/v2/nothing-here")

    assert (ping.status_code, ping.text) == (200, "pong")
    assert info.json()["name"] == "marathon"
    assert info.json()["marathon_config"]["max_running_deployments"] == 100
    assert (unknown.status_code, unknown.json()) == (500, {"message": "URI not found"})


async def test_injected_failures_are_retried_by_the_client(fake: FakeMarathon, client: MarathonClient) -> None:
    fake.fail_next(2, status=503)
    snapshot = await client.list_apps()
    assert "/shop/api" in snapshot.apps
    assert [r.method for r in fake.requests] == ["GET"] * 3

    fake.fail_next(POLICY.attempts, status=429, retry_after=0)
    with pytest.raises(TargetUnavailable, match="429"):
        await client.list_apps()

    fake.fail_next(POLICY.attempts, status=503)
    assert (await client.scale("/shop/api", 3)).outcome == "unavailable"
    assert fake.app_json("/shop/api")["instances"] == 2


async def test_basic_auth_required(clock: FakeClock) -> None:
    async with FakeMarathon(clock=clock.seconds, username="scaler", password="right-pw") as fake:
        fake.add_app("/a")
        anonymous = MarathonClient(base_url=fake.url, policy=POLICY)
        wrong = MarathonClient(base_url=fake.url, policy=POLICY, username="scaler", password="bad")
        right = MarathonClient(base_url=fake.url, policy=POLICY, username="scaler", password="right-pw")
        with pytest.raises(TargetAuthError, match="no credentials"):
            await anonymous.list_apps()
        with pytest.raises(TargetAuthError, match="AUTOSCALER_MARATHON_PASSWORD"):
            await wrong.scale("/a", 2)
        assert "/a" in (await right.list_apps()).apps
        assert (await right.scale("/a", 2)).outcome == "scaled"
        for marathon in (anonymous, wrong, right):
            await marathon.aclose()
        unauthenticated = [r for r in fake.requests if r.headers.get("authorization") is None]

    assert len(unauthenticated) == 1


async def test_token_auth_required(clock: FakeClock) -> None:
    async with FakeMarathon(clock=clock.seconds, token="tok-1") as fake:
        fake.add_app("/a")
        wrong = MarathonClient(base_url=fake.url, policy=POLICY, token="tok-2")
        right = MarathonClient(base_url=fake.url, policy=POLICY, token="tok-1")
        with pytest.raises(TargetAuthError, match="DC/OS token"):
            await wrong.list_apps()
        assert "/a" in (await right.list_apps()).apps
        await wrong.aclose()
        await right.aclose()


def split_responses(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(status line, body) of each response in a byte stream framed by Content-Length."""
    responses = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        responses.append((lines[0], rest[:length]))
        raw = rest[length:]
    return responses


async def test_keep_alive_serves_several_requests_on_one_connection(fake: FakeMarathon) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps({"instances": 3}).encode()
    writer.write(
        b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        b"PATCH /v2/apps/shop/worker HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        + b"GET /v2/apps/shop/worker HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    await writer.wait_closed()

    responses = split_responses(raw)
    assert [status for status, _ in responses] == [b"HTTP/1.1 200 OK"] * 3
    assert responses[0][1] == b"pong"
    assert json.loads(responses[2][1])["app"]["instances"] == 3
    assert [r.path for r in fake.requests] == ["/ping", "/v2/apps/shop/worker", "/v2/apps/shop/worker"]


async def test_stop_closes_idle_keep_alive_connections(clock: FakeClock) -> None:
    fake = FakeMarathon(clock=clock.seconds)
    url = await fake.start()
    async with httpx.AsyncClient(base_url=url) as raw:
        assert (await raw.get("/ping")).status_code == 200
        await asyncio.wait_for(fake.stop(), timeout=5)
        with pytest.raises(httpx.TransportError):
            await raw.get("/ping")


async def test_a_body_nested_too_deep_is_400_and_changes_nothing(fake: FakeMarathon, http: httpx.AsyncClient) -> None:
    deep = b'{"instances": 5, "labels": ' + b"[" * (MAX_BODY_DEPTH + 1) + b"]" * (MAX_BODY_DEPTH + 1) + b"}"

    response = await http.patch("/v2/apps/shop/api", content=deep)

    assert (response.status_code, response.json()["message"]) == (400, "Invalid JSON")
    assert fake.app_json("/shop/api")["instances"] == 2


async def test_a_body_over_the_size_limit_is_413_and_recorded_without_it(
    fake: FakeMarathon, http: httpx.AsyncClient
) -> None:
    huge = b'{"instances": 5, "cmd": "' + b"x" * MAX_BODY_BYTES + b'"}'

    response = await http.patch("/v2/apps/shop/api", content=huge)

    assert response.status_code == 413
    assert fake.app_json("/shop/api")["instances"] == 2
    assert (fake.requests[-1].method, fake.requests[-1].body) == ("PATCH", b"")


async def test_another_method_on_a_known_route_is_405_and_every_answer_names_the_leader(
    fake: FakeMarathon, http: httpx.AsyncClient
) -> None:
    response = await http.delete("/v2/apps/shop/api")

    assert (response.status_code, response.json()) == (405, {"message": "HTTP 405 Method Not Allowed"})
    assert response.headers["X-Marathon-Leader"] == fake.url
    assert fake.app_json("/shop/api")["instances"] == 2


async def test_an_app_list_kept_encoded_shows_what_the_list_shows_after_every_change(clock: FakeClock) -> None:
    """The benchmarks' Marathon keeps each app's JSON encoded; every change still shows at once."""
    fakes = [FakeMarathon(task_start_delay=DELAY, clock=clock.seconds, keep_encoded=keep) for keep in (False, True)]
    for fake in fakes:
        fake.add_app("/shop/api", instances=2, health_checks=True)
        fake.add_app("/shop/worker", instances=3, labels={"team": "shop"})
        fake.add_app("/other/job", instances=1)
        await fake.start()
    try:
        async with httpx.AsyncClient() as http:

            async def lists(path: str) -> list[Any]:
                return [(await http.get(fake.url + path)).json() for fake in fakes]

            async def both(method: str, path: str, body: dict[str, Any]) -> None:
                for fake in fakes:
                    answer = await http.request(method, fake.url + path, json=body)
                    assert answer.status_code == 200

            steps = [
                ("PATCH", "/v2/apps/shop/api", {"instances": 4}),
                ("PATCH", "/v2/apps/shop/worker", {"labels": {"team": "ops"}}),
                ("PATCH", "/v2/apps/other/job", {"instances": 0}),
            ]
            for method, path, body in steps:
                seen = await lists("/v2/apps")
                assert seen[0]["apps"] and seen[1] == seen[0]
                await both(method, path, body)
                for step in range(3):
                    plain, kept = await lists("/v2/apps")
                    # deployment ids are random: compare how many, everything else exactly
                    for app in (*plain["apps"], *kept["apps"]):
                        app["deployments"] = len(app["deployments"])
                    assert kept == plain, (method, path, step)
                    filtered = await lists("/v2/apps?id=SHOP")
                    assert [a["id"] for a in filtered[1]["apps"]] == [a["id"] for a in filtered[0]["apps"]]
                    clock.advance(DELAY)
            fakes[1].set_unhealthy("/shop/api", 1)
            fakes[0].set_unhealthy("/shop/api", 1)
            plain, kept = await lists("/v2/apps")
            assert kept == plain
            assert kept["apps"][0]["tasksUnhealthy"] == 1
    finally:
        for fake in fakes:
            await fake.stop()
