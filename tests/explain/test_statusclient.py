"""The status API client against hostile answers from the tests' hostile server: bounded in size,
nesting and time, retried as the project's policy says, and every failure a clear project error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest

from autoscaler import statusclient
from autoscaler.http import RetryPolicy
from autoscaler.statusclient import (
    MAX_APP_BYTES,
    AppView,
    StatusAPIAuthError,
    StatusAPIError,
    StatusAPINotManaged,
    StatusClient,
)
from autoscaler.testing.hostile import Answer, HostileServer
from autoscaler.testing.proxy import HttpRequest

POLICY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5, request_timeout=0.5)
Respond = Callable[[HttpRequest], Answer]
Start = Callable[[Respond], Awaitable[HostileServer]]


def app(app_id: str = "/shop/api", **fields: object) -> dict[str, object]:
    return {"app": app_id, "role": "single", "policy": {}, "last": None, **fields}


def answer(status: int, body: bytes, *, content_type: str = "application/json") -> Answer:
    return Answer(status=status, body=body, headers=(("Content-Type", content_type),))


def requests(server: HostileServer) -> list[tuple[str, Mapping[str, str]]]:
    """(path with query, headers) of every request the server received."""
    return [(served.request.target, served.request.headers) for served in server.served]


@pytest.fixture
async def hostile() -> AsyncIterator[Start]:
    servers: list[HostileServer] = []

    async def start(respond: Respond) -> HostileServer:
        server = HostileServer(respond, max_seconds=10.0)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()


def replying(data: Answer) -> Respond:
    return lambda _request: data


async def ask(server: HostileServer, *, token: str | None = None) -> AppView:
    async with StatusClient(base_url=server.url, policy=POLICY, token=token) as client:
        return await client.app("/shop/api")


async def test_the_token_is_sent_as_a_bearer_and_the_app_id_in_the_path(
    hostile: Start,
) -> None:
    server = await hostile(replying(answer(200, json.dumps(app()).encode())))
    view = await ask(server, token="t0k")
    assert view.app == "/shop/api"
    assert requests(server) == [("/api/v1/apps/shop/api", requests(server)[0][1])]
    assert requests(server)[0][1]["authorization"] == "Bearer t0k"


async def test_401_names_the_setting_and_never_the_token(hostile: Start) -> None:
    server = await hostile(replying(answer(401, b'{"error": "token"}')))
    with pytest.raises(StatusAPIAuthError, match="set AUTOSCALER_API_TOKEN") as caught:
        await ask(server, token="wrong-secret")
    assert "wrong-secret" not in str(caught.value)
    assert len(requests(server)) == 1  # a 4xx is never retried


async def test_404_lists_the_managed_apps_bounded(hostile: Start) -> None:
    managed = [f"/app/{n}" for n in range(60)]
    server = await hostile(replying(answer(404, json.dumps({"managed_apps": managed}).encode())))
    with pytest.raises(StatusAPINotManaged, match=r"it manages: /app/0, /app/1, .*/app/49 \(and 10 more\)$"):
        await ask(server)


async def test_5xx_is_retried_by_the_policy_then_an_error(hostile: Start) -> None:
    server = await hostile(replying(answer(503, b"busy", content_type="text/plain")))
    with pytest.raises(StatusAPIError, match="answered HTTP 503"):
        await ask(server)
    assert len(requests(server)) == POLICY.attempts


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>a login page</html>", "a body that is not JSON"),
        (b"[" * 40 + b"]" * 40, "deeper than the limit of 32"),
        (json.dumps(app(current="ten")).encode(), "JSON this version cannot read .* first at current"),
        (json.dumps(app(last={"code": "x" * 5000})).encode(), "cannot read .* first at last.code"),
        (b"[1, 2, 3]", "cannot read"),
    ],
    ids=["html", "deep", "wrong-type", "huge-string", "not-an-object"],
)
async def test_unusable_answers_are_clear_errors(hostile: Start, body: bytes, message: str) -> None:
    server = await hostile(replying(answer(200, body)))
    with pytest.raises(StatusAPIError, match=message):
        await ask(server)


async def test_a_body_over_the_limit_is_refused_declared_or_not(hostile: Start) -> None:
    big = b'{"app": "/shop/api", "pad": "' + b"x" * MAX_APP_BYTES + b'"}'
    declared = await hostile(replying(answer(200, big)))
    with pytest.raises(StatusAPIError, match=f"declares {len(big)} bytes, over {MAX_APP_BYTES}"):
        await ask(declared)
    undeclared = await hostile(replying(Answer(body=big, declare_length=False)))
    with pytest.raises(StatusAPIError, match=f"the answer is over {MAX_APP_BYTES} bytes"):
        await ask(undeclared)


async def test_a_body_that_never_ends_is_cut_at_the_request_timeout(hostile: Start) -> None:
    # 100000 bytes declared, sent one at a time, each well within a read timeout
    drip = Answer(body=b"{" + b" " * 99999, trickle=0.05, trickle_after_head=True)
    server = await hostile(replying(drip))
    with pytest.raises(StatusAPIError, match=r"did not answer GET /api/v1/apps/shop/api within 0.5s"):
        await ask(server)


async def test_the_app_list_is_read_page_by_page(hostile: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statusclient, "PAGE_SIZE", 2)
    apps = [app(f"/a/{n}") for n in range(5)]

    def paged(request: HttpRequest) -> Answer:
        query = dict(part.split("=") for part in request.target.split("?", 1)[1].split("&"))
        offset, limit = int(query["offset"]), int(query["limit"])
        page = {"role": "leader", "total": len(apps), "apps": apps[offset : offset + limit]}
        return answer(200, json.dumps(page).encode())

    server = await hostile(paged)
    async with StatusClient(base_url=server.url, policy=POLICY) as client:
        head, views = await client.apps()
    assert [view.app for view in views] == [f"/a/{n}" for n in range(5)]
    assert head == {"role": "leader", "total": 5}
    assert [path for path, _ in requests(server)] == [
        "/api/v1/apps?offset=0&limit=2",
        "/api/v1/apps?offset=2&limit=2",
        "/api/v1/apps?offset=4&limit=2",
    ]


async def test_a_server_that_ignores_paging_is_read_once(hostile: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statusclient, "PAGE_SIZE", 2)
    everything = {"role": "single", "apps": [app(f"/a/{n}") for n in range(3)]}
    server = await hostile(replying(answer(200, json.dumps(everything).encode())))
    async with StatusClient(base_url=server.url, policy=POLICY) as client:
        _, views = await client.apps()
    assert len(views) == 3
    assert len(requests(server)) == 2  # the second page repeats the first: nothing new, so it stops
