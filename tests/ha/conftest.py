"""Fixtures for the high-availability tests: a real ZooKeeper and the fake Marathon in a thread.

ZooKeeper is started once per test module (each test uses its own election path) and stopped
after the module. Without java or the ZooKeeper jar the tests are skipped on a developer machine
and fail in CI (CI=true), where a skip would hide that leader election was never tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TypeVar

import pytest

from autoscaler.testing.marathon.threaded import ThreadedMarathon
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


@pytest.fixture
def marathon() -> Iterator[ThreadedMarathon]:
    server = ThreadedMarathon()
    yield server
    server.stop()
