"""The pause stage: the last word on a decision while a pause is in force. Pure.

Everything before it runs as usual (metrics, stabilisation, steps, cooldowns, windows, bounds), so
the decision still says what the app would do; this stage then keeps the count where it is, schedule
floors included, records the change it prevented as a clamp (`paused`), and gives the decision the
code `paused` with the pause itself (who, why, until). The recommendation is kept as computed, so
stabilisation goes on learning while the app is paused.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.codes import Cause, Hold, Rule
from autoscaler.core.decide import Clamp, Decision
from autoscaler.core.pause import Pause

__all__ = ["hold_for_pause"]


def hold_for_pause(decision: Decision, pause: Pause | None) -> Decision:
    """`decision` held at its current count by `pause`; unchanged when there is no pause."""
    if pause is None:
        return decision
    current, would = decision.current, decision.desired
    clamps, notes = decision.clamps, decision.notes
    if would == current:
        notes = (*notes, f"{pause.describe()}: nothing would change now, and nothing is written")
    else:
        clamps = (
            *clamps,
            Clamp(
                Rule.PAUSED,
                would,
                current,
                lambda: f"{pause.describe()}: would go {current} -> {would}; nothing is written",
            ),
        )
    return replace(
        decision, desired=current, code=Hold.PAUSED, cause=Cause.NONE, clamps=clamps, notes=notes, pause=pause
    )
