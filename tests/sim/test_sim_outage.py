"""Parsing `--outage START..END` and blanking the metrics the scaler sees over it."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from autoscaler.core.model import Observation
from autoscaler.core.policy import Policy
from autoscaler.sim.cli import add_simulate_parser
from autoscaler.sim.outage import REASON, Outage, blank, parse_outage
from autoscaler.sim.plot import render_svg, write_timeline_csv
from autoscaler.sim.runner import ScalerSpec, SimSetup, simulate
from autoscaler.sim.trace import parse_trace

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


# A load that doubles during the outage: 10 req/s for an hour, 20 req/s for the next.
RISING = "timestamp,value\n" + "".join(
    f"2024-01-01T{m // 60:02d}:{m % 60:02d}:00Z,{600 if m < 60 else 1200}\n" for m in range(120)
)
FALLBACK_POLICY = """\
app: /sim/app
min_instances: 1
max_instances: 50
metrics:
  - {name: cpu, source: prometheus, query: q, target_average: 0.6}
"""


def test_a_fallback_serves_the_load_that_rises_while_the_metrics_are_gone(tmp_path: Path) -> None:
    trace = parse_trace(RISING)
    outage = parse_outage("50m..110m", trace_start=trace.start)
    plain = Policy.model_validate(yaml.safe_load(FALLBACK_POLICY))
    fallback = Policy.model_validate({**yaml.safe_load(FALLBACK_POLICY), "fallback": {"after": "2m", "instances": 40}})
    held = simulate(trace, scaler=ScalerSpec(policy=plain, outages=(outage,)), setup=SimSetup(peak_instances=20))
    raised = simulate(trace, scaler=ScalerSpec(policy=fallback, outages=(outage,)), setup=SimSetup(peak_instances=20))
    unblanked = simulate(trace, scaler=ScalerSpec(policy=plain), setup=SimSetup(peak_instances=20))

    assert held.unserved_pct > raised.unserved_pct
    assert held.unserved_pct > unblanked.unserved_pct  # holding through a rise drops requests
    inside = [r for r in held.timeline if r.outage]
    assert inside and all(outage.covers(r.time) for r in inside)
    assert all(r.code == "missing_metrics" for r in inside)
    assert {r.desired for r in inside} == {inside[0].requested}  # it held
    lifted = [r for r in raised.timeline if r.outage and r.floor == 40]
    assert lifted and lifted[0].time == outage.start + timedelta(minutes=2)
    assert not [r for r in raised.timeline if r.outage and r.action == "down"]

    svg = render_svg(raised)
    assert 'class="outage"' in svg and 'class="floor"' in svg
    path = tmp_path / "timeline.csv"
    write_timeline_csv(raised, path)
    rows = list(csv.DictReader(path.open()))
    assert {row["outage"] for row in rows} == {"", "1"} and "40" in {row["floor"] for row in rows}


def test_the_command_takes_outages_and_refuses_them_for_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text(RISING)
    policy = tmp_path / "app.yaml"
    policy.write_text(FALLBACK_POLICY + "fallback: {after: 2m, instances: 40}\n")
    parser = argparse.ArgumentParser(prog="autoscaler")
    add_simulate_parser(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(["simulate", "--trace", str(trace), *argv])
        code: int = args.handler(args)
        return code

    assert run("--policy", str(policy), "--outage", "50m..110m", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outages"] == ["2024-01-01T00:50:00+00:00..2024-01-01T01:50:00+00:00"]
    assert run("--policy", str(policy), "--outage", "50m..110m") == 0
    assert "metrics outage: 2024-01-01T00:50:00+00:00..2024-01-01T01:50:00+00:00" in capsys.readouterr().out
    assert run("--baseline", "hpa", "--outage", "50m..110m") == 2
    assert "baselines read none" in capsys.readouterr().err
    assert run("--policy", str(policy), "--outage", "soon") == 2
    assert "START..END" in capsys.readouterr().err
