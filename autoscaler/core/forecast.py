"""Seasonal forecast of one app's load: what the same time of day looked like on previous days.

Pure arithmetic over a bounded history; no clock, no I/O. The caller (the live loop, the simulator,
backtest) owns one `LoadHistory` per metric of each app, adds every trusted load measurement to it
(`load_of` says which measurements are trusted), and asks `forecast()` for the load expected over the
next `horizon` (the start-up time plus one tick: what instances requested now must be ready for).

The load of a metric is in the units its target divides:

- `target_average` (CPU utilisation): value x ready instances, the load in instance units (4 ready
  instances at 0.9 carry 3.6 instances' worth of work). A saturated value (at or above the metric's
  `saturation`) only says the load is at least that high, so it is not recorded at all.
- `target_per_instance` (queue depth): the value itself, a total for the app.

Either way the proposal is ceil(load / target), as for the reactive proposal.

A saturated measurement is not a load, but it says the load was higher than the fleet could show:
its bucket is marked. When a window of a previous period holds a marked bucket, the first later bucket
with a trusted load (within SATURATION_LOOKAHEAD) stands in for it: the load the fleet measured once it
had caught up. Without this, the first minutes of every daily peak, which a reactive fleet meets
saturated, would never be forecast.

The history is bucketed (default 5 minutes) and keeps the highest load seen in each bucket, in a
ring that spans the lookback plus the longest horizon: memory per metric is fixed (7 days of 5-minute
buckets are 2,041 floats, 16 KiB) whatever the tick or the age of the process. For each previous
period (day, or week with `period: 7d`) within the lookback, the forecast takes the highest bucket
that overlaps [now, now + horizon] shifted back by that many periods: one sample per period. The
forecast load is the `quantile` of those samples (a robust statistic: one unusual day does not move
it as it would move a mean or a maximum) raised by `margin`. Fewer than `min_samples` periods with
data means "no forecast yet" (None), never an error.

A forecast is only as good as the periods agree. Its `spread` is (q0.9 - q0.1) / q0.9 of the samples:
0 when every day looked the same, near 1 when some days were quiet and others busy at that time.
Above `max_spread` the forecast is still computed and shown, but `agreed` is False and the engine does
not act on it: load that follows events rather than the clock (a match, a release) would otherwise
hold last week's busiest day as a floor on every day.

The answer changes only when the window [now, now + horizon] reaches another bucket, or when
history is loaded in bulk, so each history caches its last answer: over thousands of apps a tick
computes a forecast for an app at most once per bucket.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from autoscaler.core.units import EPSILON

DEFAULT_BUCKET = timedelta(minutes=5)
DEFAULT_LOOKBACK = timedelta(days=7)
DEFAULT_PERIOD = timedelta(days=1)
DEFAULT_QUANTILE = 0.9
DEFAULT_MARGIN = 0.1
DEFAULT_MIN_SAMPLES = 3
# The forecast acts only when the previous periods agree: their spread, (q0.9 - q0.1) / q0.9 of the
# samples, is at most this. Where days differ (load that follows events, not the clock), the same time
# yesterday says little about the next minutes, and a floor built from it is paid for all day.
DEFAULT_MAX_SPREAD = 0.25
SPREAD_LOW = 0.1
SPREAD_HIGH = 0.9
# The self-check (`core.selfcheck`): a forecast acts at most at the level the load reached in
# (1 - CHECK_QUANTILE) of its checked windows, and not before CHECK_MIN_WINDOWS are checked (one per
# bucket: an hour of 5-minute buckets).
CHECK_QUANTILE = 0.1
CHECK_MIN_WINDOWS = 12
# A `target_average` value at or above this is a utilisation at its cap: not a load measurement.
DEFAULT_SATURATION = 1.0
# The longest horizon a history is built for: start-up time plus one tick beyond this is not a
# forecast any instance needs (and would make every history bigger).
MAX_HORIZON = timedelta(hours=1)
# How far past a saturated bucket the forecast looks for the load that was measured once the fleet had
# caught up.
SATURATION_LOOKAHEAD = timedelta(minutes=30)

_NAN = math.nan
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seconds_of(at: datetime) -> float:
    return (at - _EPOCH).total_seconds() if at.tzinfo is not None else at.timestamp()


@dataclass(frozen=True, slots=True)
class LoadForecast:
    """The numbers of one metric's forecast, for the Decision, `explain` and the status API.

    `samples`: the highest load in the window on each previous period with data, newest first;
    `load`: their `quantile`, raised by `margin`; `proposal`: ceil(load / target); `spread`: how much
    the periods disagree, (q0.9 - q0.1) / q0.9 of the samples; `agreed`: spread <= `max_spread`
    (only an agreed forecast may act).
    """

    metric: str
    horizon: timedelta
    samples: tuple[float, ...]
    quantile: float
    margin: float
    base: float  # the quantile of the samples, before the margin
    load: float
    target: float
    proposal: int
    spread: float = 0.0
    max_spread: float = DEFAULT_MAX_SPREAD
    # the self-check (`core.selfcheck`): the factor it allowed the base, the windows checked (None: not
    # checked, as when a history is asked directly)
    check: float | None = None
    checked: int = 0

    @property
    def agreed(self) -> bool:
        return self.spread <= self.max_spread + EPSILON

    def describe(self) -> str:
        agreement = (
            f"periods agree (spread {self.spread * 100:.0f}% <= {self.max_spread * 100:g}%)"
            if self.agreed
            else f"periods disagree (spread {self.spread * 100:.0f}% > {self.max_spread * 100:g}%): does not act"
        )
        return (
            f"forecast {self.metric}: {len(self.samples)} previous periods over the next "
            f"{self.horizon.total_seconds():.0f}s, q{self.quantile:g} = {self.base:.2f}{self._checked()} "
            f"+ {self.margin * 100:g}% = {self.load:.2f} / {self.target:g} = "
            f"{self.load / self.target:.2f}, proposes {self.proposal}; {agreement}"
        )

    def _checked(self) -> str:
        if self.check is None:
            return ""
        if self.checked < CHECK_MIN_WINDOWS:
            return f" x 0 (self-check: {self.checked} of {CHECK_MIN_WINDOWS} windows checked)"
        return (
            f" x {self.check:.2f} (self-check: the load reached that share of the forecast in "
            f"{(1 - CHECK_QUANTILE) * 100:g}% of {self.checked} checked windows)"
        )


def spread_of(samples: list[float]) -> float:
    """How much the periods disagree: (q0.9 - q0.1) / q0.9 of `samples` (0 when q0.9 is 0)."""
    high = quantile(list(samples), SPREAD_HIGH)
    if high <= 0:
        return 0.0
    return max(0.0, (high - quantile(list(samples), SPREAD_LOW)) / high)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of `values` with linear interpolation between the closest ranks (values sorted
    in place). q = 0.5 is the median; q = 1 the maximum."""
    values.sort()
    if not values:
        raise ValueError("the quantile of nothing")
    position = q * (len(values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


class LoadHistory:
    """The highest load of each bucket over the lookback: a fixed-size ring of floats.

    Mutable on purpose (a copy per tick of 2,000 floats for each of thousands of apps would cost more
    than the decision): the caller that owns it adds to it after each decision and reads forecasts
    from it; the engine only reads. Points may arrive out of order (history loaded in bulk after the
    loop started): a point older than the ring is dropped, a newer one clears the buckets it skips.
    """

    __slots__ = ("_cache", "_newest", "_saturated", "_values", "bucket", "loads", "lookback", "slots", "version")

    def __init__(self, *, lookback: timedelta = DEFAULT_LOOKBACK, bucket: timedelta = DEFAULT_BUCKET) -> None:
        if bucket <= timedelta(0) or lookback < bucket:
            raise ValueError("the bucket must be positive and the lookback at least one bucket")
        self.bucket = bucket.total_seconds()
        self.lookback = lookback
        self.slots = math.ceil((lookback + MAX_HORIZON + SATURATION_LOOKAHEAD) / bucket) + 2
        self._values = array("d", [_NAN]) * self.slots
        self._saturated = bytearray(self.slots)
        self._newest: int | None = None  # id of the newest bucket written
        self.version = 0  # bumped whenever a bucket a forecast may read changes
        self.loads = 0  # how many times history was loaded in bulk (`load`)
        self._cache: tuple[tuple[object, ...], LoadForecast | None] | None = None

    def bucket_of(self, at: datetime) -> int:
        return math.floor(seconds_of(at) / self.bucket)

    def _advance(self, index: int) -> bool:
        """Make `index` writable: clear the buckets a newer index skips. False: older than the ring."""
        newest = self._newest
        values = self._values
        saturated = self._saturated
        slots = self.slots
        if newest is None or index > newest:
            start = index - slots + 1 if newest is None or index - newest >= slots else newest + 1
            for skipped in range(max(start, index - slots + 1), index + 1):
                values[skipped % slots] = _NAN
                saturated[skipped % slots] = 0
            self._newest = index
            return True
        return newest - index < slots

    def mark_saturated(self, at: datetime) -> None:
        """A saturated measurement at `at`: the load then was more than the fleet could show."""
        index = self.bucket_of(at)
        if not self._advance(index):
            return
        slot = index % self.slots
        if not self._saturated[slot]:
            self._saturated[slot] = 1
            assert self._newest is not None
            if index < self._newest:
                self.version += 1

    def add(self, at: datetime, load: float) -> None:
        """Record one load measurement (ignored when negative or not finite)."""
        if not (load >= 0 and math.isfinite(load)):
            return
        index = self.bucket_of(at)
        if not self._advance(index):
            return  # older than anything kept
        newest = self._newest
        assert newest is not None
        values = self._values
        slot = index % self.slots
        old = values[slot]
        if math.isnan(old) or load > old:  # NaN (empty) or higher
            values[slot] = load
            if index < newest:
                self.version += 1  # an older bucket changed: forecasts may read it

    def load(self, points: list[tuple[datetime, float]]) -> None:
        """Add many points at once (history from the metric source), in time order."""
        for at, value in sorted(points, key=lambda point: point[0]):
            self.add(at, value)
        self.version += 1
        self.loads += 1

    @property
    def newest(self) -> int | None:
        """The newest bucket written (None: nothing yet)."""
        return self._newest

    def saturated(self, index: int) -> bool:
        newest = self._newest
        if newest is None or index > newest or newest - index >= self.slots:
            return False
        return bool(self._saturated[index % self.slots])

    def get(self, index: int) -> float | None:
        """The highest load recorded in bucket `index`, or None."""
        newest = self._newest
        if newest is None or index > newest or newest - index >= self.slots:
            return None
        value = self._values[index % self.slots]
        return None if math.isnan(value) else value

    def __len__(self) -> int:
        """How many buckets hold a load."""
        return sum(1 for value in self._values if not math.isnan(value))

    def forecast(  # noqa: PLR0913  the predictive block's settings, each by keyword with its documented default
        self,
        *,
        metric: str,
        target: float,
        now: datetime,
        horizon: timedelta,
        period: timedelta = DEFAULT_PERIOD,
        lookback: timedelta | None = None,
        q: float = DEFAULT_QUANTILE,
        margin: float = DEFAULT_MARGIN,
        min_samples: int = DEFAULT_MIN_SAMPLES,
        max_spread: float = DEFAULT_MAX_SPREAD,
    ) -> LoadForecast | None:
        """The load expected over [now, now + horizon] from previous periods, or None (not enough
        history yet). Cached until the window reaches another bucket or older history changes."""
        horizon = min(max(horizon, timedelta(0)), MAX_HORIZON)
        first = self.bucket_of(now)
        last = self.bucket_of(now + horizon)
        key = (first, last, self.version, metric, target, horizon, period, lookback, q, margin, min_samples, max_spread)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        result = self.compute(
            metric=metric,
            target=target,
            first=first,
            last=last,
            horizon=horizon,
            period=period,
            lookback=lookback or self.lookback,
            q=q,
            margin=margin,
            min_samples=min_samples,
            max_spread=max_spread,
        )
        self._cache = (key, result)
        return result

    def compute(  # noqa: PLR0913  forecast's settings passed on as they were given
        self,
        *,
        metric: str,
        target: float,
        first: int,
        last: int,
        horizon: timedelta,
        period: timedelta,
        lookback: timedelta,
        q: float,
        margin: float,
        min_samples: int,
        max_spread: float,
    ) -> LoadForecast | None:
        shift = round(period.total_seconds() / self.bucket)
        if shift <= 0:
            return None
        periods = int(min(lookback, self.lookback) / period + EPSILON)
        lookahead = round(SATURATION_LOOKAHEAD.total_seconds() / self.bucket)
        samples: list[float] = []
        for back in range(1, periods + 1):
            peak: float | None = None
            saturated = False
            end = last - back * shift
            for index in range(first - back * shift, end + 1):
                value = self.get(index)
                if value is not None and (peak is None or value > peak):
                    peak = value
                saturated = saturated or self.saturated(index)
            if saturated:  # the load the fleet measured once it had caught up stands in
                for index in range(end + 1, end + 1 + lookahead):
                    value = self.get(index)
                    if value is not None and not self.saturated(index):
                        peak = value if peak is None else max(peak, value)
                        break
            if peak is not None:
                samples.append(peak)
        if len(samples) < max(1, min_samples):
            return None
        ordered = tuple(samples)
        spread = spread_of(samples)
        base = quantile(samples, q)
        load = base * (1.0 + margin)
        proposal = max(0, math.ceil(load / target - EPSILON))
        return LoadForecast(
            metric=metric,
            horizon=horizon,
            samples=ordered,
            quantile=q,
            margin=margin,
            base=base,
            load=load,
            target=target,
            proposal=proposal,
            spread=spread,
            max_spread=max_spread,
        )


def load_of(
    value: float | None,
    *,
    kind: str,
    ready: int,
    target: float,
    saturation: float | None = DEFAULT_SATURATION,
) -> float | None:
    """The load one measurement represents, or None when it cannot be trusted as a measurement:
    missing, an average with no ready instance, or a saturated average (the true load is unknown)."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    if kind != "average":
        return value
    if ready <= 0:
        return None
    if saturation is not None and target < saturation and value >= saturation - EPSILON:
        return None
    return value * ready


@dataclass(frozen=True, slots=True)
class Outlook:
    """What the caller knows about one app's near future, for `decide`: the forecast of each metric
    that has one, and the lead for `lead: auto` (learned start-up time plus one tick; None: not
    learned yet)."""

    forecasts: tuple[LoadForecast, ...] = ()
    lead: timedelta | None = None

    @property
    def forecast(self) -> LoadForecast | None:
        """The forecast with the highest proposal."""
        return max(self.forecasts, key=lambda f: f.proposal) if self.forecasts else None


def is_saturated(
    value: float | None, *, kind: str, target: float, saturation: float | None = DEFAULT_SATURATION
) -> bool:
    """Whether a `target_average` value is a utilisation at its cap (the load was at least that high)."""
    return (
        kind == "average"
        and value is not None
        and saturation is not None
        and target < saturation
        and value >= saturation - EPSILON
    )
