"""JSON of the engine's values (decisions, forecasts, windows, policies, outcomes) for the status API.

Pure functions of immutable values: the status server builds its views from them, `explain --url`
and people read the result. JSON has no NaN or infinity; those become null.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from autoscaler.core.decide import Decision
from autoscaler.core.policy import Policy, Predictive, ScaleRule, Schedule
from autoscaler.core.schedule import Window
from autoscaler.core.units import format_duration
from autoscaler.reports import AppOutcome

JSON = dict[str, Any]

__all__ = [
    "JSON",
    "decision_json",
    "fallback_json",
    "forecast_json",
    "iso",
    "number",
    "outcome_json",
    "policy_json",
    "ramp_json",
    "window_json",
]


def number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def window_json(window: Window, *, now: datetime | None = None) -> JSON:
    """One occurrence of a schedule; `active` is given when `now` is."""
    body: JSON = {
        "name": window.name,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "applies_from": window.applies_from.isoformat(),
        "lead": format_duration(window.lead),
        "min_instances": window.min_instances,
        "max_instances": window.max_instances,
        "timezone": window.timezone,  # the schedule's zone (IANA name, or a one-off's UTC offset)
        "ramp_up": format_duration(window.ramp_up),
        "ramp_down": format_duration(window.ramp_down),
        # when the floor starts to ramp up (applies_from without a ramp), and when the ramp down is over
        "ramp_from": (window.applies_from - window.ramp_up).isoformat(),
        "ramp_until": (window.end + window.ramp_down).isoformat(),
    }
    if now is not None:
        body["active"] = window.active_at(now)
    return body


def decision_json(decision: Decision) -> JSON:
    """A Decision with every number and reason, as the status API and dashboard show it."""
    metrics = []
    for evaluation in decision.metrics:
        value = number(evaluation.value)
        if value is None:
            load = None
        elif evaluation.kind == "average":
            load = value / evaluation.target
        else:  # a total for the app: the load per instance against the per-instance target
            load = value / (evaluation.target * decision.current) if decision.current > 0 else None
        metrics.append(
            {
                "name": evaluation.name,
                "source": evaluation.source,
                "kind": evaluation.kind,
                "target": number(evaluation.target),
                "value": value,
                "load_ratio": number(load),
                "proposal": evaluation.proposal,
                "missing": evaluation.missing,
                "detail": evaluation.detail,
            }
        )
    return {
        "app": decision.app_id,
        "at": decision.at.isoformat(),
        "current": decision.current,
        "desired": decision.desired,
        "action": decision.action,
        "code": decision.code,
        "cause": decision.cause,
        "summary": decision.summary(),
        "proposed": decision.proposed,
        "recommendation": decision.recommendation,
        "reasons": decision.reasons(),
        "metrics": metrics,
        "clamps": [
            {"rule": clamp.rule, "before": clamp.before, "after": clamp.after, "detail": clamp.detail}
            for clamp in decision.clamps
        ],
        "windows": [window_json(window) for window in decision.windows],
        "notes": list(decision.notes),
        "forecast": forecast_json(decision),
        # a paused decision: the count it would set, and the pause (scope, reason, by, since, until, source)
        "would": decision.would,
        "pause": decision.pause.to_json() if decision.pause is not None else None,
        "fallback": fallback_json(decision),
        "ramp": ramp_json(decision),
    }


def fallback_json(decision: Decision) -> JSON | None:
    """The fallback of a decision whose metrics are all missing under a policy with `fallback` (None
    otherwise): `status` waiting (missing for less than `after`), in_force, or unavailable (its source
    has no count: `why`); `instances`: the floor in force; since when the metrics are missing
    (`missing_since`) and since when the fallback applies (`in_force_from`)."""
    fallback = decision.fallback
    if fallback is None:
        return None
    return {
        "status": fallback.status,
        "source": fallback.source,
        "instances": fallback.instances,
        "missing_since": fallback.missing_since.isoformat(),
        "in_force_from": fallback.in_force_from.isoformat(),
        "why": fallback.why or None,
        "detail": fallback.describe(),
    }


def ramp_json(decision: Decision) -> JSON | None:
    """The ramps in force for a decision (None without any): the floor they make (`level`), and for
    each its window, direction, steps taken of its steps, base, next step and plan (time, floor)."""
    ramp = decision.ramp
    if ramp is None:
        return None
    ramps = []
    for each, base in ramp.ramps:
        upcoming = each.next_step_at()
        ramps.append(
            {
                "window": each.window.name,
                "direction": each.direction,
                "begins": each.begins.isoformat(),
                "ends": each.ends.isoformat(),
                "steps": each.steps,
                "taken": each.taken,
                "base": base,
                "target": each.target,
                "level": each.level(base),
                "next_step_at": iso(upcoming),
                "next_level": each.level(base, each.taken + 1) if upcoming is not None else None,
                "plan": [{"at": at.isoformat(), "floor": floor} for at, floor in each.plan(base)],
            }
        )
    return {"level": ramp.level, "descending": ramp.descending, "ramps": ramps}


def forecast_json(decision: Decision) -> JSON | None:
    """The seasonal forecast a decision saw (None for a policy without `predictive`).

    `mode`: forecast_only (shown, never acts) or on; `available`: false until enough history;
    `proposed_by`: which proposal won (`reactive` or `forecast`; never `forecast` in forecast_only);
    `would_win`: an agreed forecast proposes more than the metrics (what mode `on` would have done);
    `load`: the predicted load over the next `horizon_seconds` (the `quantile` of `samples`, one per
    previous period, raised by `margin`), in the units the metric's target divides; `proposal`:
    ceil(load / target); `spread`: how much the previous periods disagree ((q0.9 - q0.1) / q0.9 of
    `samples`); `agreed`: spread within `max_spread`; `acts`: mode `on` and an agreed forecast;
    `check`: the self-check's factor on the quantile before the margin (`core.selfcheck`; 0 until
    `checked_windows` reaches its minimum), null where no check was made.
    """
    mode = decision.forecast_mode
    if mode is None:
        return None
    body: JSON = {"mode": mode, "acts": mode == "on", "available": False, "proposed_by": decision.proposed_by}
    forecast = decision.forecast
    if forecast is None:
        return body
    reactive = decision.proposed
    body.update(
        available=True,
        won=decision.proposed_by == "forecast",
        would_win=forecast.agreed and (reactive is None or forecast.proposal > reactive),
        metric=forecast.metric,
        load=number(forecast.load),
        base=number(forecast.base),
        target=number(forecast.target),
        proposal=forecast.proposal,
        reactive_proposal=reactive,
        samples=[number(sample) for sample in forecast.samples],
        quantile=forecast.quantile,
        margin=forecast.margin,
        spread=number(forecast.spread),
        max_spread=forecast.max_spread,
        agreed=forecast.agreed,
        acts=mode == "on" and forecast.agreed,
        horizon_seconds=forecast.horizon.total_seconds(),
        check=None if forecast.check is None else number(forecast.check),
        checked_windows=forecast.checked,
        describe=forecast.describe(),
    )
    return body


def outcome_json(outcome: AppOutcome) -> JSON:
    """What happened to one app in one tick: the outcome code, the decision and the write, if any."""
    write = outcome.write
    return {
        "app": outcome.app_id,
        "code": outcome.code,
        "detail": outcome.detail,
        "scaled": outcome.scaled,
        "at": iso(outcome.decision.at) if outcome.decision is not None else None,
        "decision": decision_json(outcome.decision) if outcome.decision is not None else None,
        "write": (
            {
                "outcome": write.outcome,
                "instances": write.instances,
                "deployment_id": write.deployment_id,
                "detail": write.detail,
            }
            if write is not None
            else None
        ),
    }


def _schedule_json(schedule: Schedule) -> JSON:
    body: JSON = {"name": schedule.name, "lead": "auto" if schedule.lead is None else format_duration(schedule.lead)}
    if schedule.cron is not None:
        body.update(
            type="recurring",
            cron=schedule.cron,
            timezone=schedule.timezone or "UTC",
            duration=format_duration(schedule.duration) if schedule.duration is not None else None,
        )
    else:
        body.update(type="one-off", start=iso(schedule.start), end=iso(schedule.end))
    body.update(
        min_instances=schedule.min_instances,
        max_instances=schedule.max_instances,
        ramp_up=format_duration(schedule.ramp_up),
        ramp_down=format_duration(schedule.ramp_down),
    )
    return body


def _predictive_json(predictive: Predictive | None) -> JSON | None:
    if predictive is None:
        return None
    return {
        "mode": predictive.mode,
        "lookback": format_duration(predictive.lookback),
        "period": format_duration(predictive.period),
        "quantile": predictive.quantile,
        "margin": predictive.margin,
        "max_spread": predictive.max_spread,
        "horizon": "auto" if predictive.horizon is None else format_duration(predictive.horizon),
        "bucket": format_duration(predictive.bucket),
        "min_samples": predictive.min_samples,
        "saturation": predictive.saturation,
        "load_queries": dict(predictive.load_queries),
    }


def policy_json(policy: Policy) -> JSON:
    def rule(direction: ScaleRule) -> JSON:
        return {
            "cooldown": format_duration(direction.cooldown),
            "max_step": [str(step) for step in direction.max_step],
            "stabilization": format_duration(direction.stabilization),
        }

    return {
        "min_instances": policy.min_instances,
        "max_instances": policy.max_instances,
        "tolerance": policy.tolerance,
        "metrics": [
            {"name": m.name, "source": m.source, "kind": m.kind, "target": m.target, "query": m.query}
            for m in policy.metrics
        ],
        "schedules": [_schedule_json(schedule) for schedule in policy.schedules],
        "scale_up": rule(policy.scale_up),
        "scale_down": rule(policy.scale_down),
        "force": policy.force,
        "predictive": _predictive_json(policy.predictive),
        "fallback": (
            None
            if policy.fallback is None
            else {"after": format_duration(policy.fallback.after), "instances": policy.fallback.instances}
        ),
    }
