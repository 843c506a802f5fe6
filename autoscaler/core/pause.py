"""Pauses: an operator's freeze of one app, a group or the whole fleet, that ends by itself.

A paused app is still decided every tick (explain, the dashboard and the API show what it would
do), but its decision keeps the current count and carries the code `paused` with who paused it,
why and until when. Nothing of the engine is skipped: stabilisation keeps learning while paused, so
the first decision after the pause is as informed as any other. Schedule floors are paused too: a
pause holds the count exactly where it is.

Every pause ends. One given without a duration lasts `DEFAULT_PAUSE` (a forgotten pause must not
freeze an app for good); none may last longer than `MAX_PAUSE`. A pause declared in the app's
Marathon labels (`autoscaler.paused-until`, `autoscaler.paused-reason`) is part of the app's
definition: it lasts until the time it names and is lifted by changing the label, not by `resume`.

A pause applies to a scope: an absolute app id (`/shop/api`), a group pattern (`/shop/*`: every
app below `/shop`, at any depth) or `*` (every app). When several pauses cover one app, the one
that ends last is in force: lifting a narrower pause does not lift a wider one.

Pure: the time is always passed in; nothing here reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, overload

from autoscaler.core.appid import app_id_problem

__all__ = [
    "ALL",
    "DEFAULT_PAUSE",
    "LABEL_REASON",
    "LABEL_UNTIL",
    "MAX_PAUSE",
    "MAX_REASON_CHARS",
    "MAX_WHO_CHARS",
    "Pause",
    "PauseIndex",
    "make_pause",
    "scope_problem",
]

DEFAULT_PAUSE = timedelta(hours=1)
MAX_PAUSE = timedelta(days=7)
MAX_REASON_CHARS = 200
MAX_WHO_CHARS = 100
MAX_SCOPE_CHARS = 500
ALL = "*"
LABEL_UNTIL = "autoscaler.paused-until"
LABEL_REASON = "autoscaler.paused-reason"

Source = Literal["operator", "label"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def scope_problem(scope: str) -> str | None:
    """Why `scope` is not `*`, an absolute app id or a group pattern like `/shop/*`; None if it is.

    An app id follows the one app-id grammar (`core.appid`); a group is an app id followed by `/*`
    (its last segment may be one that no app may end with: `/shop/tasks/*` covers the apps below)."""
    if scope == ALL:
        return None
    if len(scope) > MAX_SCOPE_CHARS:
        return f"a pause scope is at most {MAX_SCOPE_CHARS} characters"
    group = scope.endswith("/*")
    app_id = scope[:-2] if group else scope
    if not app_id.startswith("/") or "*" in app_id:
        if scope == "/*":
            return "'/*' would pause every app: write '*' (or --all)"
        return (
            "a pause scope is '*', an absolute app id like /shop/api, or a group like /shop/*; '*' may only end a group"
        )
    problem = app_id_problem(app_id)
    return None if group and problem is not None and "reserved" in problem else problem


def _clean_text(text: str, *, limit: int, what: str) -> str:
    text = text.strip()
    if _CONTROL.search(text):
        raise ValueError(f"the {what} must be one line of printable text")
    if len(text) > limit:
        raise ValueError(f"the {what} is at most {limit} characters, got {len(text)}")
    return text


@dataclass(frozen=True, slots=True)
class Pause:
    """One pause: what it covers, why, who asked, and from when until when (aware datetimes)."""

    scope: str
    reason: str
    by: str
    since: datetime | None  # None for a label's pause: the label says only when it ends
    until: datetime
    source: Source = "operator"

    def covers(self, app_id: str) -> bool:
        if self.scope == ALL:
            return True
        if self.scope.endswith("/*"):
            return app_id.startswith(self.scope[:-1])
        return app_id == self.scope

    def active(self, now: datetime) -> bool:
        return (self.since is None or self.since <= now) and now < self.until

    def describe(self) -> str:
        """`paused by alice until 2026-12-02T03:00:00+00:00: migration` (for notes and messages)."""
        who = f" by {self.by}" if self.by else ""
        where = "" if self.scope == ALL else f" ({self.scope})" if self.scope.endswith("/*") else ""
        if self.source == "label":
            where = f" (label {LABEL_UNTIL})"
        why = f": {self.reason}" if self.reason else ""
        return f"paused{who}{where} until {self.until.isoformat()}{why}"

    def to_json(self) -> dict[str, str]:
        return {
            "scope": self.scope,
            "reason": self.reason,
            "by": self.by,
            "since": self.since.isoformat() if self.since is not None else "",
            "until": self.until.isoformat(),
            "source": self.source,
        }


def make_pause(
    *,
    scope: str,
    now: datetime,
    duration: timedelta | None = None,
    reason: str = "",
    by: str = "",
) -> Pause:
    """A new operator pause from `now`; `duration` defaults to DEFAULT_PAUSE and may not exceed
    MAX_PAUSE. Raises ValueError with a message fit for the operator."""
    problem = scope_problem(scope)
    if problem is not None:
        raise ValueError(problem)
    if now.tzinfo is None:
        raise ValueError("a pause's time must carry a timezone")
    length = DEFAULT_PAUSE if duration is None else duration
    if length <= timedelta(0):
        raise ValueError("a pause lasts more than 0s")
    if length > MAX_PAUSE:
        raise ValueError(f"a pause lasts at most {MAX_PAUSE.days}d (MAX_PAUSE); pause again when it ends")
    return Pause(
        scope=scope,
        reason=_clean_text(reason, limit=MAX_REASON_CHARS, what="reason"),
        by=_clean_text(by, limit=MAX_WHO_CHARS, what="name of who pauses"),
        since=now,
        until=now + length,
    )


def label_pause(app_id: str, *, until: datetime | None, reason: str, now: datetime) -> Pause | None:
    """The pause an app's Marathon labels declare, if it is in force at `now`."""
    if until is None or now >= until:
        return None
    return Pause(scope=app_id, reason=reason, by="", since=None, until=until, source="label")


class PauseIndex:
    """The pauses of one tick, looked up per app in constant time (plus one step per group level)."""

    def __init__(self, pauses: Iterable[Pause], *, now: datetime) -> None:
        self.now = now
        self._exact: dict[str, Pause] = {}
        self._groups: dict[str, Pause] = {}  # "/shop/" -> the longest-lasting pause of /shop/*
        self._all: Pause | None = None
        for pause in pauses:
            if not pause.active(now):
                continue
            if pause.scope == ALL:
                self._all = _later(self._all, pause)
            elif pause.scope.endswith("/*"):
                key = pause.scope[:-1]
                self._groups[key] = _later(self._groups.get(key), pause)
            else:
                self._exact[pause.scope] = _later(self._exact.get(pause.scope), pause)

    def __bool__(self) -> bool:
        return bool(self._exact or self._groups or self._all)

    def find(self, app_id: str, *, label_until: datetime | None = None, label_reason: str = "") -> Pause | None:
        """The pause in force for `app_id` (the one that ends last), its labels' pause included."""
        found = self._all
        found = _later(found, self._exact.get(app_id))
        if self._groups:
            end = app_id.find("/", 1)
            while end != -1:
                found = _later(found, self._groups.get(app_id[: end + 1]))
                end = app_id.find("/", end + 1)
        if label_until is not None:
            found = _later(found, label_pause(app_id, until=label_until, reason=label_reason, now=self.now))
        return found


@overload
def _later(first: Pause | None, second: Pause) -> Pause: ...
@overload
def _later(first: Pause | None, second: Pause | None) -> Pause | None: ...
def _later(first: Pause | None, second: Pause | None) -> Pause | None:
    if first is None:
        return second
    if second is None or second.until <= first.until:
        return first
    return second
