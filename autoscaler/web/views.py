"""The status API's documents: one app, a page of apps, the summary, built from a StatusSnapshot.

A page of apps and the summary are what the dashboard polls, so they stay small whatever the number
of apps: the summary carries counts (per code, problems, scaling), the recent scale actions and the
tick's facts; a page carries at most `MAX_LIMIT` apps chosen by search text and a problem filter
from an `AppIndex` built once per snapshot. The server caches what these functions return.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from autoscaler.core.codes import CODES, PENDING, PROBLEM_CODES, describe, kind_of
from autoscaler.core.policy import Policy
from autoscaler.core.schedule import active_windows, next_windows
from autoscaler.core.startup import StartupEstimate
from autoscaler.reports import AppOutcome
from autoscaler.sinks.status import StatusSnapshot
from autoscaler.sinks.status.trends import ScaleAction
from autoscaler.web.values import (
    JSON,
    fallback_json,
    forecast_json,
    iso,
    number,
    outcome_json,
    policy_json,
    window_json,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY = 200  # characters of search text
TIME_ZONE = "UTC"  # every time the API and the dashboard show

TrendRows = Sequence[tuple[int, int, int, float]]

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "TIME_ZONE",
    "AppIndex",
    "app_json",
    "codes_json",
    "page_json",
    "service_json",
    "startup_json",
    "summary_json",
    "trend_json",
]


class StatusView(Protocol):
    """What the views read of a status: a ServiceStatus or a StatusSnapshot."""

    @property
    def interval(self) -> timedelta: ...
    @property
    def role(self) -> str: ...
    @property
    def policies(self) -> Mapping[str, Policy]: ...
    @property
    def startup(self) -> Mapping[str, StartupEstimate]: ...
    def last(self, app_id: str) -> AppOutcome | None: ...


def startup_json(status: StatusView, app_id: str) -> JSON | None:
    """The app's start-up time learned from Marathon: the median of the recent measurements (seconds,
    oldest first). None until one scale-up has been measured, or when the app does not learn it (no
    `predictive` and no `lead: auto`)."""
    estimate = status.startup.get(app_id)
    if estimate is None:
        return None
    return {"seconds": number(estimate.seconds), "samples": [number(s) for s in estimate.samples]}


def trend_json(rows: TrendRows, *, step: int) -> JSON:
    """An app's trend in columns (oldest first); `load` is load/target (1: at target; null: no value)."""
    return {
        "step_seconds": step,
        "times": [row[0] for row in rows],  # unix seconds
        "instances": [row[1] for row in rows],
        "desired": [row[2] for row in rows],
        "load": [None if math.isnan(row[3]) else round(row[3], 4) for row in rows],
    }


def app_json(status: StatusView, app_id: str, *, now: datetime, trend: JSON | None = None) -> JSON:
    """One managed app: its policy, its last outcome and decision, and its schedule windows at `now`."""
    policy = status.policies[app_id]
    last = status.last(app_id)
    decision = last.decision if last is not None else None
    estimate = status.startup.get(app_id)
    lead = estimate.duration + status.interval if estimate is not None else None  # `lead: auto`
    code = last.code if last is not None else None
    body: JSON = {
        "app": app_id,
        "role": status.role,
        "policy": policy_json(policy),
        "current": decision.current if decision is not None else None,
        "desired": decision.desired if decision is not None else None,
        "code": code,
        "kind": kind_of(code),
        "description": describe(code),  # core.codes' words; null for a code this service does not know
        "last": outcome_json(last) if last is not None else None,
        "forecast": forecast_json(decision) if decision is not None else None,
        "fallback": fallback_json(decision) if decision is not None else None,  # while metrics are gone
        "startup": startup_json(status, app_id),
        "schedule": {
            "active": [window_json(w, now=now) for w in active_windows(policy.schedules, now, auto_lead=lead)],
            "next": [window_json(w, now=now) for w in next_windows(policy.schedules, now, auto_lead=lead)],
        },
    }
    if trend is not None:
        body["trend"] = trend
    return body


def service_json(snapshot: StatusSnapshot, *, now: datetime) -> JSON:
    """The service's own state: role, readiness, ticks, policy problems."""
    ready, reason = snapshot.readiness()
    report = snapshot.last_report
    return {
        "generated_at": now.isoformat(),
        "time_zone": TIME_ZONE,
        "role": snapshot.role,
        "ready": ready,
        "readiness": reason,
        "healthy": snapshot.heartbeat_fresh(now),
        "interval_seconds": snapshot.interval.total_seconds(),
        "started_at": snapshot.started_at.isoformat(),
        "ticks": snapshot.ticks,
        "last_tick_at": iso(snapshot.last_tick_at),
        "last_success_at": iso(snapshot.last_success_at),
        "last_tick_error": report.error if report is not None else None,
        "last_tick_seconds": number(report.duration_seconds) if report is not None else None,
        "policy_problems": [
            {"severity": p.severity, "path": p.path, "field": p.field, "line": p.line, "message": p.message}
            for p in snapshot.policy_problems[:MAX_LIMIT]
        ],
        "policy_problem_count": len(snapshot.policy_problems),
    }


@dataclass(frozen=True)
class AppIndex:
    """Every managed app in id order with its last code, for searching and paging without a scan of
    the apps' documents."""

    ids: tuple[str, ...]
    codes: tuple[str | None, ...]
    keys: tuple[str, ...]  # lower-case id and code: what the search text is matched against

    @staticmethod
    def of(snapshot: StatusSnapshot) -> AppIndex:
        ids = tuple(sorted(snapshot.policies))
        codes = tuple(o.code if (o := snapshot.outcomes.get(app_id)) is not None else None for app_id in ids)
        keys = tuple(f"{app_id} {code or PENDING}".lower() for app_id, code in zip(ids, codes, strict=True))
        return AppIndex(ids=ids, codes=codes, keys=keys)

    def select(self, *, query: str, problems_only: bool, offset: int, limit: int) -> tuple[int, list[str]]:
        """(how many apps match, the ids of the page from `offset`)."""
        needle = query.strip().lower()
        if not needle and not problems_only:
            return len(self.ids), list(self.ids[offset : offset + limit])
        matched = [
            app_id
            for app_id, code, key in zip(self.ids, self.codes, self.keys, strict=True)
            if (not problems_only or code in PROBLEM_CODES) and needle in key
        ]
        return len(matched), matched[offset : offset + limit]


def page_json(
    snapshot: StatusSnapshot,
    index: AppIndex,
    *,
    now: datetime,
    query: str = "",
    problems_only: bool = False,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    trend_of: Callable[[str], JSON] | None = None,
) -> JSON:
    """A page of apps (with `trend_of`: each with its trend) and the service's own state."""
    matched, ids = index.select(query=query, problems_only=problems_only, offset=offset, limit=limit)
    body = service_json(snapshot, now=now)
    following = offset + len(ids)
    body.update(
        total=len(index.ids),
        matched=matched,
        offset=offset,
        limit=limit,
        next_offset=following if following < matched else None,
        query=query,
        problems_only=problems_only,
        apps=[
            app_json(snapshot, app_id, now=now, trend=trend_of(app_id) if trend_of is not None else None)
            for app_id in ids
        ],
    )
    return body


def codes_json() -> JSON:
    """Every code's kind, description and (for a change Marathon accepted) direction, from core.codes:
    the dashboard keeps no list of its own."""
    return {
        code: {"kind": info.kind, "description": info.description, "direction": info.direction}
        for code, info in CODES.items()
    }


def summary_json(snapshot: StatusSnapshot, index: AppIndex, *, now: datetime, actions: Sequence[ScaleAction]) -> JSON:
    """Counts per code, problems, recent scale actions, the tick's facts and the codes' descriptions."""
    counts = Counter(code or PENDING for code in index.codes)
    problems = sum(n for code, n in counts.items() if code in PROBLEM_CODES)
    scaling = sum(n for code, n in counts.items() if (info := CODES.get(code)) is not None and info.direction)
    body = service_json(snapshot, now=now)
    body.update(
        apps=len(index.ids),
        counts=dict(sorted(counts.items())),
        problems=problems,
        scaling=scaling,
        recent_actions=[
            {
                "at": action.at.isoformat(),
                "app": action.app_id,
                "from": action.before,
                "to": action.after,
                "direction": "up" if action.after > action.before else "down",
                "code": action.code,
                "cause": action.cause,
            }
            for action in actions
        ],
        codes=codes_json(),
    )
    return body
