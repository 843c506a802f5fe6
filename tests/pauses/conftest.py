"""A real ZooKeeper for the pause tests, as the high-availability tests start it (tests/zookeeper.py).

Without java or the ZooKeeper jar the tests that need it are skipped on a developer machine and fail
under CI=true, where a skip would hide that shared pauses were never tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests import zookeeper


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zookeeper.ZooKeeperServer]:
    reason = zookeeper.missing()
    if reason is not None:
        message = f"{reason}; install the Debian packages zookeeper and default-jre-headless"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (a skip counts as a failure in CI)")
        pytest.skip(message)
    server = zookeeper.start_zookeeper(tmp_path_factory.mktemp("zookeeper"))
    yield server
    server.stop()


@pytest.fixture
def zk_root() -> str:
    """A fresh root per test, so tests sharing one server never see each other's nodes."""
    return f"/test-{uuid.uuid4().hex[:12]}"
