"""What `autoscaler backtest` shows: its summary first and the actions only on request, and the
schedule windows marked in its plot."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from autoscaler import cli
from autoscaler.backtest import Fleet, Period, render_svg, replay
from autoscaler.cli.backtest import print_backtest
from autoscaler.core.policy import Policy

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
METRIC = {"name": "cpu", "source": "prometheus", "query": "q", "target_average": 0.5}


def policy(**extra: object) -> Policy:
    return Policy.model_validate(
        {"app": "/shop/api", "min_instances": 1, "max_instances": 8, "metrics": [METRIC], **extra}
    )


def saw(minutes: int) -> list[tuple[datetime, float | None]]:
    """Load that doubles and halves every ten minutes: several scale actions."""
    return [(T0 + i * MINUTE, 0.9 if (i // 10) % 2 else 0.2) for i in range(minutes)]


def test_the_summary_comes_first_and_the_actions_only_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    rules = policy(scale_down={"stabilization": "0s", "cooldown": "0s"}, scale_up={"cooldown": "0s"})
    result = replay(
        rules,
        {"cpu": saw(60)},
        period=Period(start=T0, end=T0 + 60 * MINUTE, step=MINUTE),
        fleet=Fleet(initial_instances=2),
    )
    assert result.actions >= 3

    print_backtest(result, rules, actions=False)
    quiet = capsys.readouterr().out.splitlines()
    assert quiet[0].startswith(f"/shop/api: {result.actions} scale actions")
    assert not any(line.startswith(T0.strftime("%Y-%m-%d")) for line in quiet)
    assert "--actions" in quiet[-1]

    print_backtest(result, rules, actions=True)
    loud = capsys.readouterr().out.splitlines()
    assert loud[0] == quiet[0]
    listed = [line for line in loud if line.startswith(T0.strftime("%Y-%m-%d"))]
    assert len(listed) == result.actions
    assert loud.index(listed[0]) > 0


def test_the_actions_flag_is_a_backtest_option() -> None:
    argv = ["backtest", "--policy", "p.yaml", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"]
    assert cli.build_parser().parse_args(argv).actions is False
    assert cli.build_parser().parse_args([*argv, "--actions"]).actions is True


def test_schedule_windows_are_marked_where_they_were_in_force() -> None:
    window_start, window_end = T0 + 20 * MINUTE, T0 + 40 * MINUTE
    rules = policy(
        schedules=[
            {
                "name": "flash-sale",
                "start": window_start.isoformat(),
                "end": window_end.isoformat(),
                "lead": "0s",
                "min_instances": 6,
            }
        ]
    )
    result = replay(
        rules,
        {"cpu": saw(60)},
        period=Period(start=T0, end=T0 + 60 * MINUTE, step=MINUTE),
        fleet=Fleet(initial_instances=2),
    )
    svg = render_svg(result, rules)

    marks = re.findall(r'<rect class="window" x="([\d.]+)" y="\d+" width="([\d.]+)"[^>]*><title>([^<]*)</title>', svg)
    assert [name for _, _, name in marks] == ["flash-sale"]
    left, width = float(marks[0][0]), float(marks[0][1])
    columns, plot_width = len(result.ticks), 1200 - 70 - 20
    first = next(i for i, tick in enumerate(result.ticks) if tick.at >= window_start)
    last = next(i for i, tick in enumerate(result.ticks) if tick.at >= window_end)
    assert left == pytest.approx(70 + first * plot_width / columns, abs=0.1)
    assert left + width == pytest.approx(70 + last * plot_width / columns, abs=0.2)

    assert 'class="window"' not in render_svg(result, policy())
