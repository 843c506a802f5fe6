"""A month-long simulation plot stays readable: a line at every midnight, and scale actions counted
per day once markers would fill most pixel columns."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from autoscaler.sim.plot import render_svg
from autoscaler.sim.runner import SimResult, TickRecord

T0 = datetime(2024, 8, 1, tzinfo=UTC)


def month(*, action_every: int) -> SimResult:
    """30 days of one-minute ticks with a daily wave of demand and an action every `action_every` ticks."""
    records = []
    for index in range(30 * 1440):
        demand = 100 + 80 * math.sin(index / 1440 * 2 * math.pi)
        ready = math.ceil(demand / 10)
        action = "none" if index % action_every else ("up" if (index // action_every) % 2 else "down")
        records.append(
            TickRecord(
                time=T0 + timedelta(minutes=index),
                demand_rps=demand,
                ready_capacity_rps=ready * 10.0,
                ready=ready,
                requested=ready,
                desired=ready + (1 if action == "up" else -1 if action == "down" else 0),
                action=action,
                code="scaled" if action != "none" else "within_tolerance",
                reason="",
                cpu=0.6,
                backlog=0.0,
            )
        )
    base = SimResult(
        scaler="policy /a",
        target=0.6,
        startup=60.0,
        peak_instances=18,
        tick=60.0,
        capacity_rps=10.0,
        start=T0,
        end=T0 + timedelta(days=30),
        warmup=0.0,
        instance_hours=0.0,
        unserved_pct=0.0,
        overload_minutes=0.0,
        scale_actions=0,
        total_requests=0.0,
        unserved_requests=0.0,
        peak_backlog=0.0,
        mean_wait_seconds=0.0,
        ticks=len(records),
        filled_intervals=0,
    )
    return replace(base, timeline=tuple(records), scale_actions=sum(r.action != "none" for r in records))


def test_a_dense_month_counts_its_actions_per_day() -> None:
    result = month(action_every=15)  # 96 actions a day: a marker in every pixel column
    svg = render_svg(result)

    per_day = Counter((r.time.date().isoformat(), r.action) for r in result.timeline if r.action != "none")
    shown = re.findall(r"<title>(\d{4}-\d\d-\d\d): (\d+) up, (\d+) down</title>", svg)
    assert len(shown) == 30
    for day, ups, downs in shown:
        assert (int(ups), int(downs)) == (per_day[(day, "up")], per_day[(day, "down")])
    assert svg.count("<path") <= 2 + 10  # no per-column markers (the legend has its two)
    assert len(svg) < 300_000


def test_a_month_has_a_line_at_every_midnight_and_dated_labels() -> None:
    svg = render_svg(month(action_every=2000))
    midnights = set(re.findall(r'<line class="day" x1="([\d.]+)"', svg))
    assert len(midnights) == 29  # the midnights between the first and the last tick
    labels = re.findall(r'text-anchor="middle">(\d\d-\d\d)</text>', svg)
    assert len(labels) >= 4


def test_sparse_actions_keep_their_markers() -> None:
    svg = render_svg(month(action_every=2000))
    assert "day-actions" not in svg
    assert svg.count("<path") > 2 + 10
