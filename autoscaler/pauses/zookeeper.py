"""Pauses in one ZooKeeper node, shared by every instance of the service.

With `AUTOSCALER_ZK_HOSTS` set, several instances run and the leader writes; a pause made through
any instance must hold on whichever one leads now or later. The document lives in the node
`AUTOSCALER_ZK_PAUSE_PATH` (default `/marathon-autoscaler/pauses`, beside the election). A change
is a compare-and-set on the node's version: when another instance changed it in between, the change
is applied again to the newer document. The same kazoo client library and session timeout as
the leader election (`autoscaler.leader`), in a session of its own: the election's session must
stay free of anything that could delay its lease confirmations.
"""

from __future__ import annotations

import threading
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from autoscaler.core.pause import Pause
from autoscaler.pauses.codec import MAX_DOCUMENT_BYTES, PauseStoreError, decode, encode
from autoscaler.pauses.store import Change, PauseStore, check_count

__all__ = ["DEFAULT_PAUSE_PATH", "ZooKeeperStore"]

DEFAULT_PAUSE_PATH = "/marathon-autoscaler/pauses"


def _why(exc: BaseException) -> str:
    if isinstance(exc, KazooTimeoutError):
        return "no answer in time (is ZooKeeper reachable?)"
    return type(exc).__name__


_ATTEMPTS = 20  # compare-and-set rounds before giving up (each loses only to another writer's success)


class ZooKeeperStore(PauseStore):
    kind = "zookeeper"
    durable = True

    def __init__(self, hosts: str, path: str = DEFAULT_PAUSE_PATH, *, session_timeout: float = 30.0) -> None:
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ValueError(f"the pause path must be an absolute ZooKeeper path, got {path!r}")
        self._hosts = hosts
        self.path = path
        self._timeout = session_timeout
        self._lock = threading.Lock()
        self._client: Any = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0),
            command_retry=KazooRetry(max_tries=2, delay=0.1, max_delay=1.0),
        )
        self._started = False
        # one request's answer: kazoo queues requests while it reconnects, and would wait for ever
        self._call_timeout = max(1.0, session_timeout / 3)

    def describe(self) -> str:
        return f"zookeeper {self.path}"

    def start(self, *, timeout: float | None = None) -> bool:
        """Connect, waiting at most `timeout` (default the session timeout); whether it connected.
        When it did not, the client goes on trying in the background and reads fail until it does."""
        event = self._client.start_async()
        self._started = True
        event.wait(timeout if timeout is not None else self._timeout)
        return bool(self._client.connected)

    def close(self) -> None:
        if self._started:
            self._started = False
            try:
                self._client.stop()
                self._client.close()
            except KazooException:  # pragma: no cover - closing a broken connection
                pass

    def _what(self) -> str:
        return f"the pause node {self.path} on ZooKeeper"

    def _get(self) -> tuple[dict[str, Pause], int | None]:
        try:
            data, stat = self._client.get_async(self.path).get(timeout=self._call_timeout)
        except NoNodeError:
            return {}, None
        if data is not None and len(data) > MAX_DOCUMENT_BYTES:
            raise PauseStoreError(f"{self._what()} is over {MAX_DOCUMENT_BYTES} bytes")
        return decode(data or b"", what=self._what()), int(stat.version)

    def load(self) -> dict[str, Pause]:
        try:
            return self._get()[0]
        except (KazooException, KazooTimeoutError) as exc:
            raise PauseStoreError(f"{self._what()} cannot be read: {_why(exc)}") from None

    def update(self, change: Change) -> dict[str, Pause]:
        with self._lock:
            try:
                return self._update(change)
            except (KazooException, KazooTimeoutError) as exc:
                raise PauseStoreError(f"{self._what()} cannot be written: {_why(exc)}") from None

    def _update(self, change: Change) -> dict[str, Pause]:
        for _ in range(_ATTEMPTS):
            pauses, version = self._get()
            changed = change(dict(pauses))
            if changed is None:
                return pauses
            check_count(changed)
            data = encode(changed.values())
            try:
                if version is None:
                    self._client.create_async(self.path, data, makepath=True).get(timeout=self._call_timeout)
                else:
                    self._client.set_async(self.path, data, version=version).get(timeout=self._call_timeout)
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue  # another instance changed it in between: apply the change to the newer one
            return dict(changed)
        raise PauseStoreError(f"{self._what()} kept changing under {_ATTEMPTS} attempts to write it")
