"""Notices from tick reports: every scale action, and failures that persist, told once, then their recovery.

`FailureTracker` is pure state (no I/O, no clock): it folds the sequence of TickReports into the
notices worth sending, so the rules of when to speak are tested without any receiver. What a notice
says of a decision (the scale action's line, its reasons, where the fallbacks stand) is
`autoscaler.core.render`'s, so a chat message reads like the log line and the status API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from autoscaler.core import render
from autoscaler.core.codes import Outcome
from autoscaler.core.decide import Decision
from autoscaler.pauses.control import PauseEvent
from autoscaler.reports import AppOutcome, TickReport
from autoscaler.sinks.notify.config import DEFAULT_FAILURE_CODES

_MAX_REASONS = 8

Event = Literal["scaled", "failing", "recovered", "paused", "resumed"]
Subject = Literal["app", "marathon", "metric_source", "pause"]


@dataclass(frozen=True)
class Notice:
    """One thing worth telling: a scale action, a persistent failure, or its recovery."""

    event: Event
    subject: Subject
    name: str  # the app id, the metric source's name, or "marathon"
    code: str
    at: datetime
    before: int | None = None
    after: int | None = None
    reasons: tuple[str, ...] = ()
    ticks: int = 0
    detail: str = ""
    summary: str = ""  # a scale action's line, as core.render writes it

    @property
    def headline(self) -> str:
        if self.subject == "pause":
            return self.detail
        if self.event == "scaled":
            return self.summary
        what = {"app": self.name, "marathon": "Marathon", "metric_source": f"metric source {self.name}"}[self.subject]
        if self.event == "failing":
            return f"{what}: {self.code} for {self.ticks} ticks"
        return f"{what}: recovered from {self.code}" + (f" (now {self.detail})" if self.detail else "")

    @staticmethod
    def of_scale(outcome: AppOutcome, decision: Decision, *, at: datetime) -> Notice:
        """A scale action Marathon accepted: the decision's line and reasons, in the renderer's words."""
        return Notice(
            "scaled",
            "app",
            outcome.app_id,
            outcome.code,
            at,
            before=decision.current,
            after=decision.desired,
            reasons=tuple(render.reasons(decision)),
            detail=decision.cause,
            summary=render.summary(decision),
        )

    @staticmethod
    def of_pause(event: PauseEvent) -> Notice:
        """A pause made, lifted, or ended by itself (whoever leads: it happened on this instance)."""
        return Notice(
            event="paused" if event.kind == "paused" else "resumed",
            subject="pause",
            name=event.pause.scope,
            code=event.kind,
            at=event.at,
            detail=event.text(),
        )

    def lines(self) -> list[str]:
        """The reasons worth showing under the headline, capped."""
        shown = list(self.reasons[:_MAX_REASONS])
        if len(self.reasons) > _MAX_REASONS:
            shown.append(f"... {len(self.reasons) - _MAX_REASONS} more")
        if self.event == "failing" and self.detail and self.detail not in shown:
            shown.insert(0, self.detail)
        return shown

    def as_json(self, *, service: str) -> dict[str, Any]:
        """The generic JSON format, one object per notice:

        - `event`: `scaled`, `failing` (a failure persisted for `ticks` ticks), `recovered`, `paused`
          or `resumed` (code `resumed`, or `expired` when the pause ended by itself);
        - `subject`: `app`, `marathon`, `metric_source` or `pause`; `app` / `source`: its name, else
          null; for a pause only, `scope`: its app id, group (`/shop/*`) or `*`;
        - `from`, `to`: instance counts of a scale action, else null;
        - `code`: the outcome code (`scaled_up`, `missing_metrics`, `app_not_found`, ...), for
          Marathon `marathon_unreachable` / `marathon_unauthorized`, for a source `source_down`;
          for `recovered`, the code that recovered;
        - `reasons`: the decision's reasons (or the failure's detail), as a list of strings;
        - `ticks`: consecutive ticks of a failure; `time`: the tick's time (ISO 8601, with offset);
        - `text`: one readable line; `service`: the configured title.
        """
        body: dict[str, Any] = {
            "event": self.event,
            "subject": self.subject,
            "app": self.name if self.subject == "app" else None,
            "source": self.name if self.subject == "metric_source" else None,
            "from": self.before,
            "to": self.after,
            "code": self.code,
            "reasons": list(self.reasons) or ([self.detail] if self.detail and self.event == "failing" else []),
            "ticks": self.ticks,
            "time": self.at.isoformat(),
            "text": self.headline,
            "service": service,
        }
        if self.subject == "pause":
            body["scope"] = self.name
        return body


@dataclass
class _Streak:
    code: str | None = None
    ticks: int = 0
    alerted: str | None = None  # the failure code reached the threshold (reported unless quiet)
    quiet: bool = True  # every tick of the streak was covered by a notice about its cause
    told: bool = False  # a failing notice was sent, so its recovery is worth one too


class FailureTracker:
    """Turns the sequence of TickReports into notices; pure state, no I/O, no clock.

    A failure is reported once, when the same code has held for `failure_ticks` consecutive ticks;
    a different failure code restarts the count; any non-failure outcome after a reported failure
    gives one recovery notice. Ticks that could not read Marathon say nothing about apps or metric
    sources, so they leave those streaks as they are.
    """

    def __init__(
        self,
        *,
        failure_ticks: int,
        failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES,
        scale_actions: bool = True,
    ) -> None:
        self._threshold = failure_ticks
        self._codes = failure_codes
        self._scale_actions = scale_actions
        self._streaks: dict[tuple[Subject, str], _Streak] = {}

    def observe(self, report: TickReport) -> list[Notice]:
        notices: list[Notice] = []
        at = report.at
        if report.error is not None:
            code = "marathon_unauthorized" if report.auth_error else "marathon_unreachable"
            self._fail(("marathon", "marathon"), code, at=at, detail=report.error, into=notices)
            return notices
        self._ok(("marathon", "marathon"), "reachable", at=at, into=notices)

        down = self._observe_sources(report, at=at, into=notices)
        for app_id, outcome in report.outcomes.items():
            decision = outcome.decision
            if outcome.scaled and decision is not None and self._scale_actions:
                notices.append(Notice.of_scale(outcome, decision, at=at))
            if outcome.code in self._codes:
                reasons = tuple(render.reasons(decision)) if decision is not None else ()
                # Metrics missing only because their source is down: the source's notice says it.
                quiet = (
                    outcome.code == Outcome.MISSING_METRICS
                    and decision is not None
                    and bool(decision.metrics)
                    and all(m.missing and m.source in down for m in decision.metrics)
                )
                self._fail(
                    ("app", app_id),
                    outcome.code,
                    at=at,
                    detail=outcome.detail,
                    reasons=reasons,
                    quiet=quiet,
                    into=notices,
                )
            else:
                self._ok(("app", app_id), outcome.code, at=at, into=notices)
        for key in [k for k in self._streaks if k[0] == "app" and k[1] not in report.outcomes]:
            del self._streaks[key]  # no longer managed: nothing more to say about it
        return notices

    def _observe_sources(self, report: TickReport, *, at: datetime, into: list[Notice]) -> set[str]:
        """A source is down in a tick when every metric read from it is missing; returns those."""
        missing: dict[str, list[str | None]] = {}  # per source: each metric's missing reason or None
        for outcome in report.outcomes.values():
            if outcome.decision is not None:
                for metric in outcome.decision.metrics:
                    missing.setdefault(metric.source, []).append(metric.detail if metric.missing else None)
        down: set[str] = set()
        for source, reasons in missing.items():
            if all(reason is not None for reason in reasons):
                down.add(source)
                first = next((r for r in reasons if r), "")
                detail = f"all {len(reasons)} metrics from {source} are missing; first: {first}"
                detail += fallbacks_text(report, source)
                self._fail(("metric_source", source), "source_down", at=at, detail=detail, into=into)
            else:
                self._ok(("metric_source", source), "up", at=at, into=into)
        return down

    def _fail(
        self,
        key: tuple[Subject, str],
        code: str,
        *,
        at: datetime,
        detail: str,
        into: list[Notice],
        reasons: tuple[str, ...] = (),
        quiet: bool = False,
    ) -> None:
        streak = self._streaks.setdefault(key, _Streak())
        if streak.code == code:
            streak.ticks += 1
        else:
            streak.code, streak.ticks, streak.quiet = code, 1, True
        streak.quiet = streak.quiet and quiet  # loud as soon as one tick of the streak was not covered
        if streak.ticks >= self._threshold and streak.alerted != code:
            streak.alerted = code
            if not streak.quiet:
                streak.told = True
                into.append(
                    Notice("failing", key[0], key[1], code, at, reasons=reasons, ticks=streak.ticks, detail=detail)
                )

    def _ok(self, key: tuple[Subject, str], now_code: str, *, at: datetime, into: list[Notice]) -> None:
        streak = self._streaks.pop(key, None)
        if streak is not None and streak.alerted is not None and streak.told:
            into.append(Notice("recovered", key[0], key[1], streak.alerted, at, detail=now_code))


# At most this many apps are named in an outage notice's account of the fallbacks.
_MOST_FALLBACKS_NAMED = 10


def fallbacks_text(report: TickReport, source: str) -> str:
    """For an outage of `source`: which of its apps fell back (or will, and when) and to what, as
    `; fallback: /a to 10, /b to its forecast at 12:02:00 UTC, /c holds (...)`; empty without any."""
    readers = (
        outcome.decision
        for outcome in report.outcomes.values()
        if outcome.decision is not None and any(m.source == source for m in outcome.decision.metrics)
    )
    shown = render.fallbacks_brief(readers, most=_MOST_FALLBACKS_NAMED)
    return f"; fallback: {shown}" if shown else ""
