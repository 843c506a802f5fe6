"""Warnings a simulation run owes the person who reads it: what the headline numbers alone hide.

Two mistakes look fine in a summary: a policy whose `max_instances` is below what the trace's peak
needs (the unserved figure is small over a month, yet the one peak that matters is lost), and a policy
that scales so often that Marathon would run a deployment every few minutes. Both are checked here,
against the fleet model's own numbers, and worded for the report and the JSON.
"""

from __future__ import annotations

import math

from autoscaler.core.policy import Policy
from autoscaler.sim.runner import SimResult

# Scale actions (each one a Marathon deployment) per counted day above which a run is flagged: more
# than one every half hour on average. Each deployment locks the app for its duration (other writes
# are refused with 409) and, on a scale-down, kills tasks; a policy that needs more is usually missing
# a stabilisation window, a tolerance or larger steps.
HIGH_ACTIONS_PER_DAY = 48.0
_DAY = 86400.0


def actions_per_day(result: SimResult) -> float:
    """Scale actions per day over the counted part of the run (at least one hour of it)."""
    counted = max((result.end - result.start).total_seconds() - result.warmup, 3600.0)
    return result.scale_actions / (counted / _DAY)


def instances_for_peak(result: SimResult) -> tuple[int, int | None]:
    """The instances the trace's peak needs at 100 % utilisation, and at the run's target (None when the
    run has no utilisation target)."""
    at_full = result.peak_instances
    target = result.target
    if target is None or not 0 < target <= 1:
        return at_full, None
    return at_full, math.ceil(at_full / target - 1e-9)


def _utilisation_only(policy: Policy) -> bool:
    """The run's target is a utilisation (every metric a target_average), so the peak's need at it is known."""
    return bool(policy.metrics) and all(spec.kind == "average" for spec in policy.metrics)


def run_warnings(result: SimResult, policy: Policy | None) -> list[str]:
    """Everything wrong with the run that its numbers do not say by themselves."""
    found = []
    if policy is not None:
        at_full, at_target = instances_for_peak(result)
        ceiling = policy.max_instances
        if ceiling < at_full:
            found.append(
                f"the policy cannot reach the trace's peak: max_instances {ceiling} is below the {at_full} "
                f"instances the peak needs at 100 % utilisation ({result.unserved_pct:.3g} % of all requests "
                "unserved, most of them at the peaks)"
            )
        elif at_target is not None and _utilisation_only(policy) and ceiling < at_target:
            found.append(
                f"the policy cannot hold its target at the trace's peak: max_instances {ceiling} is below the "
                f"{at_target} instances the peak needs at the target {result.target:g}"
            )
    rate = actions_per_day(result)
    if rate > HIGH_ACTIONS_PER_DAY:
        found.append(
            f"high action rate: {rate:,.0f} scale actions (Marathon deployments) per day, above "
            f"{HIGH_ACTIONS_PER_DAY:g}; consider a longer stabilization window, a larger tolerance or larger steps"
        )
    return found
