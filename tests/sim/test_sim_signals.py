"""`autoscaler simulate` warns about what its headline numbers hide: a policy that cannot reach the
trace's peak, and an action rate (Marathon deployments per day) above the documented threshold."""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.sim.cli import add_simulate_parser
from autoscaler.sim.signals import HIGH_ACTIONS_PER_DAY


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="autoscaler")
    add_simulate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    code: int = args.handler(args)
    return code


def write_trace(path: Path, values: list[float]) -> Path:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = "".join(f"{(start + timedelta(minutes=i)).isoformat()},{v}\n" for i, v in enumerate(values))
    path.write_text("timestamp,value\n" + rows)
    return path


def write_policy(path: Path, *, max_instances: int, target: float = 0.5, extra: str = "") -> Path:
    path.write_text(
        f"app: /shop/api\nmin_instances: 1\nmax_instances: {max_instances}\nmetrics:\n"
        f"  - {{name: cpu, source: prometheus, query: q, target_average: {target}}}\n{extra}"
    )
    return path


@pytest.fixture
def peak_trace(tmp_path: Path) -> Path:
    # one busy hour in a quiet day
    return write_trace(tmp_path / "trace.csv", [60.0] * 600 + [600.0] * 60 + [60.0] * 600)


def simulate_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert run([*argv, "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_a_max_below_the_peak_is_a_warning(
    peak_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(tmp_path / "p.yaml", max_instances=6)
    data = simulate_json(capsys, "--trace", str(peak_trace), "--policy", str(policy), "--peak-instances", "10")
    warnings = data["warnings"]
    assert isinstance(warnings, list)
    peak = [w for w in warnings if "cannot reach the trace's peak" in w]
    assert len(peak) == 1 and "max_instances 6" in peak[0] and "10 instances" in peak[0], warnings

    assert run(["--trace", str(peak_trace), "--policy", str(policy), "--peak-instances", "10"]) == 0
    report = capsys.readouterr().out
    assert "warning: the policy cannot reach the trace's peak" in report


def test_a_max_that_serves_the_peak_only_above_the_target_is_a_warning(
    peak_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(tmp_path / "p.yaml", max_instances=15, target=0.5)
    data = simulate_json(capsys, "--trace", str(peak_trace), "--policy", str(policy), "--peak-instances", "10")
    needed = math.ceil(10 / 0.5)
    warnings = data["warnings"]
    assert isinstance(warnings, list)
    assert any("cannot hold its target" in w and f"{needed} instances" in w for w in warnings), warnings


def test_a_max_with_room_for_the_peak_is_not_warned_about(
    peak_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(tmp_path / "p.yaml", max_instances=40, target=0.5)
    data = simulate_json(capsys, "--trace", str(peak_trace), "--policy", str(policy), "--peak-instances", "10")
    warnings = data["warnings"]
    assert isinstance(warnings, list)
    assert not any("peak" in w for w in warnings), warnings


def test_a_high_action_rate_is_a_warning_and_a_calm_one_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # load that jumps every other minute for a day, and a policy that follows it at once
    jumpy = write_trace(tmp_path / "jumpy.csv", [600.0 if i % 2 else 60.0 for i in range(1440)])
    eager = write_policy(
        tmp_path / "eager.yaml",
        max_instances=40,
        extra="scale_up: {cooldown: 0s}\nscale_down: {cooldown: 0s, stabilization: 0s}\n",
    )
    data = simulate_json(capsys, "--trace", str(jumpy), "--policy", str(eager), "--peak-instances", "10")
    rate = data["scale_actions_per_day"]
    assert isinstance(rate, float) and isinstance(data["scale_actions"], int)
    assert rate == pytest.approx(data["scale_actions"] / 1.0, rel=0.01)  # the trace is one day long
    assert rate > HIGH_ACTIONS_PER_DAY
    warnings = data["warnings"]
    assert isinstance(warnings, list)
    assert any(w.startswith("high action rate") and f"{rate:,.0f}" in w for w in warnings), warnings

    calm = write_trace(tmp_path / "calm.csv", [300.0] * 1440)
    data = simulate_json(capsys, "--trace", str(calm), "--policy", str(eager), "--peak-instances", "10")
    assert data["scale_actions_per_day"] <= HIGH_ACTIONS_PER_DAY  # type: ignore[operator]
    assert data["warnings"] == []
