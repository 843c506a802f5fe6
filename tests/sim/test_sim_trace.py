"""Reading trace CSVs: the grid, the gap rule, windows, and errors that name the file and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoscaler.sim.trace import TraceError, load_trace, parse_trace


def test_interval_is_inferred_and_values_are_counts_per_interval() -> None:
    trace = parse_trace("timestamp,value\n2024-01-01T00:00:00Z,120\n2024-01-01T00:01:00Z,60\n")
    assert trace.interval == 60.0
    assert trace.values == (120.0, 60.0)
    assert trace.rates == (2.0, 1.0)  # 120 requests in 60 s is 2 req/s
    assert trace.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert trace.peak_rate == 2.0


def test_gaps_are_carried_by_default_and_zero_on_request() -> None:
    # 5-minute grid with the 00:05 point missing (a 10-minute step), as in the AWS ELB trace
    text = "timestamp,value\n2024-01-01T00:00:00Z,10\n2024-01-01T00:05:00Z,30\n2024-01-01T00:15:00Z,20\n"
    carried = parse_trace(text)
    assert carried.interval == 300.0
    assert carried.values == (10.0, 30.0, 30.0, 20.0)
    assert carried.filled == 1
    zero = parse_trace(text, gaps="zero")
    assert zero.values == (10.0, 30.0, 0.0, 20.0)


def test_timestamps_without_offset_are_utc() -> None:
    trace = parse_trace("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:00:15,2\n")
    assert trace.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert trace.interval == 15.0


def test_window_keeps_the_intervals_that_start_inside_it() -> None:
    text = "timestamp,value\n" + "".join(f"2024-01-01T00:0{i}:00Z,{i + 1}\n" for i in range(6))
    trace = parse_trace(text).window(datetime(2024, 1, 1, 0, 2, tzinfo=UTC), datetime(2024, 1, 1, 0, 4, tzinfo=UTC))
    assert trace.values == (3.0, 4.0)
    assert trace.start == datetime(2024, 1, 1, 0, 2, tzinfo=UTC)
    with pytest.raises(TraceError, match="no interval"):
        parse_trace(text).window(datetime(2025, 1, 1, tzinfo=UTC), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r":1: empty file"),
        ("time,count\n2024-01-01T00:00:00Z,1\n", r":1: expected the header"),
        ("timestamp,value\n", "no data rows"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\n", "at least 2 rows"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\nyesterday,2\n", r":3: 'yesterday' is not an ISO-8601"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,many\n", r":3: 'many' is not a number"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,-4\n", r":3: the value must be"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,nan\n", r":3: the value must be"),
        ("timestamp,value\n2024-01-01T00:01:00Z,1\n2024-01-01T00:00:00Z,1\n", r":3: .* is not after"),
        ("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1,7\n", r":3: expected 2 columns"),
        (
            "timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,1\n"
            "2024-01-01T00:02:00Z,1\n2024-01-01T00:02:30Z,1\n",
            r":5: timestamp is off the 60 s grid",
        ),
        ("timestamp,value\n2024-01-01T00:00:00Z,0\n2024-01-01T00:01:00Z,0\n", "every value is 0"),
    ],
)
def test_bad_files_are_rejected_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(TraceError, match=message) as caught:
        parse_trace(text, name="bad.csv")
    assert str(caught.value).startswith("bad.csv")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "absent.csv")


def test_load_trace_reads_a_file_and_cuts_a_window(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,value\n2024-01-01T00:00:00Z,60\n2024-01-01T00:01:00Z,120\n2024-01-01T00:02:00Z,180\n")
    trace = load_trace(path, start=datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    assert trace.values == (120.0, 180.0)
    assert trace.name == str(path)
