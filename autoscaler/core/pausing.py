"""The pause stage: the last word on a decision while a pause is in force. Pure.

Everything before it runs as usual (metrics, stabilisation, steps, cooldowns, windows, bounds), so
the decision still says what the app would do; this stage then keeps the count where it is, schedule
floors included, records the change it prevented as a clamp (`paused`, or a note naming the pause
when nothing would have changed), and ends the decision with the code `paused`, which carries the
pause itself (who, why, until). The recommendation is kept as computed, so stabilisation goes on
learning while the app is paused. It runs in `core.decide`'s `FINAL` stages.
"""

from __future__ import annotations

from autoscaler.core.codes import Hold, Rule
from autoscaler.core.stages import Draft

__all__ = ["hold_for_pause"]


def hold_for_pause(draft: Draft) -> None:
    pause = draft.pause
    if pause is None:
        return
    current, would = draft.current, draft.desired
    if would != current:
        draft.clamp(
            Rule.PAUSED, current, lambda: f"{pause.describe()}: would go {current} -> {would}; nothing is written"
        )
    else:
        draft.notes.append(f"{pause.describe()}: nothing would change now, and nothing is written")
    draft.stopped = Hold.PAUSED
