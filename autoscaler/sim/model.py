"""The fleet model of the simulator: how instances, demand and the metrics a scaler sees evolve.

One model for every scaler (our engine and the baselines), so their results are comparable, here and
in any other tool that implements the same rules:

- Time advances in ticks of the loop interval (default 15 s). Demand is constant within each trace
  interval: requests/s = value / interval seconds.
- Each instance serves `capacity` requests/s. The runner sets capacity so that the trace's peak
  needs `peak_instances` instances at 100 % (capacity = peak rate / peak_instances).
- Instances requested at time t become ready at t + startup (default 60 s). Scale-down is immediate:
  pending (not yet ready) instances are cancelled first, the most recently requested first, then
  ready ones.
- Requested instances (starting or ready) cost money; only ready instances serve. The model
  remembers when the instances that became ready within the last metric window did, so a scaler
  can tell them from those whose metric window is all theirs (`recently_ready`); on the way down
  the most recently ready go first (as a ReplicaSet deletes the pods ready for the shortest time).
- The CPU metric a scaler sees is the utilisation of the READY instances,
  demand / (ready x capacity), capped at 1.0 (a saturated fleet cannot show how overloaded it is;
  with no ready instance it is 1.0 under any load, 0.0 without), averaged over the last 60 s
  (time-weighted). Before the trace starts the fleet is taken to have been in its initial state under
  the first interval's demand, so the first tick already has a full window.
- Queue view: the same arrivals also enter a queue that every ready instance drains at `capacity`
  per second; the backlog (requests waiting) at the tick is what a per-instance (queue-depth) metric
  sees. The queue is a second view of the same fleet: it does not feed back into the CPU metric and
  does not change the accounting below, which counts demand above ready capacity as unserved.
- Deployments are not modelled: a scale action takes effect at once (the engine sees no deployment
  in progress); only instance startup delays capacity.

Accounting, over [warmup, end of trace) (and over the whole trace: `whole_accounting`), integrated
exactly between events (ticks, trace interval boundaries, instances becoming ready):
- instance-hours: requested instances (starting or ready) integrated over time;
- unserved requests: demand above ready capacity, integrated; reported in % of all requests;
- overloaded time: time with demand above ready capacity;
- scale actions: ticks at which the requested count changed;
- queue view: the largest backlog and the mean wait (backlog integrated over time / requests).

Times are kept in integer milliseconds so that ticks, startup delays and interval boundaries that
coincide on paper also coincide in the arithmetic.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from autoscaler.sim.trace import Trace

# Demand above ready capacity by less than this share is rounding, not overload.
_OVERLOAD_SLACK = 1e-9


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def needed_instances(rate: float, capacity: float) -> int:
    """Instances that serve `rate` requests/s at 100 %: ceil(rate / capacity)."""
    return max(0, math.ceil(rate / capacity - _OVERLOAD_SLACK))


def utilisation(rate: float, ready: int, capacity: float) -> float:
    """The CPU metric before averaging: demand over ready capacity, capped at 1.0."""
    if ready <= 0:
        return 1.0 if rate > 0 else 0.0
    return min(1.0, rate / (ready * capacity))


@dataclass(frozen=True)
class Accounting:
    """The totals of one run (see the module docstring for what each counts)."""

    instance_hours: float
    total_requests: float
    unserved_requests: float
    overload_seconds: float
    scale_actions: int
    peak_backlog: float
    backlog_request_seconds: float

    @property
    def unserved_pct(self) -> float:
        return 100.0 * self.unserved_requests / self.total_requests if self.total_requests > 0 else 0.0

    @property
    def overload_minutes(self) -> float:
        return self.overload_seconds / 60.0

    @property
    def mean_wait_seconds(self) -> float:
        """Mean time a request waits in the queue view (Little's law: backlog integral / requests)."""
        return self.backlog_request_seconds / self.total_requests if self.total_requests > 0 else 0.0


class FleetModel:
    """The state of one simulated app: ready and pending instances, the metric window, the queue.

    Mutable on purpose (it is the simulation's working state, advanced once per tick); its results
    come out as a frozen Accounting.
    """

    def __init__(
        self,
        trace: Trace,
        *,
        capacity: float,
        initial: int,
        startup: float = 60.0,
        metric_window: float = 60.0,
        warmup: float = 0.0,
        follow_demand: bool = False,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        if startup < 0 or metric_window <= 0 or warmup < 0:
            raise ValueError("startup and warmup must be 0 or more, and the metric window positive")
        self.capacity = capacity
        self.rates = trace.rates
        self.interval_ms = to_ms(trace.interval)
        self.end_ms = self.interval_ms * len(self.rates)
        self.startup_ms = to_ms(startup)
        self.window_ms = to_ms(metric_window)
        self.warmup_ms = to_ms(warmup)
        # Oracle mode: ready = requested = ceil(demand / capacity) at every instant, no startup.
        self.follow_demand = follow_demand
        self.now_ms = 0
        self.ready = initial
        self.pending: deque[list[int]] = deque()  # [ready_at_ms, count], in request order
        self.requested = initial
        self._recent: deque[list[int]] = deque()  # [ready_at_ms, count] of recently ready, oldest first
        first_util = utilisation(self.rates[0], initial, capacity)
        # (segment start, segment end, utilisation) of the recent past, oldest first
        self._window: deque[tuple[int, int, float]] = deque([(-self.window_ms, 0, first_util)])
        self.backlog = 0.0
        self._instance_seconds = 0.0
        self._requests = 0.0
        self._unserved = 0.0
        self._overload_s = 0.0
        self._actions = 0
        self._peak_backlog = 0.0
        self._backlog_integral = 0.0
        # the same totals over the whole trace, warm-up included: (instance-seconds, requests,
        # unserved requests, overload seconds), and the scale actions
        self._whole = [0.0, 0.0, 0.0, 0.0]
        self._whole_actions = 0

    # -- what a scaler sees ------------------------------------------------------------------
    def rate_at(self, at_ms: int) -> float:
        index = min(at_ms // self.interval_ms, len(self.rates) - 1)
        return self.rates[index]

    def cpu(self) -> float:
        """The CPU metric now: utilisation of ready instances averaged over the metric window."""
        since = self.now_ms - self.window_ms
        window = self._window
        while window and window[0][1] <= since:
            window.popleft()
        total = 0.0
        for start, end, util in window:
            total += util * (end - max(start, since))
        return total / self.window_ms

    # -- actions ---------------------------------------------------------------------------------
    def scale_to(self, desired: int) -> None:
        """Request `desired` instances now (pending ones are cancelled first on the way down)."""
        if desired < 0:
            raise ValueError(f"cannot request {desired} instances")
        change = desired - self.requested
        if change == 0:
            return
        self._whole_actions += 1
        if self.now_ms >= self.warmup_ms:
            self._actions += 1
        self.requested = desired
        if change > 0:
            if self.startup_ms == 0 or self.follow_demand:
                self.ready += change
                if not self.follow_demand:
                    self._recent.append([self.now_ms, change])
            else:
                self.pending.append([self.now_ms + self.startup_ms, change])
            return
        cancel = -change
        while cancel and self.pending:
            newest = self.pending[-1]
            taken = min(cancel, newest[1])
            newest[1] -= taken
            cancel -= taken
            if newest[1] == 0:
                self.pending.pop()
        self.ready -= cancel
        recent = self._recent
        while cancel and recent:
            newest = recent[-1]
            taken = min(cancel, newest[1])
            newest[1] -= taken
            cancel -= taken
            if newest[1] == 0:
                recent.pop()

    def recently_ready(self) -> tuple[tuple[int, int], ...]:
        """(ready_at_ms, count) of the ready instances that became ready less than one metric window
        ago, oldest first."""
        recent = self._recent
        since = self.now_ms - self.window_ms
        while recent and recent[0][0] <= since:
            recent.popleft()
        return tuple((at, count) for at, count in recent)

    def advance(self, until_ms: int) -> None:
        """Let time run to `until_ms`, integrating the accounting over every constant segment."""
        until_ms = min(until_ms, self.end_ms)
        at = self.now_ms
        interval = self.interval_ms
        while at < until_ms:
            self._promote(at)
            index = at // interval
            rate = self.rates[index]
            if self.follow_demand:
                self.now_ms = at
                self.scale_to(needed_instances(rate, self.capacity))
            end = min(until_ms, (index + 1) * interval)
            if self.pending and self.pending[0][0] < end:
                end = self.pending[0][0]
            if at < self.warmup_ms < end:
                end = self.warmup_ms
            self._segment(at, end, rate)
            at = end
        self.now_ms = max(self.now_ms, until_ms)
        self._promote(self.now_ms)

    def _promote(self, at: int) -> None:
        pending = self.pending
        while pending and pending[0][0] <= at:
            ready_at, count = pending.popleft()
            self.ready += count
            self._recent.append([ready_at, count])
        recent = self._recent
        while recent and recent[0][0] <= at - self.window_ms:
            recent.popleft()

    def _segment(self, start: int, end: int, rate: float) -> None:
        seconds = (end - start) / 1000.0
        ready_rate = self.ready * self.capacity
        window = self._window
        while window and window[0][1] <= start - self.window_ms:
            window.popleft()
        window.append((start, end, utilisation(rate, self.ready, self.capacity)))
        # queue view: the backlog changes linearly at (arrivals - drain) until it empties
        backlog = self.backlog
        net = rate - ready_rate
        if net >= 0:
            after = backlog + net * seconds
            area = (backlog + after) / 2.0 * seconds
        else:
            empties = backlog / -net
            if empties >= seconds:
                after = backlog + net * seconds
                area = (backlog + after) / 2.0 * seconds
            else:
                after = 0.0
                area = backlog * empties / 2.0
        self.backlog = after
        instance_seconds = self.requested * seconds
        requests = rate * seconds
        overloaded = rate > ready_rate * (1.0 + _OVERLOAD_SLACK) and rate > 0
        unserved = (rate - ready_rate) * seconds if overloaded else 0.0
        whole = self._whole
        whole[0] += instance_seconds
        whole[1] += requests
        if overloaded:
            whole[2] += unserved
            whole[3] += seconds
        if start >= self.warmup_ms:
            self._instance_seconds += instance_seconds
            self._requests += requests
            if overloaded:
                self._unserved += unserved
                self._overload_s += seconds
            self._backlog_integral += area
            self._peak_backlog = max(self._peak_backlog, after)

    def accounting(self) -> Accounting:
        return Accounting(
            instance_hours=self._instance_seconds / 3600.0,
            total_requests=self._requests,
            unserved_requests=self._unserved,
            overload_seconds=self._overload_s,
            scale_actions=self._actions,
            peak_backlog=self._peak_backlog,
            backlog_request_seconds=self._backlog_integral,
        )

    def whole_accounting(self) -> Accounting:
        """The totals over the whole trace, the warm-up included (the queue view is not kept)."""
        instance_seconds, requests, unserved, overload = self._whole
        return Accounting(
            instance_hours=instance_seconds / 3600.0,
            total_requests=requests,
            unserved_requests=unserved,
            overload_seconds=overload,
            scale_actions=self._whole_actions,
            peak_backlog=0.0,
            backlog_request_seconds=0.0,
        )
