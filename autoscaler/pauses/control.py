"""Pause and resume as the service offers them: through the store, logged, announced, and swept.

`PauseControl` is shared by the control loop and the status server's thread. Its methods block
(the store may be ZooKeeper), so both call them from a worker thread. Every pause and resume, and
every automatic resume when a pause ends by itself, is logged with its scope, who, why and until,
and queued as a `PauseEvent` that the notification sink drains. An expired pause is removed by the
instance whose update removes it, so it is announced once even when several instances sweep.

When the store cannot be read, the pauses last read stay in force (a ZooKeeper outage must not lift
a pause); the failure is logged once per outage and shown in the status.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoscaler.core.pause import ALL, Pause, PauseIndex, make_pause, scope_problem
from autoscaler.pauses.codec import PauseStoreError
from autoscaler.pauses.store import PauseStore

__all__ = ["MAX_EVENTS", "PauseControl", "PauseEvent"]

Clock = Callable[[], datetime]
EventKind = Literal["paused", "resumed", "expired"]
MAX_EVENTS = 1000  # queued for the notification sink; the oldest go first past it (they were logged)


@dataclass(frozen=True)
class PauseEvent:
    kind: EventKind
    pause: Pause
    at: datetime
    by: str = ""  # who resumed (for `resumed`)

    def text(self) -> str:
        scope = "every app" if self.pause.scope == ALL else self.pause.scope
        if self.kind == "paused":
            return f"{scope}: {self.pause.describe()}"
        if self.kind == "resumed":
            who = f" by {self.by}" if self.by else ""
            return f"{scope}: resumed{who} (the pause was to last until {self.pause.until.isoformat()})"
        return f"{scope}: resumed by itself: the pause ended at {self.pause.until.isoformat()}"


class PauseControl:
    def __init__(self, *, store: PauseStore, clock: Clock, logger: logging.Logger) -> None:
        self.store = store
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._known: dict[str, Pause] = {}
        self._events: deque[PauseEvent] = deque(maxlen=MAX_EVENTS)
        self.error: str | None = None  # why the store could not be read last time, if it could not
        self.loaded = False  # the store has been read at least once

    # --- what the loop and the status read ----------------------------------------------------------

    def pauses(self) -> dict[str, Pause]:
        """The pauses last read from the store (expired ones until swept)."""
        with self._lock:
            return dict(self._known)

    def index(self, now: datetime) -> PauseIndex:
        """The pauses in force at `now`. Until the store has been read once, one pause of every app:
        writing before the pauses are known could undo what an operator froze."""
        with self._lock:
            if not self.loaded:
                waiting = Pause(
                    scope=ALL,
                    reason=f"the pause store ({self.store.describe()}) has not been read yet; holding until it is",
                    by="autoscaler",
                    since=None,
                    until=now + timedelta(seconds=1),
                )
                return PauseIndex((waiting,), now=now)
            return PauseIndex(self._known.values(), now=now)

    def refresh(self) -> dict[str, Pause]:
        """Read the store, sweep the pauses that ended, and return what is stored now."""
        now = self._clock()
        ended: list[Pause] = []

        def sweep(held: dict[str, Pause]) -> dict[str, Pause] | None:
            ended.clear()
            return self._swept(held, now=now, into=ended)

        try:
            pauses = self.store.update(sweep)
        except PauseStoreError as exc:
            self._failed(str(exc))
            return self.pauses()
        self._recovered()
        with self._lock:
            self._known = pauses
            self.loaded = True
        for pause in ended:
            self._announce(PauseEvent("expired", pause, now))
        return dict(pauses)

    def drain_events(self) -> list[PauseEvent]:
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    # --- what operators do ----------------------------------------------------------------------

    def pause(self, scope: str, *, duration: timedelta | None, reason: str, by: str) -> Pause:
        """Pause `scope` from now (replacing a pause of the same scope). ValueError for bad input,
        PauseStoreError when the store refuses."""
        pause = make_pause(scope=scope, now=self._clock(), duration=duration, reason=reason, by=by)

        def put(held: dict[str, Pause]) -> dict[str, Pause]:
            held[scope] = pause
            return held

        self._store(put)
        self._announce(PauseEvent("paused", pause, pause.since or self._clock()))
        return pause

    def resume(self, scope: str, *, by: str) -> Pause | None:
        """Lift the pause of exactly `scope`; None when there was none (nothing is logged then)."""
        problem = scope_problem(scope)
        if problem is not None:
            raise ValueError(problem)
        now = self._clock()
        lifted: list[Pause] = []

        def remove(held: dict[str, Pause]) -> dict[str, Pause] | None:
            lifted.clear()
            pause = held.pop(scope, None)
            if pause is None:
                return None
            lifted.append(pause)
            return held

        self._store(remove)
        if not lifted:
            return None
        pause = lifted[0]
        self._announce(PauseEvent("expired" if not pause.active(now) else "resumed", pause, now, by=by))
        return pause

    # --- inside ---------------------------------------------------------------------------------

    def _store(self, change: Callable[[dict[str, Pause]], dict[str, Pause] | None]) -> None:
        now = self._clock()
        swept: list[Pause] = []

        def apply(held: dict[str, Pause]) -> dict[str, Pause] | None:
            swept.clear()
            kept = self._swept(held, now=now, into=swept)
            return change(held if kept is None else kept)

        pauses = self.store.update(apply)
        for pause in swept:
            self._announce(PauseEvent("expired", pause, now))
        self._recovered()
        with self._lock:
            self._known = pauses
            self.loaded = True

    @staticmethod
    def _swept(held: dict[str, Pause], *, now: datetime, into: list[Pause]) -> dict[str, Pause] | None:
        """`held` without the pauses that ended by `now` (those go to `into`); None when none did.
        They are announced only once the store has accepted their removal."""
        ended = [pause for pause in held.values() if pause.until <= now]
        if not ended:
            return None
        into.extend(ended)
        return {scope: pause for scope, pause in held.items() if pause.until > now}

    def _announce(self, event: PauseEvent) -> None:
        pause = event.pause
        fields = {
            "event": f"pause_{event.kind}" if event.kind != "paused" else "pause",
            "scope": pause.scope,
            "by": event.by if event.kind == "resumed" else pause.by,
            "reason": pause.reason,
            "until": pause.until.isoformat(),
        }
        self._log.info("%s", event.text(), extra={"fields": fields})
        with self._lock:
            self._events.append(event)

    def _failed(self, error: str) -> None:
        if self.error is None:
            self._log.warning(
                "the pause store (%s) cannot be used: %s; the pauses last read stay in force",
                self.store.describe(),
                error,
                extra={"fields": {"event": "pause_store_error"}},
            )
        self.error = error

    def _recovered(self) -> None:
        if self.error is not None:
            self.error = None
            self._log.info(
                "the pause store (%s) answers again",
                self.store.describe(),
                extra={"fields": {"event": "pause_store_recovered"}},
            )
