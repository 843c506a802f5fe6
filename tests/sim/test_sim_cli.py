"""`autoscaler simulate` through its handler: the JSON shape, the report, the files, the errors."""

from __future__ import annotations

import argparse
import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autoscaler.sim.cli import add_simulate_parser

TRACE = "timestamp,value\n" + "".join(f"2024-01-01T00:{m:02d}:00Z,{v}\n" for m, v in enumerate([60, 60, 300, 60]))


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="autoscaler")
    add_simulate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    code: int = args.handler(args)
    return code


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(TRACE)
    return path


def test_json_is_one_object_with_the_headline_numbers(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--trace", str(trace), "--baseline", "static", "--peak-instances", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("instance_hours", "unserved_pct", "overload_minutes", "scale_actions"):
        assert isinstance(data[key], int | float), key
    # peak 5 req/s over 5 instances; static keeps 5 for 4 minutes
    assert data["instance_hours"] == pytest.approx(5 * 240 / 3600)
    assert data["scale_actions"] == 0
    assert data["scaler"] == "static"


def test_report_and_out_directory(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run(["--trace", str(trace), "--target", "0.5", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "instance-hours" in report
    assert "target 0.5" in report
    with (out / "timeline.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 60 // 15  # one row per tick
    assert rows[0]["time"] == "2024-01-01T00:00:00+00:00"
    assert {row["action"] for row in rows} <= {"up", "down", "none"}
    root = ET.fromstring((out / "plot.svg").read_text())
    assert root.tag.endswith("svg")


def test_bad_csv_exits_2_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,lots\n")
    assert run(["--trace", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}:3" in captured.err


def test_policy_problems_are_printed_and_exit_2(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "api.yaml"
    policy.write_text("app: /shop/api\nmin_instances: 1\nmax_instance: 4\n")
    assert run(["--trace", str(trace), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert str(policy) in err
    assert "max_instance" in err


def test_policy_file_is_simulated(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "api.yaml"
    policy.write_text(
        "app: /shop/api\nmin_instances: 3\nmax_instances: 3\nmetrics:\n"
        "  - {name: cpu, source: prometheus, query: q, target_average: 0.5}\n"
    )
    assert run(["--trace", str(trace), "--policy", str(policy), "--peak-instances", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scaler"] == "policy /shop/api"
    # 3 instances of 1 req/s always: the 5 req/s minute loses 2 req/s x 60 s of 480 requests
    assert data["instance_hours"] == pytest.approx(3 * 240 / 3600)
    assert data["unserved_pct"] == pytest.approx(100 * 120 / 480)


def test_target_on_a_baseline_without_one_is_an_error(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--trace", str(trace), "--baseline", "oracle", "--target", "0.5"]) == 2
    assert "takes no target" in capsys.readouterr().err
