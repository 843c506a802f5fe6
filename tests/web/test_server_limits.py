"""Hostile clients of the status server: they cannot grow its memory without bound, hold its
connections, or delay the control loop's ticks; and the loop's own stalls show in /healthz.

The attackers are plain sockets in threads of their own (bounded in count and time, on loopback),
so that the test's event loop plays the control loop: it must keep ticking while they attack.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from autoscaler.web.server import ServerLimits, StatusServer
from tests.web.test_server_views import Fleet

ATTACK_SECONDS = 20.0  # every attacker gives up by then


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.settimeout(5)
    return sock


def closed_by_server(sock: socket.socket, *, within: float) -> bool:
    """True when the server ends the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass  # an error response, then the close
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def run_threads(count: int, work: Callable[[int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def start(fleet: Fleet, limits: ServerLimits) -> StatusServer:
    return StatusServer(status=fleet.status, metrics=fleet.metrics, clock=fleet.clock, host="127.0.0.1", port=0,
                        limits=limits)  # fmt: skip


async def test_no_request_is_served_on_the_callers_event_loop_and_health_answers_while_it_is_blocked() -> None:
    fleet = Fleet(5)
    fleet.tick()
    async with start(fleet, ServerLimits()) as server:
        assert server.loop is not None and server.loop is not asyncio.get_running_loop()
        answers: list[int] = []
        thread = run_threads(1, lambda _: answers.append(httpx.get(server.url + "/healthz", timeout=5).status_code))[0]
        time.sleep(1.0)  # noqa: ASYNC251 - the caller's loop blocked (a tick hogging it): the server still answers
        assert answers == [200]
        thread.join(5)


async def test_healthz_follows_the_loops_heartbeat_not_the_servers_load() -> None:
    fleet = Fleet(5)
    fleet.tick()
    async with start(fleet, ServerLimits(max_connections=4)) as server:
        idle = [connect(server.url) for _ in range(8)]  # more than the cap, all idle
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
                assert (await client.get("/healthz")).status_code == 200  # an idle connection made room
                assert server.connections <= 4
                fleet.clock.advance(4 * 15)  # no tick for four intervals
                assert (await client.get("/healthz")).status_code == 503
        finally:
            for sock in idle:
                sock.close()


async def test_oversized_and_slow_heads_are_cut_off() -> None:
    fleet = Fleet(5)
    fleet.tick()
    limits = ServerLimits(max_header_bytes=16 * 1024, read_timeout=1.0)
    async with start(fleet, limits) as server:
        big = connect(server.url)
        padding = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000) for i in range(8))  # 32 KB of 4 KB lines
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + padding)
        many = connect(server.url)
        many.sendall(b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: b\r\n" % i for i in range(3000)))
        slow = connect(server.url)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its head
        body = connect(server.url)
        body.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"z" * 65536)
        results = await asyncio.to_thread(lambda: [closed_by_server(s, within=5) for s in (big, many, slow, body)])
        for sock in (big, many, slow, body):
            sock.close()
    assert results == [True, True, True, True]


async def test_many_slow_and_oversized_clients_neither_grow_memory_nor_delay_ticks() -> None:
    fleet = Fleet(300)
    fleet.tick()
    limits = ServerLimits(max_connections=64, read_timeout=2.0)
    async with start(fleet, limits) as server:
        stop_at = time.monotonic() + ATTACK_SECONDS
        headers = [b"X-Pad-%d: %s\r\n" % (number, b"p" * 16 * 1024) for number in range(99)]  # made once
        peak_connections = [0]

        def attacker(index: int) -> None:  # 10 connections, each sending 99 headers of 16 KB, piece by piece
            socks: list[socket.socket] = []
            try:
                for _ in range(10):
                    sock = connect(server.url)
                    socks.append(sock)
                    sock.sendall(b"GET /api/v1/apps?limit=500 HTTP/1.1\r\nHost: x\r\n")
                for number in range(99):
                    for sock in list(socks):
                        if time.monotonic() > stop_at:
                            return
                        try:
                            sock.sendall(headers[number])
                        except OSError:
                            socks.remove(sock)  # cut off: what the server should do
                    peak_connections[0] = max(peak_connections[0], server.connections)
                    time.sleep(0.005)
            except OSError:
                pass
            finally:
                for sock in socks:
                    sock.close()

        before = rss_bytes()
        threads = run_threads(30, attacker)  # 300 connections
        lateness = []
        for _ in range(20):  # the control loop's ticks, 0.1 s apart, with their lateness measured
            due = time.monotonic() + 0.1
            await asyncio.sleep(0.1)
            fleet.tick()
            lateness.append(time.monotonic() - due)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            health = await client.get("/healthz")
        await asyncio.to_thread(lambda: [t.join(ATTACK_SECONDS + 5) for t in threads])
        grown = rss_bytes() - before
    assert health.status_code == 200
    assert peak_connections[0] <= 64
    # unbounded, the headers alone would be 475 MB; what remains is the C library's reading buffers
    assert grown < 150 * 2**20, f"RSS grew by {grown / 2**20:.0f} MB"
    assert max(lateness) < 1.0, lateness  # generous: GIL sharing, not the server's requests
