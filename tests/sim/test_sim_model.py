"""The fleet model's accounting on tiny traces whose answers are worked out by hand in the comments."""

from __future__ import annotations

import pytest

from autoscaler.sim.model import FleetModel

from .helpers import minutes


def test_constant_demand_fully_served() -> None:
    # 2 req/s for 3 minutes, 2 instances of 1 req/s: exactly enough, never overloaded.
    model = FleetModel(minutes(120, 120, 120), capacity=1.0, initial=2)
    model.advance(180_000)
    totals = model.accounting()
    assert totals.instance_hours == pytest.approx(2 * 180 / 3600)  # 2 instances x 180 s = 0.1 h
    assert totals.total_requests == pytest.approx(360)
    assert totals.unserved_requests == 0
    assert totals.overload_seconds == 0
    assert totals.scale_actions == 0


def test_step_up_waits_for_startup() -> None:
    # 2 req/s for a minute, then 4 req/s; 2 instances of 1 req/s; at t=60 ask for 4, ready at t=90.
    model = FleetModel(minutes(120, 240), capacity=1.0, initial=2, startup=30)
    model.advance(60_000)
    model.scale_to(4)
    assert (model.ready, model.requested) == (2, 4)
    model.advance(120_000)
    totals = model.accounting()
    # unserved: from 60 to 90 s demand 4 vs ready capacity 2: 2 req/s x 30 s = 60 of 120 + 240 = 360
    assert totals.unserved_requests == pytest.approx(60)
    assert totals.unserved_pct == pytest.approx(100 * 60 / 360)
    assert totals.overload_minutes == pytest.approx(0.5)
    # instance-hours count requested ones, starting included: 2 x 60 s + 4 x 60 s = 360 s = 0.1 h
    assert totals.instance_hours == pytest.approx(0.1)
    assert totals.scale_actions == 1
    assert model.ready == 4


def test_spike_shorter_than_startup_is_lost_and_pending_instances_are_cancelled_first() -> None:
    # 1 req/s, a one-minute spike of 10 req/s (60..120 s), then 1 req/s again; 1 instance of 1 req/s.
    # The scaler asks for 10 at the spike's start, but startup is 90 s: they would be ready at 150 s.
    model = FleetModel(minutes(60, 600, 60), capacity=1.0, initial=1, startup=90)
    model.advance(60_000)
    model.scale_to(10)
    model.advance(120_000)
    model.scale_to(1)  # the spike is over: the 9 pending ones are cancelled, the ready one stays
    assert (model.ready, model.requested, list(model.pending)) == (1, 1, [])
    model.advance(180_000)
    totals = model.accounting()
    # unserved: (10 - 1) req/s x 60 s = 540 of 60 + 600 + 60 = 720 requests = 75 %
    assert totals.unserved_requests == pytest.approx(540)
    assert totals.unserved_pct == pytest.approx(75.0)
    assert totals.overload_minutes == pytest.approx(1.0)
    # paid for: 1 x 180 s + 9 starting x 60 s = 720 instance-seconds = 0.2 h, though none of the 9 served
    assert totals.instance_hours == pytest.approx(0.2)
    assert totals.scale_actions == 2


def test_scale_down_cancels_the_newest_pending_first_then_ready_ones() -> None:
    model = FleetModel(minutes(60, 60), capacity=1.0, initial=2, startup=60)
    model.scale_to(4)  # +2 ready at 60 s
    model.advance(15_000)
    model.scale_to(7)  # +3 ready at 75 s
    model.scale_to(5)  # cancels 2 of the newest 3
    assert [list(p) for p in model.pending] == [[60_000, 2], [75_000, 1]]
    model.scale_to(1)  # cancels the 3 pending, then 1 ready
    assert (model.ready, model.requested, list(model.pending)) == (1, 1, [])


def test_cpu_is_ready_utilisation_capped_and_averaged_over_60_s() -> None:
    # 2 ready of 1 req/s; 1 req/s for a minute (util 0.5), then 4 req/s (util 2.0, shown as 1.0).
    model = FleetModel(minutes(60, 240), capacity=1.0, initial=2)
    assert model.cpu() == pytest.approx(0.5)  # before the trace: the first interval's load
    model.advance(60_000)
    assert model.cpu() == pytest.approx(0.5)
    model.advance(75_000)
    # window 15..75 s: 45 s at 0.5 and 15 s at 1.0 (capped) -> (22.5 + 15) / 60
    assert model.cpu() == pytest.approx(0.625)
    model.advance(120_000)
    assert model.cpu() == pytest.approx(1.0)


def test_queue_view_backlog_grows_and_drains() -> None:
    # 2 ready of 1 req/s. 4 req/s for a minute: backlog grows 2/s to 120; then 1 req/s: drains 1/s,
    # empty after 120 s (at 240 s).
    model = FleetModel(minutes(240, 60, 60, 60), capacity=1.0, initial=2)
    model.advance(60_000)
    assert model.backlog == pytest.approx(120)
    model.advance(120_000)
    assert model.backlog == pytest.approx(60)
    model.advance(240_000)
    totals = model.accounting()
    assert model.backlog == 0
    assert totals.peak_backlog == pytest.approx(120)
    # waiting: triangle 60 s x 120 / 2 = 3600 plus triangle 120 s x 120 / 2 = 7200, over 240 + 180 requests
    assert totals.backlog_request_seconds == pytest.approx(10_800)
    assert totals.mean_wait_seconds == pytest.approx(10_800 / 420)


def test_warmup_is_run_but_not_counted() -> None:
    # the first minute (4 req/s on 2 instances: 120 unserved) is warm-up; only the second counts
    model = FleetModel(minutes(240, 120), capacity=1.0, initial=2, warmup=60)
    model.advance(120_000)
    totals = model.accounting()
    assert totals.unserved_requests == 0
    assert totals.total_requests == pytest.approx(120)
    assert totals.instance_hours == pytest.approx(2 * 60 / 3600)
    # the whole trace, warm-up included, is kept beside: 120 of 360 requests unserved
    whole = model.whole_accounting()
    assert (whole.unserved_requests, whole.total_requests) == (pytest.approx(120), pytest.approx(360))
    assert whole.instance_hours == pytest.approx(2 * 120 / 3600)


def test_follow_demand_is_the_ceiling_of_demand_over_capacity_at_every_instant() -> None:
    # capacity 2 req/s; rates 3, 8, 0.5 req/s need 2, 4 and 1 instances for 60 s each
    model = FleetModel(minutes(180, 480, 30), capacity=2.0, initial=2, follow_demand=True)
    model.advance(180_000)
    totals = model.accounting()
    assert totals.instance_hours == pytest.approx((2 + 4 + 1) * 60 / 3600)
    assert totals.unserved_requests == 0
    assert totals.scale_actions == 2  # 2 -> 4 -> 1


def test_recently_ready_instances_are_remembered_for_one_window_and_go_first() -> None:
    model = FleetModel(minutes(120, 240, 240, 240), capacity=1.0, initial=2, startup=30, metric_window=60)
    model.advance(10_000)
    model.scale_to(5)  # 3 more, ready at 40 s
    model.advance(50_000)
    assert model.recently_ready() == ((40_000, 3),)
    model.scale_to(4)  # one of the newest goes first
    assert model.recently_ready() == ((40_000, 2),)
    model.advance(100_000)  # 60 s after they became ready: no longer recent
    assert model.recently_ready() == ()
    assert (model.ready, model.requested) == (4, 4)
