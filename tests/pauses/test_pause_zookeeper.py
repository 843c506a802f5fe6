"""Pauses on a real ZooKeeper: every store on the ensemble sees the same pauses, concurrent changes
from two instances both land, and a hostile node is a clear error that nothing overwrites."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kazoo.client import KazooClient

from autoscaler.core.pause import Pause, make_pause
from autoscaler.pauses import PauseStoreError
from autoscaler.pauses.zookeeper import ZooKeeperStore
from tests.servers import free_port
from tests.zookeeper import ZooKeeperServer

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def stores(zk_server: ZooKeeperServer, zk_root: str) -> Iterator[tuple[ZooKeeperStore, ZooKeeperStore]]:
    first = ZooKeeperStore(zk_server.hosts, f"{zk_root}/pauses", session_timeout=5.0)
    second = ZooKeeperStore(zk_server.hosts, f"{zk_root}/pauses", session_timeout=5.0)
    assert first.start() and second.start()
    yield first, second
    first.close()
    second.close()


def _put(pause: Pause):  # type: ignore[no-untyped-def]
    def change(held: dict[str, Pause]) -> dict[str, Pause]:
        held[pause.scope] = pause
        return held

    return change


def test_every_instance_sees_the_same_pauses(stores: tuple[ZooKeeperStore, ZooKeeperStore]) -> None:
    first, second = stores
    assert first.load() == {} and second.load() == {}
    pause = make_pause(scope="/shop/*", now=T0, duration=timedelta(hours=2), reason="sale", by="alice")
    first.update(_put(pause))
    assert second.load() == {"/shop/*": pause}
    second.update(lambda held: {})
    assert first.load() == {}


def test_concurrent_changes_from_two_instances_all_land(stores: tuple[ZooKeeperStore, ZooKeeperStore]) -> None:
    first, second = stores
    errors: list[BaseException] = []

    def pause_many(store: ZooKeeperStore, prefix: str) -> None:
        try:
            for index in range(15):
                store.update(_put(make_pause(scope=f"/{prefix}-{index}", now=T0)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pause_many, args=(s, p)) for s, p in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(first.load()) == sorted([f"/a-{i}" for i in range(15)] + [f"/b-{i}" for i in range(15)])


def test_a_hostile_node_is_a_clear_error_and_is_left_alone(zk_server: ZooKeeperServer, zk_root: str) -> None:
    path = f"{zk_root}/pauses"
    raw = KazooClient(hosts=zk_server.hosts)
    raw.start(timeout=10)
    try:
        raw.create(path, b'{"version": 1, "pauses": [{"scope": "nope"}]}', makepath=True)
        store = ZooKeeperStore(zk_server.hosts, path, session_timeout=5.0)
        assert store.start()
        try:
            with pytest.raises(PauseStoreError, match=f"{path}.*absolute"):
                store.load()
            with pytest.raises(PauseStoreError):
                store.update(_put(make_pause(scope="/a", now=T0)))
        finally:
            store.close()
        assert raw.get(path)[0] == b'{"version": 1, "pauses": [{"scope": "nope"}]}'
    finally:
        raw.stop()
        raw.close()


def test_an_unreachable_ensemble_is_a_clear_error_on_every_read() -> None:
    store = ZooKeeperStore(f"127.0.0.1:{free_port()}", session_timeout=2.0)
    try:
        assert store.start(timeout=0.5) is False
        with pytest.raises(PauseStoreError, match="cannot be read"):
            store.load()
        with pytest.raises(PauseStoreError, match="cannot be written"):
            store.update(lambda held: {})
    finally:
        store.close()
