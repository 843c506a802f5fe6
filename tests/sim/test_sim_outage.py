"""Parsing `--outage START..END` and blanking the metrics the scaler sees over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core.model import Observation
from autoscaler.sim.outage import REASON, Outage, blank, parse_outage

TRACE_START = datetime(1995, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("14h..15h", TRACE_START + timedelta(hours=14), TRACE_START + timedelta(hours=15)),
        (
            "1d13h30m..1d14h30m",
            TRACE_START + timedelta(days=1, hours=13.5),
            TRACE_START + timedelta(days=1, hours=14.5),
        ),
        (
            "1995-07-03T14:00..1995-07-03T15:00+00:00",
            datetime(1995, 7, 3, 14, tzinfo=UTC),
            datetime(1995, 7, 3, 15, tzinfo=UTC),
        ),
        (" 2h .. 1995-07-01T03:00Z", TRACE_START + timedelta(hours=2), datetime(1995, 7, 1, 3, tzinfo=UTC)),
    ],
)
def test_parses_offsets_and_times(text: str, start: datetime, end: datetime) -> None:
    assert parse_outage(text, trace_start=TRACE_START) == Outage(start, end)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("14h", "START..END"),
        ("1h..2h..3h", "START..END"),
        ("15h..14h", "ends"),
        ("2h..2h", "ends"),
        ("noon..2h", "neither an ISO-8601 time nor a duration"),
        ("14..15", "neither"),  # a bare number is no duration: hours or seconds?
    ],
)
def test_refuses_what_it_cannot_read(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_outage(text, trace_start=TRACE_START)


def test_blanks_every_metric_inside_the_outage_only() -> None:
    outage = Outage(TRACE_START + timedelta(hours=1), TRACE_START + timedelta(hours=2))
    seen = {"cpu": Observation(value=0.7, timestamp=TRACE_START), "queue": Observation(value=12.0)}
    assert blank(seen, at=outage.start - timedelta(seconds=1), outages=[outage]) == seen
    assert blank(seen, at=outage.end, outages=[outage]) == seen
    inside = blank(seen, at=outage.start, outages=[outage])
    assert set(inside) == {"cpu", "queue"}
    assert all(o.value is None and o.reason == REASON for o in inside.values())
