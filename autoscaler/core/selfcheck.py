"""The forecast's self-check: a forecast acts only at the level its own past forecasts proved.

A seasonal forecast is the busiest the same window looked on previous days (`core.forecast`). Where
load follows the clock, that is what the next minutes need; where it does not (a quiet night whose
previous nights had a burst or two, load that follows events), it is a floor paid for every minute
it is above what was needed, and a reactive policy would have done as well without it.

So every forecast is checked against what then happened, on the app's own measurements: for each
bucket, the first agreed forecast made in it (its base: the quantile of the previous periods, before
the margin) is kept until its window [at, at + horizon] has passed, with the highest load measured in
that window (a saturated average counts with the load it shows: the load was at least that). The
window's *ratio* is that highest load over the base; the ratios of the windows within the lookback
are kept in a fixed-size ring (one float and one bucket id per bucket, like the load history).
History loaded in bulk is checked at once (`backfill`): each of its buckets against the forecast it
would have had, from the buckets before it.

The checked forecast is the base times `CHECK_QUANTILE` (0.1) of those ratios (at most 1), then the
margin: a level the load reached in 90 % of the checked windows. Where the forecast has proven
itself (the days repeat), the ratios are near 1 and it is unchanged; where it overshoots, the ratios
are low and the checked forecast stays under the metrics' proposal, so it does not act. Until
`CHECK_MIN_WINDOWS` windows have been checked, the factor is 0: a forecast that has not yet been
compared with anything never acts. The check never raises a forecast.

Pure arithmetic on what it is given: no clock, no I/O; memory per metric is fixed.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import replace
from datetime import timedelta

from autoscaler.core.forecast import CHECK_MIN_WINDOWS, CHECK_QUANTILE, MAX_HORIZON, LoadForecast, LoadHistory, quantile
from autoscaler.core.units import EPSILON

_NAN = math.nan


class ForecastCheck:
    """The checked windows of one metric's forecasts, and the factor they allow.

    Mutable on purpose, like `LoadHistory`: the forecaster that owns it tells it each forecast made
    (`forecast_made`) and each load measured (`measured`), and asks for the factor (`factor`).
    Times are seconds since the epoch.
    """

    __slots__ = ("_factor", "_ids", "_newest", "_pending", "_ratios", "bucket", "loads", "slots")

    def __init__(self, *, lookback: timedelta, bucket: timedelta) -> None:
        if bucket <= timedelta(0) or lookback < bucket:
            raise ValueError("the bucket must be positive and the lookback at least one bucket")
        self.bucket = bucket.total_seconds()
        self.slots = math.ceil(lookback / bucket)
        self._ratios = array("d", [_NAN]) * self.slots
        self._ids = array("q", [-1]) * self.slots  # the bucket each ratio is of (a slot is reused)
        self._newest: int | None = None  # the bucket of the newest forecast taken for checking
        # windows not yet over: [bucket, start, end, forecast load, highest load measured (NaN: none)]
        self._pending: list[list[float]] = []
        self._factor: tuple[float, int] | None = None  # cached until a window is checked
        self.loads = 0  # the history's bulk loads already backfilled (`LoadHistory.loads`)

    def newest_at_least(self, index: int) -> None:
        if self._newest is None or index > self._newest:
            self._newest = index
        self._factor = None

    def forecast_made(self, *, at: float, horizon: float, load: float) -> None:
        """A forecast whose base is `load` over [at, at + horizon]: the first of each bucket is checked
        later."""
        index = math.floor(at / self.bucket)
        if self._newest is not None and index <= self._newest:
            return
        self._newest = index
        if load > 0 and math.isfinite(load):
            self._pending.append([float(index), at, at + horizon, load, _NAN])

    def measured(self, *, at: float, load: float | None) -> None:
        """A load measured at `at` (None: nothing trusted was measured): it counts for every window it
        falls in; the windows over before `at` are checked."""
        still: list[list[float]] = []
        for window in self._pending:
            if at > window[2]:
                self._check(window)
                continue
            if load is not None and window[1] <= at and not (window[4] >= load):
                window[4] = load  # NaN (nothing yet) or higher
            still.append(window)
        self._pending = still

    def _check(self, window: list[float]) -> None:
        highest = window[4]
        if math.isnan(highest):
            return  # nothing was measured in the window: it says nothing
        index = int(window[0])
        slots = self.slots
        newest = self._newest if self._newest is not None else index
        if newest - index >= slots:
            return
        self._ratios[index % slots] = highest / window[3]
        self._ids[index % slots] = index
        self._factor = None

    def factor(self) -> tuple[float, int]:
        """(factor, checked windows): `CHECK_QUANTILE` of the ratios within the lookback, at most 1;
        0 while fewer than `CHECK_MIN_WINDOWS` windows are checked."""
        cached = self._factor
        if cached is not None:
            return cached
        newest = self._newest
        ratios: list[float] = []
        if newest is not None:
            values, ids, slots = self._ratios, self._ids, self.slots
            for index in range(newest - slots + 1, newest + 1):
                if ids[index % slots] == index:
                    ratios.append(values[index % slots])
        count = len(ratios)
        found = (min(1.0, quantile(ratios, CHECK_QUANTILE)), count) if count >= CHECK_MIN_WINDOWS else (0.0, count)
        self._factor = found
        return found


def checked(forecast: LoadForecast, *, factor: float, windows: int) -> LoadForecast:
    """`forecast` at the level its self-check allows: its base times `factor` (at most 1), then the
    margin."""
    factor = min(1.0, max(0.0, factor))
    load = forecast.base * factor * (1.0 + forecast.margin)
    proposal = max(0, math.ceil(load / forecast.target - EPSILON))
    return replace(forecast, load=load, proposal=proposal, check=factor, checked=windows)


def backfill(  # noqa: PLR0913  the forecast's settings, passed on to the history by keyword
    check: ForecastCheck,
    history: LoadHistory,
    *,
    target: float,
    horizon: timedelta,
    period: timedelta,
    lookback: timedelta,
    q: float,
    margin: float,
    max_spread: float,
) -> None:
    """Check, on the history already there (loaded from the metric source), the forecast each of its
    buckets would have had from the periods before it in the history (as few as one: a history loaded
    over the lookback has fewer than `min_samples` periods before most of its buckets): its base against
    the highest load of its window's buckets. Buckets already checked live keep their ratio."""
    newest = history.newest
    if newest is None:
        return
    span = math.floor(min(horizon, MAX_HORIZON).total_seconds() / history.bucket)
    ids, ratios, slots = check._ids, check._ratios, check.slots
    for first in range(newest - min(slots, history.slots) + 1, newest - span + 1):
        slot = first % slots
        if ids[slot] == first:
            continue
        found = [value for index in range(first, first + span + 1) if (value := history.get(index)) is not None]
        if not found:
            continue
        forecast = history.compute(
            metric="",
            target=target,
            first=first,
            last=first + span,
            horizon=horizon,
            period=period,
            lookback=lookback,
            q=q,
            margin=margin,
            min_samples=1,
            max_spread=max_spread,
        )
        if forecast is None or not forecast.agreed or forecast.base <= 0:
            continue
        ratios[slot] = max(found) / forecast.base
        ids[slot] = first
    check.newest_at_least(newest)
