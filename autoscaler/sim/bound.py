"""The start-up-aware lower bound of cost: what perfect foresight costs when instances take time.

The `oracle` baseline follows the demand with no start-up delay, a limit no scaler can approach when
instances take a minute or more to become ready. The tighter limit: an instance that serves at time
u must have been requested at u - startup or earlier and kept requested until u, and a scaler acts
only at ticks. So at each tick t the requested count must cover the highest demand of
[t, t + startup + tick): instances for [t, t + startup) were requested before t and cannot be let go,
and those for [t + startup, t + startup + tick) have no later tick to be requested at. The bound holds
that count over [t, t + tick) and counts the instance-hours over [warmup, end of trace), in the fleet
model's terms (`needed_instances`, demand constant within each trace interval).
"""

from __future__ import annotations

from autoscaler.sim.model import needed_instances, to_ms
from autoscaler.sim.trace import Trace


def startup_aware_bound(*, trace: Trace, capacity: float, startup: float, tick: float, warmup: float = 0.0) -> float:
    """Instance-hours of the start-up-aware perfect-foresight scaler (see the module docstring)."""
    if capacity <= 0 or tick <= 0 or startup < 0 or warmup < 0:
        raise ValueError("capacity and tick must be positive, startup and warmup 0 or more")
    needed = [needed_instances(rate, capacity) for rate in trace.rates]
    interval_ms = to_ms(trace.interval)
    end_ms = interval_ms * len(needed)
    tick_ms, horizon_ms, warmup_ms = to_ms(tick), to_ms(startup + tick), to_ms(warmup)
    total_ms = 0
    at = 0
    while at < end_ms:
        first = at // interval_ms
        last = (min(at + horizon_ms, end_ms) - 1) // interval_ms
        count = max(needed[first : last + 1])
        held = min(at + tick_ms, end_ms) - max(at, warmup_ms)
        if held > 0:
            total_ms += count * held
        at += tick_ms
    return total_ms / 3_600_000.0
