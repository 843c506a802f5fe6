"""Every command-line flag that takes a duration reads the policy's syntax, and bare seconds."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from autoscaler.cli import build_parser, main

TRACE = "timestamp,value\n" + "".join(f"2024-01-01T00:{m:02d}:00Z,{v}\n" for m, v in enumerate([60, 60, 300, 60]))

# (argv before the flag, flag): every duration flag of every subcommand
FLAGS = [
    (["simulate", "--trace", "t.csv"], "--startup"),
    (["simulate", "--trace", "t.csv"], "--tick"),
    (["simulate", "--trace", "t.csv"], "--warmup"),
    (["demo"], "--duration"),
    (["demo"], "--interval"),
    (["explain", "/shop/api"], "--startup"),
    (["backtest", "--policy", "p", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"], "--step"),
    (["backtest", "--policy", "p", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"], "--warmup"),
    (["backtest", "--policy", "p", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"], "--startup"),
]
IDS = [f"{argv[0]} {flag}" for argv, flag in FLAGS]


def parsed(argv: list[str], flag: str, value: str) -> timedelta:
    args = build_parser().parse_args([*argv, flag, value])
    result = getattr(args, flag.removeprefix("--"))
    assert isinstance(result, timedelta)
    return result


@pytest.mark.parametrize(("argv", "flag"), FLAGS, ids=IDS)
@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1h30m", 5400)]
)
def test_every_duration_flag_takes_units(argv: list[str], flag: str, value: str, seconds: int) -> None:
    assert parsed(argv, flag, value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("argv", "flag"), FLAGS, ids=IDS)
def test_a_bare_number_is_seconds_and_the_help_says_so(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parsed(argv, flag, "30") == timedelta(seconds=30)
    with pytest.raises(SystemExit):
        build_parser().parse_args([argv[0], "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "a bare number is seconds" in help_text


@pytest.mark.parametrize(("argv", "flag"), FLAGS, ids=IDS)
def test_a_wrong_duration_is_refused_with_the_forms(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*argv, flag, "soon"])
    assert info.value.code == 2
    error = capsys.readouterr().err
    assert flag in error and "90s" in error and "1h30m" in error


@pytest.mark.parametrize(("argv", "flag"), [(["simulate", "--trace", "t.csv"], "--tick"), (["demo"], "--interval")])
def test_an_interval_must_be_above_zero(argv: list[str], flag: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, flag, "0s"])


def test_simulate_runs_with_unit_durations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text(TRACE)
    base = ["simulate", "--trace", str(trace), "--baseline", "static", "--peak-instances", "5", "--json"]
    assert main([*base, "--startup", "90s", "--tick", "15s", "--warmup", "1m"]) == 0
    with_units = json.loads(capsys.readouterr().out)
    assert main([*base, "--startup", "90", "--tick", "15", "--warmup", "60"]) == 0
    in_seconds = json.loads(capsys.readouterr().out)
    assert with_units == in_seconds
    assert with_units["instance_hours"] == pytest.approx(5 * 180 / 3600)  # 3 of the 4 minutes are counted
