"""What `explain` and the dry-run preview show: the running service's decision, or an offline one.

A process started to answer "why did it (not) scale?" has not watched the app: it has no stabilisation
history, no ready counts of the metric window and no learned start-up time, so it can show a cooldown
where the service is stabilising, and a dry-run tick can never show a scale-down. The running service
has all three. So both commands ask its status API when told where it is (`--url`, or
AUTOSCALER_STATUS_URL), and otherwise decide offline and say plainly what they cannot know. Every
answer names its source.

`explain --json` gives the same answer as one JSON object with stable fields (`explanation_json`;
they are listed in the README), for scripts and chat-ops.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from autoscaler.core.codes import Outcome
from autoscaler.core.decide import Clamp, Decision
from autoscaler.core.render import clamp_lines, metric_text, outcome_text, proposal_text, summary, why
from autoscaler.core.rules import MetricEvaluation
from autoscaler.core.units import format_duration
from autoscaler.explain import Explanation
from autoscaler.statusclient import AppView, DecisionView, StatusAPIError, WindowView
from autoscaler.web.values import decision_json, window_json

__all__ = [
    "JSON_FIELDS",
    "explanation_json",
    "preview_lines",
    "service_explanation_json",
    "service_text",
]

# The fields of `explain --json`, in order: scripts may rely on every one of them being present.
JSON_FIELDS = (
    "app",
    "source",
    "service_url",
    "role",
    "at",
    "outcome",
    "code",
    "current",
    "desired",
    "action",
    "cause",
    "proposed",
    "why",
    "reasons",
    "metrics",
    "clamps",
    "schedule",
    "startup",
    "forecast",
    "write",
    "unknown",
)


def _ago(moment: datetime, now: datetime) -> str:
    delta = now - moment
    return f"{format_duration(delta)} ago" if delta >= timedelta(0) else f"in {format_duration(-delta)}"


def _decision_of(view: DecisionView) -> Decision:
    """The service's decision as the engine's value, so that it is explained in the same words."""
    try:
        at = datetime.fromisoformat(view.at)
    except ValueError:
        raise StatusAPIError(f"the running service's decision has an unreadable time {view.at[:40]!r}") from None
    if at.tzinfo is None:
        raise StatusAPIError(f"the running service's decision has a time without a zone {view.at[:40]!r}")
    forecast = view.forecast or {}
    mode = forecast.get("mode")
    return Decision(
        app_id=view.app,
        at=at,
        current=view.current,
        desired=view.desired,
        code=view.code,
        metrics=tuple(
            MetricEvaluation(m.name, m.source, m.kind, m.target or 0.0, m.value, m.proposal, m.detail)
            for m in view.metrics
        ),
        clamps=tuple(Clamp(c.rule, c.before, c.after, c.detail) for c in view.clamps),
        proposed=view.proposed,
        recommendation=view.recommendation,
        cause=view.cause,
        notes=tuple(view.notes),
        forecast_mode=mode if isinstance(mode, str) else None,
    )


def _outcome_sentence(view: AppView, decision: Decision | None) -> str:
    """The last sentence: the engine's why, and what the service did with it."""
    last = view.last
    if last is None:
        return "The running service has not decided this app yet (no tick since it started)."
    if decision is None:
        return f"It does not scale: {last.code}: {last.detail}."
    sentence = why(decision)
    if last.code == Outcome.DRY_RUN:
        sentence += " The service runs in dry-run mode: it sent nothing."
    elif last.code == Outcome.NOT_LEADER:
        sentence += " This instance is a follower: the leader does the writing."
    elif last.code != decision.code and last.code not in (Outcome.SCALED_UP, Outcome.SCALED_DOWN):
        sentence += f" The write did not happen as decided: {last.code}: {last.detail}."
    return sentence


def _window_line(window: WindowView) -> str:
    bounds = []
    if window.min_instances is not None:
        bounds.append(f"floor {window.min_instances}")
    if window.max_instances is not None:
        bounds.append(f"ceiling {window.max_instances}")
    lead = f", lead {window.lead}" if window.lead and window.lead != "0s" else ""
    return (
        f"{window.name} ({', '.join(bounds)}): {window.start} to {window.end}{lead}; applies from {window.applies_from}"
    )


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    def rule(name: str) -> str:
        data = policy.get(name)
        if not isinstance(data, dict):
            return "unknown"
        steps = data.get("max_step")
        shown = ", ".join(str(s)[:20] for s in steps[:5]) if isinstance(steps, list) else "?"
        return (
            f"cooldown {str(data.get('cooldown'))[:20]}, max_step {shown}, "
            f"stabilization {str(data.get('stabilization'))[:20]}"
        )

    return [
        f"Policy (as the service has it): min_instances {policy.get('min_instances')}, "
        f"max_instances {policy.get('max_instances')}, tolerance {policy.get('tolerance')}",
        f"  scale_up: {rule('scale_up')}",
        f"  scale_down: {rule('scale_down')}",
    ]


def service_text(view: AppView, *, url: str, now: datetime) -> str:
    """The running service's last decision about one app, in the words of an offline explain."""
    last = view.last
    decision = _decision_of(last.decision) if last is not None and last.decision is not None else None
    role = f"role {view.role}" if view.role else "role unknown"
    if decision is not None:
        lines = [summary(decision)]
        made = f"its decision at {decision.at.isoformat()} ({_ago(decision.at, now)})"
    else:
        lines = [f"{view.app}: {last.code if last is not None else 'not decided yet'}"]
        made = "no decision of its own to show"
    lines.append(
        f"Source: the running service at {url} ({role}), {made}: made with what it remembers (the stabilisation "
        "windows, the ready counts of the metric window, the start-up time it learned)."
    )
    lines += _policy_lines(view.policy)
    if decision is not None:
        lines.append("Metrics (the highest proposal wins; a missing metric may not drive a scale-down):")
        if not decision.metrics:
            lines.append("  none: only schedules and bounds apply")
        lines.extend(f"  {metric_text(m)}" for m in decision.metrics)
        if decision.proposed is not None:
            lines.append(f"  {proposal_text(decision)}")
        lines.extend(f"  {note}" for note in decision.notes)
        lines += clamp_lines(decision)
        forecast = last.decision.forecast if last is not None and last.decision is not None else None
        if forecast:
            described = forecast.get("describe")
            shown = str(described)[:500] if described else "no forecast yet (not enough history)"
            lines.append(f"Forecast ({str(forecast.get('mode'))[:20]}): {shown}")
    if view.startup is not None and view.startup.seconds is not None:
        samples = ", ".join(f"{s:g}s" for s in view.startup.samples if s is not None)
        lines.append(
            f"Start-up time: {format_duration(timedelta(seconds=view.startup.seconds))}, learned by the service "
            f"from Marathon (median of {len(view.startup.samples)} measured scale-ups: {samples})."
        )
    lines.append("Schedules:")
    lines.extend(f"  in force: {_window_line(w)}" for w in view.schedule.active)
    if not view.schedule.active:
        lines.append("  none in force now")
    lines.extend(f"  next: {_window_line(w)}" for w in view.schedule.next)
    if last is not None:
        if decision is not None:
            outcome = f"Outcome: {outcome_text(decision, code=last.code)}."
        else:
            outcome = f"Outcome: {last.code} ({last.detail})."
        if last.write is not None:
            detail = f" ({last.write.detail})" if last.write.detail else ""
            outcome += f" Write: {last.write.outcome}{detail}."
        lines.append(outcome)
    lines.append(f"Why: {_outcome_sentence(view, decision)}")
    return "\n".join(lines)


def service_explanation_json(view: AppView, *, url: str) -> dict[str, Any]:
    """`explain --json` from the running service's view of one app."""
    last = view.last
    decision = _decision_of(last.decision) if last is not None and last.decision is not None else None
    body = _decision_fields(decision)
    startup = view.startup
    body.update(
        app=view.app,
        source="service",
        service_url=url,
        role=view.role or None,
        outcome=last.code if last is not None else None,
        why=_outcome_sentence(view, decision),
        schedule={
            "active": [w.model_dump() for w in view.schedule.active],
            "next": [w.model_dump() for w in view.schedule.next],
        },
        startup=(
            {"seconds": startup.seconds, "samples": list(startup.samples), "learned": True}
            if startup is not None and startup.seconds is not None
            else None
        ),
        forecast=last.decision.forecast if last is not None and last.decision is not None else None,
        write=last.write.model_dump() if last is not None and last.write is not None else None,
        unknown=[],
    )
    if decision is None and last is not None:
        body["reasons"] = [last.detail] if last.detail else []
    return {key: body.get(key) for key in JSON_FIELDS}


def explanation_json(found: Explanation, *, app_id: str) -> dict[str, Any]:
    """`explain --json` from an offline explanation."""
    decision = found.decision
    body = _decision_fields(decision)
    active, upcoming = found.windows
    body.update(
        app=app_id,
        source="offline",
        service_url=None,
        role=None,
        outcome=found.outcome,
        why=why(decision) if decision is not None else found.detail,
        schedule={"active": [window_json(w) for w in active], "next": [window_json(w) for w in upcoming]},
        startup=(
            {"seconds": found.startup.seconds, "samples": list(found.startup.samples), "learned": False}
            if found.startup is not None
            else None
        ),
        write=None,
        unknown=list(found.unknown),
    )
    if decision is None:
        body["reasons"] = [found.detail]
    return {key: body.get(key) for key in JSON_FIELDS}


def _decision_fields(decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {"reasons": [], "metrics": [], "clamps": []}
    full = decision_json(decision)
    metric_keys = ("name", "source", "kind", "target", "value", "proposal", "missing", "detail")
    return {
        "at": full["at"],
        "code": full["code"],
        "current": full["current"],
        "desired": full["desired"],
        "action": full["action"],
        "cause": full["cause"],
        "proposed": full["proposed"],
        "reasons": full["reasons"],
        "metrics": [{key: metric[key] for key in metric_keys} for metric in full["metrics"]],
        "clamps": full["clamps"],
        "forecast": full["forecast"],
    }


def preview_lines(head: dict[str, Any], views: list[AppView], *, url: str, now: datetime) -> list[str]:
    """`run --once --dry-run` from the running service: its last decision per app, one line each."""
    role = str(head.get("role") or "unknown")[:20]
    last_tick = head.get("last_tick_at")
    when = "no tick yet"
    if isinstance(last_tick, str):
        try:
            moment = datetime.fromisoformat(last_tick)
            when = f"last tick {_ago(moment, now)}" if moment.tzinfo is not None else f"last tick {last_tick[:40]}"
        except ValueError:
            when = "last tick at an unreadable time"
    lines = [
        f"Preview from the running service at {url} (role {role}, {when}): its last decision per app, made with "
        "its stabilisation and metric-window history; nothing was written by this command."
    ]
    for view in sorted(views, key=lambda v: v.app):
        last = view.last
        if last is None:
            lines.append(f"{view.app}: not decided yet by the running service")
            continue
        decision = last.decision
        if decision is None:
            lines.append(f"{view.app}: {last.code} ({last.detail})")
            continue
        line = decision.summary or f"{view.app}: {decision.code}"
        if last.code == Outcome.DRY_RUN:
            line += " -> dry_run: the service decided it and sent nothing"
        elif last.code != decision.code:
            line += f" -> {last.code}: {last.detail}"
        lines.append(line)
    return lines
