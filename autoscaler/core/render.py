"""The one renderer of a Decision to text: the words logs, the status API, explain and preview use.

A Decision carries numbers and reasons; every place that shows one to a person (a log line, the
status API's reasons, `autoscaler explain`, the preview of the running service's decision, a
notification) writes it with these functions, so a reason reads the same wherever it is seen:

- `summary`: one line, `/shop/api: 4 -> 8 (scaled_up: metrics)` or `/shop/api: stays at 4 (cooldown)`;
- `reasons`: every reason in order (metrics, notes, clamps), for logs and the status API;
- `metric_text`, `clamp_text`, `clamp_lines`: one metric, one clamp, the numbered clamps;
- `why`: one sentence answering "why did it (not) scale?";
- `outcome_text`: the outcome in a clause, `scaled_up, desired 8 (cause: metrics)`, for explain;
- `account`: the whole decision, readable (`Decision.explain()`; the README's worked example);
- `fallback_brief`: where an app's fallback stands in a few words, for the notice of a source outage;
- `fallbacks_brief`: the fallbacks of several apps in one clause, bounded.

Pure text from values: nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import TYPE_CHECKING

from autoscaler.core.codes import Cause, Hold, Rule
from autoscaler.core.units import format_duration

if TYPE_CHECKING:  # the values import this module to render themselves
    from autoscaler.core.decision import Clamp, Decision
    from autoscaler.core.fallback import FallbackState
    from autoscaler.core.rules import MetricEvaluation

__all__ = [
    "account",
    "clamp_lines",
    "clamp_text",
    "fallback_brief",
    "fallbacks_brief",
    "metric_text",
    "outcome_text",
    "proposal_text",
    "reasons",
    "summary",
    "why",
]


def summary(decision: Decision) -> str:
    """One line: `/shop/api: 4 -> 8 (scaled_up: metrics)` or `/shop/api: stays at 4 (cooldown)`."""
    if decision.scaled:
        return f"{decision.app_id}: {decision.current} -> {decision.desired} ({decision.code}: {decision.cause})"
    if decision.pause is not None and decision.would != decision.current:
        return f"{decision.app_id}: stays at {decision.current} ({decision.code}; would go to {decision.would})"
    return f"{decision.app_id}: stays at {decision.current} ({decision.code})"


def fallback_brief(fallback: FallbackState) -> str:
    """`to 8` (in force), `to at least 6 at 00:01:30 UTC` / `to its forecast at ...` (waiting), or
    `holds (the forecast has no agreed count)` (due, but its source has no count to give)."""
    if fallback.in_force:
        return f"to {fallback.instances}"
    if fallback.status == "waiting":
        source = fallback.source
        to = f"at least {source}" if isinstance(source, int) else f"its {source}"
        return f"to {to} at {fallback.in_force_from.astimezone(UTC):%H:%M:%S} UTC"
    return f"holds ({fallback.why})"


def fallbacks_brief(decisions: Iterable[Decision], *, most: int = 10) -> str:
    """`/a to 10, /b to its forecast at 12:02:00 UTC, /c holds (...)`: the fallback of each decision
    that has one, at most `most` named (`(+4)` for the rest); empty when none has a fallback."""
    parts = [f"{d.app_id} {fallback_brief(d.fallback)}" for d in decisions if d.fallback is not None]
    more = len(parts) - most
    return ", ".join(parts[:most]) + (f" (+{more})" if more > 0 else "")


def outcome_text(decision: Decision, *, code: str | None = None) -> str:
    """`scaled_up, desired 8 (cause: metrics)` or `cooldown, stays at 4`; `code`: the outcome's own
    when it is not the decision's (a dry run, a follower, a refused write)."""
    shown = decision.code if code is None else code
    if decision.scaled:
        return f"{shown}, desired {decision.desired} (cause: {decision.cause})"
    return f"{shown}, stays at {decision.current}"


def proposal_text(decision: Decision) -> str:
    """What the count would be without windows, forecast and limits, in words."""
    if not decision.metrics:
        return f"baseline {decision.proposed} (min_instances: the policy has no metrics)"
    return f"metrics recommend {decision.proposed}"


def reasons(decision: Decision) -> list[str]:
    """Every reason in order, for logs and the status API."""
    out = [f"metric {m.name}: {m.detail}" for m in decision.metrics]
    out += list(decision.notes)
    out += [f"{c.rule}: {c.before} -> {c.after}: {c.detail}" for c in decision.clamps]
    return out


def metric_text(metric: MetricEvaluation) -> str:
    """`cpu (prometheus): value 0.9 vs target_average 0.5: ...`: one metric, its value and proposal."""
    value = "none" if metric.value is None else f"{metric.value:g}"
    target = f"target_{'average' if metric.kind == 'average' else 'per_instance'} {metric.target:g}"
    return f"{metric.name} ({metric.source}): value {value} vs {target}: {metric.detail}"


def clamp_text(clamp: Clamp) -> str:
    """`max_step: 12 -> 8 (scale_up max_step 100%, 4 allows +4 from 4)`."""
    return f"{clamp.rule}: {clamp.before} -> {clamp.after} ({clamp.detail})"


def clamp_lines(decision: Decision) -> list[str]:
    """The section of clamps, numbered in the order they applied."""
    lines = ["Clamps, in the order they applied:"]
    if not decision.clamps:
        lines.append("  none")
    lines.extend(f"  {number}. {clamp_text(clamp)}" for number, clamp in enumerate(decision.clamps, start=1))
    return lines


def account(decision: Decision) -> str:
    """A readable account of the whole decision."""
    lines = [summary(decision)]
    lines.extend(f"  metric {metric_text(metric)}" for metric in decision.metrics)
    if not decision.metrics:
        lines.append(
            "  no metrics in this policy: it wants its baseline (min_instances) outside schedule windows, "
            "and returns to it through stabilisation and step limits"
        )
    for window in decision.windows:
        bounds = []
        if window.min_instances is not None:
            bounds.append(f"floor {window.min_instances}")
        if window.max_instances is not None:
            bounds.append(f"ceiling {window.max_instances}")
        lines.append(
            f"  schedule {window.name} in force ({', '.join(bounds)}): "
            f"{window.start.isoformat()} to {window.end.isoformat()}, lead {format_duration(window.lead)}"
        )
    if decision.forecast_mode is not None:
        lines.append(f"  {_forecast_text(decision)}")
    if decision.proposed is not None:
        remembered = (
            f" (remembered as {decision.recommendation}, the schedule floor, for stabilisation)"
            if decision.recommendation != decision.proposed
            else ""
        )
        lines.append(f"  {proposal_text(decision)}{remembered}")
    lines.extend(f"  {note}" for note in decision.notes)
    lines.extend(f"  {clamp_text(clamp)}" for clamp in decision.clamps)
    if decision.pause is not None:
        lines.append(f"  {decision.pause.describe()}: the count stays at {decision.current}, schedule floors included")
    lines.append(f"  outcome: {decision.code}, desired {decision.desired}")
    return "\n".join(lines)


def _forecast_text(decision: Decision) -> str:
    if decision.forecast is None:
        return f"forecast ({decision.forecast_mode}): no forecast yet (not enough history)"
    won = "won" if decision.proposed_by == "forecast" else "did not win"
    if decision.forecast_mode == "forecast_only":
        won = "not acted on: forecast_only"
    return f"{decision.forecast.describe()} ({decision.forecast_mode}; {won})"


def _clamp_detail(decision: Decision, rule: str) -> str | None:
    for clamp in decision.clamps:
        if clamp.rule == rule:
            return clamp.detail
    return None


def _wanted(decision: Decision) -> str:
    """What the count would be without windows and limits: the metrics' proposal, or the baseline."""
    if not decision.metrics:
        return f"without metrics the policy wants its baseline, min_instances {decision.proposed}"
    return f"the metrics recommend {decision.proposed}"


def why(decision: Decision) -> str:  # noqa: PLR0911, PLR0912 - one sentence per outcome code, read as a table
    """One sentence answering "why did it (not) scale?"."""
    current, desired = decision.current, decision.desired
    if decision.scaled:
        verb = "scales up" if desired > current else "scales down"
        if decision.cause in (Cause.METRICS, Cause.BASELINE):
            reason = _wanted(decision)
            limits = [c.rule for c in decision.clamps if c.rule != Rule.MISSING_METRICS]
            if limits and decision.proposed != desired:
                reason += f", limited to {desired} by {', '.join(limits)}"
        else:
            last = decision.clamps[-1] if decision.clamps else None
            reason = last.detail if last is not None else f"its {decision.cause} require it"
        return f"It {verb} from {current} to {desired} because {reason}."

    code = decision.code
    stay = f"It stays at {current}"
    if decision.pause is not None:
        would = f"; without the pause it would go to {decision.would}" if decision.would != current else ""
        return f"{stay} because it is {decision.pause.describe()}{would}."
    fixed: dict[str, str] = {
        Hold.DEPLOYMENT_IN_PROGRESS: "because a deployment is in progress; Marathon would refuse a change and the "
        "autoscaler never fights a running deployment",
        Hold.WITHIN_TOLERANCE: "because every metric is within the tolerance band of its target, "
        "so no change is needed",
        Hold.NO_METRICS: "because the policy has no metrics and the count is at its baseline (min_instances), "
        "with no schedule window in force that asks for another count",
    }
    if code in fixed:
        return f"{stay} {fixed[code]}."
    if code == Hold.METRIC_WINDOW:
        note = next((n for n in decision.notes if n.startswith("metric window: ")), "metric window: ")
        return (
            f"{stay} because of the metric window (over the fleet its average measured, the metrics recommend "
            f"{decision.proposed}): {note.removeprefix('metric window: ')}."
        )
    if code == Hold.MISSING_METRICS:
        missing = [m.name for m in decision.metrics if m.missing]
        return (
            f"{stay} because metric(s) {', '.join(missing)} have no usable value, and a missing metric may never "
            "cause a scale-down (the others do not ask for more)."
        )
    if code == Hold.AT_MAX:
        return f"{stay} because it is already at its maximum; {_wanted(decision)}."
    if code == Hold.AT_MIN:
        return f"{stay} because it is already at its minimum; {_wanted(decision)}."
    if code == Hold.AT_SCHEDULE_FLOOR:
        return f"{stay} because a schedule floor holds it there; {_wanted(decision)}."
    if code == Hold.AT_FORECAST:
        return f"{stay} because the forecast holds it there; {_wanted(decision)}."
    if code == Hold.AT_SCHEDULE_CEILING:
        return f"{stay} because a schedule ceiling holds it there; {_wanted(decision)}."
    rules: dict[str, str] = {
        Hold.STABILIZING: Rule.STABILIZATION,
        Hold.COOLDOWN: Rule.COOLDOWN,
        Hold.INSTANCES_NOT_READY: Rule.INSTANCES_NOT_READY,
    }
    rule = rules.get(code, code)
    detail = _clamp_detail(decision, rule)
    wanted = f" ({_wanted(decision)})" if decision.proposed is not None else ""
    if detail is not None:
        return f"{stay}{wanted} because of the {rule} rule: {detail}."
    return f"{stay}{wanted}: {code}."
