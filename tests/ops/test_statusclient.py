"""The status API client against hostile answers from a loopback server: bounded in size, nesting
and time, retried as the project's policy says, and every failure a clear project error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

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

POLICY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5, request_timeout=0.5)
Writer = Callable[[asyncio.StreamWriter, str], Awaitable[None]]


def app(app_id: str = "/shop/api", **fields: object) -> dict[str, object]:
    return {"app": app_id, "role": "single", "policy": {}, "last": None, **fields}


def answer(status: int, body: bytes, *, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Hostile:
    """A loopback server whose answer per request is chosen by the test."""

    respond: Writer
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode()
            headers: dict[str, str] = {}
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            path = line.split(" ")[1]
            self.requests.append((path, headers))
            await self.respond(writer, path)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def hostile() -> AsyncIterator[Callable[[Writer], Awaitable[Hostile]]]:
    servers: list[asyncio.Server] = []

    async def start(respond: Writer) -> Hostile:
        server = Hostile(respond)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        server.url = f"http://127.0.0.1:{port}"
        return server

    yield start
    for listening in servers:
        listening.close()
        await listening.wait_closed()


def replying(data: bytes) -> Writer:
    async def respond(writer: asyncio.StreamWriter, path: str) -> None:
        writer.write(data)

    return respond


async def ask(server: Hostile, *, token: str | None = None) -> AppView:
    async with StatusClient(base_url=server.url, policy=POLICY, token=token) as client:
        return await client.app("/shop/api")


async def test_the_token_is_sent_as_a_bearer_and_the_app_id_in_the_path(
    hostile: Callable[..., Awaitable[Hostile]],
) -> None:
    server = await hostile(replying(answer(200, json.dumps(app()).encode())))
    view = await ask(server, token="t0k")
    assert view.app == "/shop/api"
    assert server.requests == [("/api/v1/apps/shop/api", server.requests[0][1])]
    assert server.requests[0][1]["authorization"] == "Bearer t0k"


async def test_401_names_the_setting_and_never_the_token(hostile: Callable[..., Awaitable[Hostile]]) -> None:
    server = await hostile(replying(answer(401, b'{"error": "token"}')))
    with pytest.raises(StatusAPIAuthError, match="set AUTOSCALER_API_TOKEN") as caught:
        await ask(server, token="wrong-secret")
    assert "wrong-secret" not in str(caught.value)
    assert len(server.requests) == 1  # a 4xx is never retried


async def test_404_lists_the_managed_apps_bounded(hostile: Callable[..., Awaitable[Hostile]]) -> None:
    managed = [f"/app/{n}" for n in range(60)]
    server = await hostile(replying(answer(404, json.dumps({"managed_apps": managed}).encode())))
    with pytest.raises(StatusAPINotManaged, match=r"it manages: /app/0, /app/1, .*/app/49 \(and 10 more\)$"):
        await ask(server)


async def test_5xx_is_retried_by_the_policy_then_an_error(hostile: Callable[..., Awaitable[Hostile]]) -> None:
    server = await hostile(replying(answer(503, b"busy", content_type="text/plain")))
    with pytest.raises(StatusAPIError, match="answered HTTP 503"):
        await ask(server)
    assert len(server.requests) == POLICY.attempts


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>a login page</html>", "a body that is not JSON"),
        (b"[" * 40 + b"]" * 40, "nested too deeply"),
        (json.dumps(app(current="ten")).encode(), "JSON this version cannot read .* first at current"),
        (json.dumps(app(last={"code": "x" * 5000})).encode(), "cannot read .* first at last.code"),
        (b"[1, 2, 3]", "cannot read"),
    ],
    ids=["html", "deep", "wrong-type", "huge-string", "not-an-object"],
)
async def test_unusable_answers_are_clear_errors(
    hostile: Callable[..., Awaitable[Hostile]], body: bytes, message: str
) -> None:
    server = await hostile(replying(answer(200, body)))
    with pytest.raises(StatusAPIError, match=message):
        await ask(server)


async def test_a_body_over_the_limit_is_refused_declared_or_not(hostile: Callable[..., Awaitable[Hostile]]) -> None:
    big = b'{"app": "/shop/api", "pad": "' + b"x" * MAX_APP_BYTES + b'"}'
    declared = await hostile(replying(answer(200, big)))
    with pytest.raises(StatusAPIError, match=f"declares {len(big)} bytes, over {MAX_APP_BYTES}"):
        await ask(declared)
    undeclared = await hostile(
        replying(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + big)
    )
    with pytest.raises(StatusAPIError, match=f"the answer is over {MAX_APP_BYTES} bytes"):
        await ask(undeclared)


async def test_a_body_that_never_ends_is_cut_at_the_request_timeout(hostile: Callable[..., Awaitable[Hostile]]) -> None:
    async def drip(writer: asyncio.StreamWriter, path: str) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        while True:  # one byte at a time, each well within a read timeout
            await writer.drain()
            writer.write(b" ")
            await asyncio.sleep(0.05)

    server = await hostile(drip)
    with pytest.raises(StatusAPIError, match=r"did not answer GET /api/v1/apps/shop/api within 0.5s"):
        await ask(server)


async def test_the_app_list_is_read_page_by_page(
    hostile: Callable[..., Awaitable[Hostile]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statusclient, "PAGE_SIZE", 2)
    apps = [app(f"/a/{n}") for n in range(5)]

    async def paged(writer: asyncio.StreamWriter, path: str) -> None:
        query = dict(part.split("=") for part in path.split("?", 1)[1].split("&"))
        offset, limit = int(query["offset"]), int(query["limit"])
        page = {"role": "leader", "total": len(apps), "apps": apps[offset : offset + limit]}
        writer.write(answer(200, json.dumps(page).encode()))

    server = await hostile(paged)
    async with StatusClient(base_url=server.url, policy=POLICY) as client:
        head, views = await client.apps()
    assert [view.app for view in views] == [f"/a/{n}" for n in range(5)]
    assert head == {"role": "leader", "total": 5}
    assert [path for path, _ in server.requests] == [
        "/api/v1/apps?offset=0&limit=2",
        "/api/v1/apps?offset=2&limit=2",
        "/api/v1/apps?offset=4&limit=2",
    ]


async def test_a_server_that_ignores_paging_is_read_once(
    hostile: Callable[..., Awaitable[Hostile]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statusclient, "PAGE_SIZE", 2)
    everything = {"role": "single", "apps": [app(f"/a/{n}") for n in range(3)]}
    server = await hostile(replying(answer(200, json.dumps(everything).encode())))
    async with StatusClient(base_url=server.url, policy=POLICY) as client:
        _, views = await client.apps()
    assert len(views) == 3
    assert len(server.requests) == 2  # the second page repeats the first: nothing new, so it stops
