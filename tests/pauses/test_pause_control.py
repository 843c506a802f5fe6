"""Pause and resume through PauseControl: logged, queued for notification, swept at expiry (a fake
clock, no sleeps), and a store outage never lifts a pause."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from autoscaler.core.pause import DEFAULT_PAUSE, Pause
from autoscaler.pauses import MemoryStore, PauseStoreError
from autoscaler.pauses.control import PauseControl
from autoscaler.pauses.store import Change
from autoscaler.testing.clock import FakeClock


class FlakyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def load(self) -> dict[str, Pause]:
        if self.down:
            raise PauseStoreError("the store is down")
        return super().load()

    def update(self, change: Change) -> dict[str, Pause]:
        if self.down:
            raise PauseStoreError("the store is down")
        return super().update(change)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def control(clock: FakeClock) -> PauseControl:
    return PauseControl(store=FlakyStore(), clock=clock, logger=logging.getLogger("test.pauses"))


def test_pause_is_logged_queued_and_in_force(
    control: PauseControl, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="test.pauses")
    pause = control.pause("/shop/*", duration=timedelta(hours=2), reason="sale", by="alice")
    assert pause.until == clock.now + timedelta(hours=2)
    assert control.index(clock.now).find("/shop/api") == pause
    [event] = control.drain_events()
    assert (event.kind, event.pause) == ("paused", pause)
    [record] = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "pause"]
    assert record.fields["scope"] == "/shop/*" and record.fields["by"] == "alice"  # type: ignore[attr-defined]
    assert "sale" in record.getMessage() and "/shop/*" in record.getMessage()
    assert control.drain_events() == []


def test_a_pause_ends_by_itself_and_is_announced_once(control: PauseControl, clock: FakeClock) -> None:
    control.pause("/a", duration=None, reason="", by="bob")
    control.drain_events()
    clock.advance(DEFAULT_PAUSE.total_seconds() - 1)
    assert control.refresh() != {}
    assert control.index(clock.now).find("/a") is not None
    assert control.drain_events() == []
    clock.advance(1)
    assert control.index(clock.now).find("/a") is None  # ended, even before the sweep
    assert control.refresh() == {}
    [event] = control.drain_events()
    assert event.kind == "expired" and event.pause.scope == "/a"
    assert "resumed by itself" in event.text()
    control.refresh()
    assert control.drain_events() == []


def test_resume_lifts_exactly_its_scope(control: PauseControl, clock: FakeClock) -> None:
    control.pause("*", duration=timedelta(hours=1), reason="freeze", by="ops")
    control.pause("/a", duration=timedelta(hours=3), reason="", by="ops")
    control.drain_events()
    assert control.resume("/b", by="ops") is None
    assert control.drain_events() == []
    lifted = control.resume("/a", by="carol")
    assert lifted is not None and lifted.scope == "/a"
    [event] = control.drain_events()
    assert event.kind == "resumed" and event.by == "carol"
    still = control.index(clock.now).find("/a")
    assert still is not None and still.scope == "*"  # lifting a narrower pause leaves the wider one


def test_pausing_again_replaces_the_pause_of_that_scope(control: PauseControl, clock: FakeClock) -> None:
    control.pause("/a", duration=timedelta(hours=1), reason="one", by="x")
    second = control.pause("/a", duration=timedelta(minutes=10), reason="two", by="y")
    assert control.pauses() == {"/a": second}


def test_bad_input_is_refused_and_stores_nothing(control: PauseControl) -> None:
    with pytest.raises(ValueError, match="absolute"):
        control.pause("shop", duration=None, reason="", by="x")
    with pytest.raises(ValueError, match="at most 7d"):
        control.pause("/a", duration=timedelta(days=8), reason="", by="x")
    with pytest.raises(ValueError, match="absolute"):
        control.resume("a", by="x")
    assert control.pauses() == {} and control.drain_events() == []


def test_a_store_outage_keeps_the_pauses_last_read(
    control: PauseControl, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="test.pauses")
    pause = control.pause("/a", duration=timedelta(hours=1), reason="", by="x")
    control.drain_events()
    store = control.store
    assert isinstance(store, FlakyStore)
    store.down = True
    assert control.refresh() == {"/a": pause}
    assert control.refresh() == {"/a": pause}
    assert control.error == "the store is down"
    assert control.index(clock.now).find("/a") == pause
    with pytest.raises(PauseStoreError):
        control.resume("/a", by="x")
    warnings = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "pause_store_error"]
    assert len(warnings) == 1  # once per outage
    # the pause still ends on time while the store is down; its end is announced once the store answers
    clock.advance(3600)
    assert control.index(clock.now).find("/a") is None
    assert control.drain_events() == []
    store.down = False
    assert control.refresh() == {}
    assert control.error is None
    assert [e.kind for e in control.drain_events()] == ["expired"]


def test_every_app_is_held_until_the_store_has_been_read_once(control: PauseControl, clock: FakeClock) -> None:
    store = control.store
    assert isinstance(store, FlakyStore)
    store.down = True
    control.refresh()
    waiting = control.index(clock.now).find("/any/app")
    assert waiting is not None and waiting.by == "autoscaler" and "has not been read yet" in waiting.reason
    store.down = False
    control.refresh()
    assert control.index(clock.now).find("/any/app") is None
