"""The loop's log lines about apps: every scale action, and the holds worth a warning, bounded.

A scale action is one INFO line with the app id, from -> to and the cause (its reasons as fields). A
hold that means something outside the engine is wrong (the app is gone, its data is unusable, its
metrics are missing, the engine failed) goes into the tick's digest, one line per code per tick
(`autoscaler.ticklog.TickDigest`); missing metrics of an app whose source is down are left to that
source's outage line. Every other hold is a DEBUG line, built only when DEBUG is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from autoscaler.core.codes import Outcome
from autoscaler.core.decide import Decision
from autoscaler.logs import short_id
from autoscaler.reports import AppOutcome
from autoscaler.ticklog import TickDigest

__all__ = ["OutcomeLog"]

# Holds that mean something is wrong outside the engine's control: worth a warning every tick
# (collapsed into one line per code per tick).
WARN_CODES = frozenset(
    {Outcome.APP_NOT_FOUND, Outcome.INVALID_APP_STATE, Outcome.MISSING_METRICS, Outcome.INTERNAL_ERROR}
)


class OutcomeLog:
    """Logs one tick's outcomes; `begin` starts a tick's digest, `emit` writes it."""

    def __init__(self, logger: logging.Logger, *, reads_a_down_source: Callable[[str], bool]) -> None:
        self._log = logger
        self._reads_a_down_source = reads_a_down_source
        self._digest = TickDigest()

    def begin(self) -> None:
        self._digest = TickDigest()

    def emit(self) -> None:
        self._digest.emit(self._log)

    def __contains__(self, code: object) -> bool:
        """Whether this tick's digest already has an app under `code`."""
        return code in self._digest

    def action(self, decision: Decision, outcome: AppOutcome, *, dry_run: bool) -> None:
        """A write (or, in a dry run, what would have been written); a refused write goes to the digest."""
        fields = {
            "event": "scale" if not dry_run else "scale_dry_run",
            "app": decision.app_id,
            "from": decision.current,
            "to": decision.desired,
            "code": outcome.code,
            "cause": decision.cause,
            "reasons": decision.reasons(),
        }
        if outcome.write is not None and not outcome.write.ok:
            detail = f"not scaled {decision.current} -> {decision.desired}: {outcome.detail}"
            self._digest.add(outcome.code, decision.app_id, detail, decision.reasons)
            return
        verb = "would scale" if dry_run else "scaled"
        fields["app"] = short_id(decision.app_id)
        self._log.info(
            "%s: %s %d -> %d (%s)",
            fields["app"],
            verb,
            decision.current,
            decision.desired,
            decision.cause,
            extra={"fields": fields},
        )

    def outcome(self, outcome: AppOutcome) -> None:
        """Warnings go into the tick's digest (one line per code); other holds are logged at DEBUG.
        Missing metrics of an app that reads a source that is down are counted in that source's outage."""
        warn = outcome.code in WARN_CODES
        if not warn and not self._log.isEnabledFor(logging.DEBUG):  # thousands of holds: build nothing
            return
        if warn and outcome.code == Outcome.MISSING_METRICS and self._reads_a_down_source(outcome.app_id):
            return  # counted in the source's outage line
        detail = outcome.detail or outcome.code
        if outcome.decision is not None:  # a decision's summary starts with the app id: say it once
            detail = detail.removeprefix(f"{outcome.app_id}: ")
        if warn:
            reasons = outcome.decision.reasons if outcome.decision is not None else ()
            self._digest.add(outcome.code, outcome.app_id, detail, reasons)
            return
        app = short_id(outcome.app_id)
        fields: dict[str, object] = {"event": "decision", "app": app, "code": outcome.code}
        if outcome.decision is not None:
            fields["instances"] = outcome.decision.current
            fields["reasons"] = outcome.decision.reasons()
        self._log.debug("%s: %s", app, detail, extra={"fields": fields})
