"""The interface of a pause store, and the in-memory one.

A store holds one document of pauses (see `autoscaler.pauses.codec`) and offers two operations:
`load()` reads it, `update(change)` applies `change` to it as one atomic read-modify-write (another
writer in between makes the change run again on the newer document). Both block: the service calls
them from a worker thread, never on an event loop.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Mapping

from autoscaler.core.pause import Pause
from autoscaler.pauses.codec import MAX_PAUSES, PauseStoreError

__all__ = ["Change", "MemoryStore", "PauseStore", "PauseStoreError"]

Change = Callable[[dict[str, Pause]], dict[str, Pause] | None]  # None: leave the document as it is


class PauseStore(abc.ABC):
    """Keeps pauses by scope. `kind` names the backend in logs and in the status API."""

    kind: str = ""
    durable: bool = False  # survives a restart of this process

    @abc.abstractmethod
    def load(self) -> dict[str, Pause]:
        """Every stored pause by scope (expired ones included until they are swept)."""

    @abc.abstractmethod
    def update(self, change: Change) -> dict[str, Pause]:
        """Apply `change` atomically and return the document after it."""

    def describe(self) -> str:
        return self.kind

    def close(self) -> None:
        """Release connections (ZooKeeper); the others hold nothing."""
        return None


def check_count(pauses: Mapping[str, Pause]) -> None:
    if len(pauses) > MAX_PAUSES:
        raise PauseStoreError(f"at most {MAX_PAUSES} pauses are kept at once; resume some first")


class MemoryStore(PauseStore):
    """Pauses in this process only: a restart forgets them (the service warns at start)."""

    kind = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pauses: dict[str, Pause] = {}

    def load(self) -> dict[str, Pause]:
        with self._lock:
            return dict(self._pauses)

    def update(self, change: Change) -> dict[str, Pause]:
        with self._lock:
            changed = change(dict(self._pauses))
            if changed is not None:
                check_count(changed)
                self._pauses = dict(changed)
            return dict(self._pauses)
