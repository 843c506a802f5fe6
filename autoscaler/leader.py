"""Leader election on ZooKeeper, so several autoscaler instances can run and only one writes.

Two or more instances of the service may run against one Marathon (for availability); each one
contends for leadership and only the leader may scale apps. The loop asks `is_leader()` immediately
before every write (its `may_write` gate), so the answer must be cheap and true at that instant.

How it works: every instance creates an ephemeral sequential node `<path>/contender-<seq>` holding
its identifier; the instance whose node has the lowest sequence number is the leader, every other
one watches the node just ahead of its own (no herd effect). A crashed instance's node vanishes
when ZooKeeper expires its session, and the next in line takes over.

Fencing. Leadership is a flag that three things must agree on:
- the contender thread has seen, from the server, that our node is the lowest;
- the kazoo connection state is CONNECTED: the state listener runs synchronously in kazoo's
  connection thread and clears the flag the moment the session is SUSPENDED or LOST;
- a lease: the leader confirms its node with a round trip every quarter of the session timeout, and
  the flag only counts for two thirds of a session timeout after the last confirmation was SENT.
  The server expires a silent session only after a full timeout, so when this process is paused
  (a stopped VM, a long GC) it stops writing before anyone else can have won.
After SUSPENDED the instance writes again only once it has re-read the contender list from the
server and is still first; after LOST (session expired) it contends anew with a new node, behind
everyone already waiting. A write already on the wire when leadership ends is not recalled:
Marathon has no fencing token, so keep the request timeout well below the session timeout.

Threading: kazoo is thread based. `start()` starts kazoo's connection thread and one daemon thread
that contends; the asyncio loop only calls `is_leader()` and `role`, which read a few attributes
under no lock (each read is atomic in CPython), so they never block the event loop. `stop()` is
blocking (it closes the session, which hands leadership over at once); call it from a thread or at
shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Literal

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.retry import KazooRetry

__all__ = ["DEFAULT_PATH", "DEFAULT_SESSION_TIMEOUT", "LeaderElection", "Role"]

Role = Literal["leader", "follower"]

DEFAULT_PATH = "/marathon-autoscaler/leader"
DEFAULT_SESSION_TIMEOUT = 30.0
CONTENDER_PREFIX = "contender-"
# The lease covers this share of the session timeout after a confirmation was sent; the server
# expires a silent session after the full timeout, and kazoo itself suspends after two thirds.
_LEASE_SHARE = 2.0 / 3.0
_CONFIRM_SHARE = 1.0 / 4.0


def _sequence(name: str) -> int:
    """The sequence number ZooKeeper appended to a contender node's name (-1 if there is none)."""
    digits = name[-10:]
    return int(digits) if digits.isdigit() else -1


class LeaderElection:
    """One contender in the election at `path` on the ZooKeeper ensemble `hosts`.

    `hosts` is kazoo's connection string: `host:port[,host:port...][/chroot]`. `identifier` is
    stored in the contender node so operators can see who leads (`get <path>/<node>`).
    """

    def __init__(
        self,
        hosts: str,
        path: str = DEFAULT_PATH,
        *,
        identifier: str,
        logger: logging.Logger,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    ) -> None:
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ValueError(f"the election path must be an absolute ZooKeeper path, got {path!r}")
        if session_timeout <= 0:
            raise ValueError("the session timeout must be positive")
        self._hosts = hosts
        self._path = path
        self._identifier = identifier
        self._log = logger
        self._session_timeout = session_timeout
        self._client: Any = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0),
            command_retry=KazooRetry(max_tries=0),
        )
        self._client.add_listener(self._on_state)
        self._wake = threading.Event()
        self._lock = threading.Lock()  # orders the state listener against the contender thread
        self._epoch = 0  # bumped by every connection state change
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Our nodes carry a tag, so a node whose creation reply was lost is found and used
        # rather than left ahead of us in line.
        self._tag = uuid.uuid4().hex
        self._node: str | None = None  # our contender node's name (not path), if created
        self._node_session: int | None = None  # the session that owns it
        self._winner = False  # the contender thread saw our node first
        self._lease_until = 0.0  # time.monotonic() until which the last confirmation counts
        self._announced: Role | None = None

    # --- what the loop asks ---------------------------------------------------------------------

    def is_leader(self) -> bool:
        """True only while this instance may write: first in line, connected, lease fresh."""
        return (
            self._winner
            and self._client.state == KazooState.CONNECTED
            and time.monotonic() < self._lease_until
            and not self._stopping.is_set()
        )

    @property
    def role(self) -> Role:
        return "leader" if self.is_leader() else "follower"

    @property
    def identifier(self) -> str:
        return self._identifier

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start contending; returns at once (a follower until won)."""
        if self._thread is not None:
            raise RuntimeError("the election is already started")
        self._client.start_async()
        self._thread = threading.Thread(target=self._contend, name="leader-election", daemon=True)
        self._thread.start()
        self._log.info(
            "contending for leadership at %s on %s as %s",
            self._path,
            self._hosts,
            self._identifier,
            extra={"fields": {"event": "election_start", "identifier": self._identifier}},
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop writing at once, then leave the election: the session is closed, so our node
        vanishes and the next instance takes over without waiting for a session timeout."""
        self._stopping.set()
        with self._lock:
            self._winner = False
            self._lease_until = 0.0
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        try:
            self._client.stop()
            self._client.close()
        except KazooException as exc:  # pragma: no cover - closing a broken connection
            self._log.warning("closing the ZooKeeper session failed: %s", exc)
        self._announce()

    # --- kazoo's connection thread ----------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        """Runs synchronously in kazoo's connection thread on every state change."""
        with self._lock:
            self._epoch += 1
            if state != KazooState.CONNECTED:
                self._winner = False  # no more writes from this instant
                self._lease_until = 0.0
            if state == KazooState.LOST:
                self._node = None  # the session is gone, and with it our node
        self._wake.set()

    # --- the contender thread ---------------------------------------------------------------------

    def _contend(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if self._client.state != KazooState.CONNECTED:
                self._announce()
                self._wake.wait(timeout=self._session_timeout)
                continue
            try:
                self._round()
            except KazooException as exc:
                self._winner = False
                self._log.warning(
                    "leader election: %s: %s", type(exc).__name__, exc, extra={"fields": {"event": "election_error"}}
                )
                self._wake.wait(timeout=min(1.0, self._session_timeout / 4))
            self._announce()

    def _round(self) -> None:
        """Make sure we have a node in this session; then lead or wait for our predecessor."""
        session = self._session_id()
        if self._node is None or self._node_session != session:
            self._node = None
            self._winner = False
            prefix = f"{CONTENDER_PREFIX}{self._tag}-"
            self._client.ensure_path(self._path)
            ours = [c for c in self._client.get_children(self._path) if c.startswith(prefix)]
            if ours:
                self._node = min(ours, key=_sequence)
            else:
                created: str = self._client.create(
                    f"{self._path}/{prefix}", self._identifier.encode(), ephemeral=True, sequence=True
                )
                self._node = created.rsplit("/", 1)[1]
            self._node_session = session
        node = self._node
        while not self._stopping.is_set():
            self._wake.clear()
            epoch = self._epoch
            sent = time.monotonic()
            children = self._client.get_children(self._path)
            if node not in children:
                # Deleted by hand, or the session changed under us: contend again with a new node.
                self._node = None
                self._winner = False
                return
            contenders = sorted((c for c in children if c.startswith(CONTENDER_PREFIX)), key=_sequence)
            index = contenders.index(node)
            if index == 0:
                self._lead(epoch, sent)
                return
            self._winner = False
            self._announce()
            predecessor = f"{self._path}/{contenders[index - 1]}"
            if self._client.exists(predecessor, watch=lambda _event: self._wake.set()) is None:
                continue
            self._wake.wait()
            if self._client.state != KazooState.CONNECTED or self._session_id() != session:
                return

    def _lead(self, epoch: int, confirmed_at: float) -> None:
        """We are first: keep confirming our node while connected; return on any doubt.

        `epoch` is the connection state generation seen before the read that showed us first: if
        the connection changed since, that read proves nothing and we do not lead.
        """
        node_path = f"{self._path}/{self._node}"
        while not self._stopping.is_set():
            with self._lock:
                if self._epoch != epoch or self._client.state != KazooState.CONNECTED:
                    self._winner = False
                    return
                self._lease_until = confirmed_at + self._session_timeout * _LEASE_SHARE
                self._winner = True
            self._announce()
            self._wake.clear()
            woken = self._wake.wait(timeout=self._session_timeout * _CONFIRM_SHARE)
            if woken and (self._stopping.is_set() or self._client.state != KazooState.CONNECTED):
                self._winner = False
                return
            confirmed_at = time.monotonic()
            try:
                if self._client.exists(node_path) is None:
                    raise NoNodeError(node_path)
            except NoNodeError:
                self._winner = False
                self._node = None
                return

    def _session_id(self) -> int | None:
        client_id = self._client.client_id
        return int(client_id[0]) if client_id else None

    def _announce(self) -> None:
        role = self.role
        if role == self._announced:
            return
        lost = self._announced == "leader" and not self._stopping.is_set()
        self._announced = role
        level = logging.WARNING if lost else logging.INFO
        self._log.log(
            level,
            "%s is now the %s",
            self._identifier,
            role,
            extra={"fields": {"event": "leadership", "role": role, "identifier": self._identifier}},
        )
