"""The pause value: scopes, defaults and limits, and which pause is in force for an app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoscaler.core.pause import (
    DEFAULT_PAUSE,
    MAX_PAUSE,
    Pause,
    PauseIndex,
    make_pause,
    scope_problem,
)

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("scope", ["*", "/shop/api", "/shop/*", "/a/b.c/d-e/*", "/x", "/shop/tasks/*"])
def test_valid_scopes(scope: str) -> None:
    assert scope_problem(scope) is None


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("shop/api", "absolute"),
        ("/*", "write '*'"),
        ("/shop/*/api", "'*' may only end"),
        ("/shop/tasks", "reserved"),
        ("/Shop", "lowercase"),
        ("/shop//api", "empty segments"),
        ("/shop/api/", "empty segments"),
        ("/" + "a" * 600, "500 characters"),
        ("/shop/-x", "segment '-x'"),
    ],
)
def test_bad_scopes_say_why(scope: str, words: str) -> None:
    problem = scope_problem(scope)
    assert problem is not None and words in problem


def test_a_pause_without_a_duration_ends_after_the_default() -> None:
    pause = make_pause(scope="/shop/api", now=T0, reason="migration", by="alice")
    assert pause.since == T0 and pause.until == T0 + DEFAULT_PAUSE
    assert pause.active(T0) and pause.active(T0 + DEFAULT_PAUSE - timedelta(seconds=1))
    assert not pause.active(T0 + DEFAULT_PAUSE)


def test_limits_on_duration_and_text() -> None:
    assert make_pause(scope="*", now=T0, duration=MAX_PAUSE).until == T0 + MAX_PAUSE
    with pytest.raises(ValueError, match="at most 7d"):
        make_pause(scope="*", now=T0, duration=MAX_PAUSE + timedelta(seconds=1))
    with pytest.raises(ValueError, match="more than 0s"):
        make_pause(scope="*", now=T0, duration=timedelta(0))
    with pytest.raises(ValueError, match="at most 200 characters"):
        make_pause(scope="*", now=T0, reason="x" * 201)
    with pytest.raises(ValueError, match="one line"):
        make_pause(scope="*", now=T0, reason="two\nlines")
    with pytest.raises(ValueError, match="timezone"):
        make_pause(scope="*", now=T0.replace(tzinfo=None))


def test_groups_cover_apps_below_them_at_any_depth_only() -> None:
    group = make_pause(scope="/shop/*", now=T0)
    assert group.covers("/shop/api") and group.covers("/shop/eu/api")
    assert not group.covers("/shopping/api") and not group.covers("/shop")


def _pause(scope: str, *, hours: float) -> Pause:
    return make_pause(scope=scope, now=T0, duration=timedelta(hours=hours), by=scope)


def test_the_pause_that_ends_last_is_in_force() -> None:
    pauses = [_pause("/shop/api", hours=1), _pause("/shop/*", hours=3), _pause("*", hours=2)]
    index = PauseIndex(pauses, now=T0 + timedelta(minutes=1))
    assert index.find("/shop/api") == pauses[1]
    assert index.find("/shop/eu/web") == pauses[1]
    assert index.find("/billing") == pauses[2]
    later = PauseIndex(pauses, now=T0 + timedelta(hours=2, minutes=30))
    assert later.find("/billing") is None
    assert later.find("/shop/api") == pauses[1]


def test_expired_pauses_are_not_indexed() -> None:
    index = PauseIndex([_pause("/a", hours=1)], now=T0 + timedelta(hours=1))
    assert not index
    assert index.find("/a") is None


def test_a_label_pause_lasts_until_its_time_and_joins_the_others() -> None:
    index = PauseIndex([_pause("/a", hours=1)], now=T0)
    label = index.find("/a", label_until=T0 + timedelta(hours=5), label_reason="db move")
    assert label is not None and label.source == "label" and label.reason == "db move"
    assert label.until == T0 + timedelta(hours=5)
    assert "autoscaler.paused-until" in label.describe()
    assert index.find("/b", label_until=T0 - timedelta(seconds=1)) is None
    shorter = index.find("/a", label_until=T0 + timedelta(minutes=5))
    assert shorter is not None and shorter.source == "operator"


def test_describe_says_who_why_and_until() -> None:
    text = make_pause(scope="/shop/*", now=T0, reason="incident 42", by="bob").describe()
    assert text == f"paused by bob (/shop/*) until {(T0 + DEFAULT_PAUSE).isoformat()}: incident 42"
