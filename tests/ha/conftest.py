"""Fixtures for the high-availability tests: a real ZooKeeper and the fake Marathon in a thread.

ZooKeeper is started once per test module (each test uses its own election path) and stopped
after the module. Without java or the ZooKeeper jar the tests are skipped on a developer machine
and fail in CI (CI=true), where a skip would hide that leader election was never tested.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from autoscaler.targets.fake_marathon import FakeMarathon, RecordedRequest
from tests import zookeeper

_T = TypeVar("_T")


def require_zookeeper() -> None:
    reason = zookeeper.missing()
    if reason is None:
        return
    message = f"{reason}; install the Debian packages zookeeper and default-jre-headless"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (a skip counts as a failure in CI)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zookeeper.ZooKeeperServer]:
    require_zookeeper()
    server = zookeeper.start_zookeeper(tmp_path_factory.mktemp("zookeeper"))
    yield server
    server.stop()


@pytest.fixture
def election_path() -> str:
    """A fresh election path per test, so tests sharing one server never see each other."""
    return f"/test-{uuid.uuid4().hex[:12]}/leader"


class ThreadedMarathon:
    """The fake Marathon on an event loop of its own thread, so the test can run processes."""

    def __init__(self, *, task_start_delay: float = 0.05) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake = FakeMarathon(task_start_delay=task_start_delay)
        self.url: str = self._run(self.fake.start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the fake's event loop (to start more servers beside it)."""
        return self._run(coroutine)

    def call(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        async def inside() -> _T:
            return function(*args, **kwargs)

        result: _T = self._run(inside())
        return result

    def requests(self) -> list[RecordedRequest]:
        return self.call(list, self.fake.requests)

    def patches(self) -> list[RecordedRequest]:
        return [r for r in self.requests() if r.method == "PATCH"]

    def stop(self) -> None:
        self._run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@pytest.fixture
def marathon() -> Iterator[ThreadedMarathon]:
    server = ThreadedMarathon()
    yield server
    server.stop()
