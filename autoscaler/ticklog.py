"""What the loop logs per tick, bounded whatever the size of the fleet or the length of an outage.

A fleet of thousands of apps must not write thousands of warnings per tick: a metric source that is
down, or a Marathon that lists thousands of unusable apps, would otherwise fill the disk (and bury the
one line that matters). So:
- `TickDigest` collects the per-app warnings of one tick and writes ONE line per code with a count,
  a few (shortened) ids and the first app's detail: "missing_metrics for 312 apps: /a, /b, /c (+309)";
- `Outages` remembers which of Marathon and the metric sources are down and writes one warning when
  one goes down (with the number of apps affected) and one when it recovers (with how long it was
  down), instead of a warning per tick or per app;
- apps Marathon lists with unusable data that no policy manages are counted, not listed, and the count
  is written only when it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autoscaler.core.units import format_duration
from autoscaler.logs import IDS_SHOWN, id_list, short_id, short_text

MAX_REASONS = 5  # reasons of the example app in a collapsed line


@dataclass
class _Group:
    count: int = 0
    apps: list[str] = field(default_factory=list)  # the first IDS_SHOWN
    detail: str = ""  # the first app's
    reasons: list[str] = field(default_factory=list)  # the first app's


class TickDigest:
    """The warnings of one tick, by code; `emit` writes one line per code."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def __contains__(self, code: object) -> bool:
        return code in self._groups

    def add(
        self, code: str, app_id: str, detail: str, reasons: Sequence[str] | Callable[[], Sequence[str]] = ()
    ) -> None:
        """Count one app under `code`; `reasons` (a list, or a function that builds it) are kept, and
        built, only for the first app of the code."""
        group = self._groups.get(code)
        if group is None:
            listed = reasons() if callable(reasons) else reasons
            group = self._groups[code] = _Group(detail=detail, reasons=list(listed[:MAX_REASONS]))
        group.count += 1
        if len(group.apps) < IDS_SHOWN:
            group.apps.append(app_id)

    def emit(self, logger: logging.Logger, *, level: int = logging.WARNING) -> None:
        if not logger.isEnabledFor(level):
            return
        for code in sorted(self._groups):
            group = self._groups[code]
            detail = short_text(group.detail or code)
            reasons = [short_text(reason) for reason in group.reasons]
            if group.count == 1:
                app = short_id(group.apps[0])
                one = {"event": "decision", "app": app, "code": code, "reasons": reasons}
                logger.log(level, "%s: %s", app, detail, extra={"fields": one})
                continue
            fields: dict[str, object] = {
                "event": "decisions",
                "code": code,
                "count": group.count,
                "apps": [short_id(app) for app in group.apps],
                "reasons": reasons,
            }
            logger.log(
                level,
                "%s for %s: %s; the first: %s",
                code,
                _apps(group.count),
                id_list(group.apps, total=group.count),
                detail,
                extra={"fields": fields},
            )


@dataclass(frozen=True)
class _Down:
    since: datetime
    error: str
    failed_ticks: int = 1


def _apps(count: int, *, verb: tuple[str, str] | None = None) -> str:
    """`1 app has`, `312 apps have`."""
    words = f"{count} app" if count == 1 else f"{count} apps"
    return words if verb is None else f"{words} {verb[0] if count == 1 else verb[1]}"


def _took(down: _Down, now: datetime) -> str:
    return format_duration(max(now - down.since, timedelta(0)))


class Outages:
    """Which of Marathon and the metric sources are down; one line on each change of state."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._down: dict[str, _Down] = {}
        self._unmanaged_invalid = 0

    def is_down(self, name: str) -> bool:
        return name in self._down

    def marathon(self, *, now: datetime, error: str | None, auth: bool = False) -> None:
        """Called once per tick: `error` is why the app list could not be read, None when it was."""
        fields: dict[str, object] = {"event": "marathon_error"}
        if error is not None and self._went_down("marathon", now=now, error=error):
            self._log.log(
                logging.ERROR if auth else logging.WARNING,
                "cannot read apps from Marathon: %s; no app is scaled until it answers",
                short_text(error),
                extra={"fields": fields},
            )
        elif error is None and (down := self._recovered("marathon")) is not None:
            self._log.warning(
                "Marathon answers again after %s (%d failed ticks)",
                _took(down, now),
                down.failed_ticks,
                extra={"fields": {**self._recovery_fields(down, now), "event": "marathon_recovered"}},
            )

    def source(self, name: str, *, now: datetime, error: str | None, affected: Callable[[], int]) -> None:
        """Called once per tick per metric source: `error` when every query to it failed.
        `affected` counts the apps that read it (called only when the state changes)."""
        if error is not None and self._went_down(f"source:{name}", now=now, error=error):
            apps = affected()
            self._log.warning(
                "metric source %s is down (every query failed): %s; %s missing metrics from it (none is scaled "
                "down on them) until it recovers",
                name,
                short_text(error),
                _apps(apps, verb=("has", "have")),
                extra={"fields": {"event": "metric_source_error", "source": name, "apps": apps}},
            )
        elif error is None and (down := self._recovered(f"source:{name}")) is not None:
            apps = affected()
            self._log.warning(
                "metric source %s recovered after %s (%d failed ticks); %s its metrics again",
                name,
                _took(down, now),
                down.failed_ticks,
                _apps(apps, verb=("has", "have")),
                extra={
                    "fields": {
                        **self._recovery_fields(down, now),
                        "event": "metric_source_recovered",
                        "source": name,
                        "apps": apps,
                    }
                },
            )

    def unmanaged_invalid(self, count: int) -> None:
        """Apps whose data Marathon sent unusable and that no policy manages: counted, never listed."""
        if count == self._unmanaged_invalid:
            return
        self._unmanaged_invalid = count
        self._log.log(
            logging.WARNING if count else logging.INFO,
            "Marathon lists %s with unusable data that no policy manages (ignored)",
            _apps(count),
            extra={"fields": {"event": "unmanaged_invalid_apps", "count": count}},
        )

    def _went_down(self, name: str, *, now: datetime, error: str) -> bool:
        """Record a failed tick; True when this is the first of an outage."""
        down = self._down.get(name)
        if down is None:
            self._down[name] = _Down(since=now, error=error)
            return True
        self._down[name] = _Down(since=down.since, error=error, failed_ticks=down.failed_ticks + 1)
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("%s still down: %s", name, short_text(error), extra={"fields": {"event": "still_down"}})
        return False

    def _recovered(self, name: str) -> _Down | None:
        return self._down.pop(name, None)

    @staticmethod
    def _recovery_fields(down: _Down, now: datetime) -> dict[str, object]:
        return {"down_seconds": round((now - down.since).total_seconds(), 3), "failed_ticks": down.failed_ticks}
