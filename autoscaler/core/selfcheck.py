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
are kept in a fixed-size ring (one float per bucket, like the load history).
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

    __slots__ = ("_factor", "_newest", "_pending", "_ratios", "bucket", "loads", "slots")

    def __init__(self, *, lookback: timedelta, bucket: timedelta) -> None:
        if bucket <= timedelta(0) or lookback < bucket:
            raise ValueError("the bucket must be positive and the lookback at least one bucket")
        self.bucket = bucket.total_seconds()
        self.slots = math.ceil(lookback / bucket)
        self._ratios = array("d", [_NAN]) * self.slots
        self._newest: int | None = None  # the bucket of the newest forecast taken for checking
        # windows not yet over: [bucket, start, end, forecast load, highest load measured (NaN: none)]
        self._pending: list[list[float]] = []
        self._factor: tuple[float, int] | None = None  # cached until a window is checked
        self.loads = 0  # the history's bulk loads already backfilled (`LoadHistory.loads`)

    def advance(self, index: int) -> None:
        """Make bucket `index` the newest (if it is newer): the slots of the buckets it skips held
        ratios of a lookback ago, and are cleared."""
        newest = self._newest
        if newest is not None and index <= newest:
            return
        slots, ratios = self.slots, self._ratios
        start = index - slots + 1 if newest is None else max(newest + 1, index - slots + 1)
        for skipped in range(start, index + 1):
            ratios[skipped % slots] = _NAN
        self._newest = index
        self._factor = None

    def backfilled(self, index: int, ratio: float) -> None:
        """The ratio of bucket `index` checked on history, unless it was checked live."""
        newest = self._newest
        slot = index % self.slots
        if newest is not None and 0 <= newest - index < self.slots and math.isnan(self._ratios[slot]):
            self._ratios[slot] = ratio
            self._factor = None

    def forecast_made(self, *, at: float, horizon: float, load: float) -> None:
        """A forecast whose base is `load` over [at, at + horizon]: the first of each bucket is checked
        later."""
        index = math.floor(at / self.bucket)
        if self._newest is not None and index <= self._newest:
            return
        self.advance(index)
        if load > 0 and math.isfinite(load):
            self._pending.append([float(index), at, at + horizon, load, _NAN])

    def measured(self, *, at: float, load: float | None) -> None:
        """A load measured at `at` (None: nothing trusted was measured): it counts for every window it
        falls in; the windows over before `at` are checked."""
        pending = self._pending
        over = False
        for window in pending:
            if at > window[2]:
                over = True
            elif load is not None and window[1] <= at and not (window[4] >= load):
                window[4] = load  # NaN (nothing yet) or higher
        if over:
            for window in pending:
                if at > window[2]:
                    self._check(window)
            self._pending = [window for window in pending if at <= window[2]]

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
        self._factor = None

    def factor(self) -> tuple[float, int]:
        """(factor, checked windows): `CHECK_QUANTILE` of the ratios within the lookback, at most 1;
        0 while fewer than `CHECK_MIN_WINDOWS` windows are checked."""
        cached = self._factor
        if cached is not None:
            return cached
        ratios = [ratio for ratio in self._ratios if not math.isnan(ratio)]
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
    check.advance(newest)
    for first in range(newest - min(check.slots, history.slots) + 1, newest - span + 1):
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
        check.backfilled(first, max(found) / forecast.base)
